using GenRec.SemanticIds;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenRec.Orleans;

/// <summary>
/// A silo's copy of its catalogue's semantic-ID index: checks the index grain for a newer version at most every
/// <see cref="GenRecOrleansOptions.RefreshInterval"/>, so every silo sees a new version without a restart. When the
/// catalogue has none yet, publishes <see cref="GenRecOrleansOptions.IndexPath"/>.
/// </summary>
internal sealed partial class SiloIndexCache(IGrainFactory grains, IOptions<GenRecOrleansOptions> options, TimeProvider time, ILogger<SiloIndexCache> logger) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private SemanticIdIndex? _current;
    private DateTimeOffset _checkedAt = DateTimeOffset.MinValue;

    public async ValueTask<SemanticIdIndex> GetAsync()
    {
        var o = options.Value;
        if (_current is { } fresh && time.GetUtcNow() - _checkedAt < o.RefreshInterval)
        {
            return fresh;
        }

        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_current is { } again && time.GetUtcNow() - _checkedAt < o.RefreshInterval)
            {
                return again;
            }

            var grain = grains.GetGrain<ISemanticIdIndexGrain>(o.Catalogue);
            var snapshot = await grain.GetIfNewerAsync(_current?.Version ?? 0).ConfigureAwait(false);
            if (snapshot is null && _current is null && o.IndexPath is { } path)
            {
                var seed = SemanticIdIndex.Load(path);
                await grain.SeedAsync(new IndexSnapshot(seed.Version, seed.Fingerprint, seed.ToBytes())).ConfigureAwait(false);
                snapshot = await grain.GetIfNewerAsync(0).ConfigureAwait(false);
            }

            if (snapshot is not null)
            {
                _current = SemanticIdIndex.FromBytes(snapshot.Bytes);
                IndexLoaded(logger, o.Catalogue, _current.Version, _current.Count);
            }

            _checkedAt = time.GetUtcNow();
            return _current ?? throw new InvalidOperationException(
                $"Catalogue '{o.Catalogue}' has no semantic-ID index: publish one through ISemanticIdIndexGrain or set GenRecOrleansOptions.IndexPath.");
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    [LoggerMessage(1, LogLevel.Information, "GenRec: catalogue '{Catalogue}' semantic-ID index version {Version} ({Items} items) loaded on this silo.")]
    private static partial void IndexLoaded(ILogger logger, string catalogue, int version, int items);
}
