using GenRec.Inference;
using GenRec.SemanticIds;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenRec.Orleans;

/// <summary>
/// A silo's dense retriever (<see cref="GenRecOrleansOptions.DenseModelPath"/>), loaded on first use and shared by every
/// session on the silo. At most every <see cref="GenRecOrleansOptions.RefreshInterval"/> it asks the catalogue grain for
/// content registered since, and adds those items (their vectors from the item tower, by content alone) to its
/// catalogue: every silo can recommend a new item within a refresh interval of its registration.
/// </summary>
internal sealed partial class SiloDenseHost(IGrainFactory grains, IOptions<GenRecOrleansOptions> options, TimeProvider time, ILogger<SiloDenseHost> logger) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private OnnxDenseRetriever? _retriever;
    private int _version;
    private int _applied;
    private DateTimeOffset _checkedAt = DateTimeOffset.MinValue;

    /// <summary>The retriever, with every item registered up to the last refresh.</summary>
    /// <exception cref="InvalidOperationException">The silo has no dense model.</exception>
    public async ValueTask<OnnxDenseRetriever> GetAsync()
    {
        var o = options.Value;
        if (_retriever is { } fresh && time.GetUtcNow() - _checkedAt < o.RefreshInterval)
        {
            return fresh;
        }

        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_retriever is { } again && time.GetUtcNow() - _checkedAt < o.RefreshInterval)
            {
                return again;
            }

            var path = o.DenseModelPath ?? throw new InvalidOperationException(
                "This silo has no dense retriever: set GenRecOrleansOptions.DenseModelPath (a folder from `genrec export --kind dense`) for dense and hybrid retrieval.");
            if (_retriever is null)
            {
                _retriever = OnnxDenseRetriever.Load(path, o.OnnxRuntime, logger);
                DenseLoaded(logger, path, _retriever.Catalogue.Vectors.Count, _retriever.ExecutionProvider);
            }

            RegisteredContent? content;
            try
            {
                content = await grains.GetGrain<ICatalogueGrain>(o.Catalogue).GetContentIfNewerAsync(_version).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The catalogue is unreachable: serve what this silo holds and ask again after the next interval.
                RefreshFailed(logger, e, o.Catalogue, _applied);
                _checkedAt = time.GetUtcNow();
                return _retriever;
            }

            if (content is not null)
            {
                Apply(_retriever, content);
                _version = content.Version;
            }

            _checkedAt = time.GetUtcNow();
            return _retriever;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _retriever?.Dispose();
        _gate.Dispose();
    }

    /// <summary>Adds the items registered since the last refresh (the list only grows, in registration order).</summary>
    private void Apply(OnnxDenseRetriever retriever, RegisteredContent content)
    {
        var added = content.Items.Length - _applied;
        if (added <= 0)
        {
            return;
        }

        var items = content.Items[_applied..].Select(i => new ItemId(i)).ToArray();
        var values = content.Values.AsSpan(_applied * content.Width, added * content.Width);
        retriever.AddItems(new ItemEmbeddings(items, values, content.Width));
        _applied = content.Items.Length;
        ItemsAdded(logger, added, options.Value.Catalogue, content.Version, retriever.Catalogue.Vectors.Count);
    }

    [LoggerMessage(1, LogLevel.Information, "GenRec: dense retriever {Path} loaded on this silo ({Items} items, {Provider}).")]
    private static partial void DenseLoaded(ILogger logger, string path, int items, GenRec.Inference.ExecutionProviderPreference provider);

    [LoggerMessage(2, LogLevel.Information, "GenRec: {Added} registered items of catalogue '{Catalogue}' (content version {Version}) added to this silo's dense retriever; it holds {Items}.")]
    private static partial void ItemsAdded(ILogger logger, int added, string catalogue, int version, int items);

    [LoggerMessage(3, LogLevel.Warning, "GenRec: catalogue '{Catalogue}' did not answer; this silo's dense retriever keeps serving the {Applied} registered items it holds.")]
    private static partial void RefreshFailed(ILogger logger, Exception exception, string catalogue, int applied);
}
