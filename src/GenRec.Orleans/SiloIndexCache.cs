using System.Diagnostics.Metrics;
using GenRec.SemanticIds;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenRec.Orleans;

/// <summary>
/// A silo's copy of its catalogue's semantic-ID index: checks the index grain for a newer version at most every
/// <see cref="GenRecOrleansOptions.RefreshInterval"/>, so every silo sees a new version without a restart. When the
/// catalogue has none yet, publishes <see cref="GenRecOrleansOptions.IndexPath"/>. When the index grain cannot be
/// reached, the silo keeps serving the version it has (logged and counted as <c>genrec.index.refresh_failures</c>) and
/// asks again after the refresh interval; only a silo that never had an index fails the request.
/// </summary>
internal sealed partial class SiloIndexCache(IGrainFactory grains, IOptions<GenRecOrleansOptions> options, TimeProvider time, ILogger<SiloIndexCache> logger) : IDisposable
{
    private static readonly Meter Meter = new("GenRec");
    private static readonly Counter<long> RefreshFailures = Meter.CreateCounter<long>("genrec.index.refresh_failures", description: "Checks for a newer semantic-ID index that failed while the silo kept serving the version it had.");
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
            IndexSnapshot? snapshot;
            try
            {
                snapshot = await grain.GetIfNewerAsync(_current?.Version ?? 0).ConfigureAwait(false);
                if (snapshot is null && _current is null && o.IndexPath is { } path)
                {
                    var seed = SemanticIdIndex.Load(path);
                    await grain.SeedAsync(new IndexSnapshot(seed.Version, seed.Fingerprint, seed.ToBytes())).ConfigureAwait(false);
                    snapshot = await grain.GetIfNewerAsync(0).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (_current is { } cached)
            {
                // The version this silo has stays valid: serve it, and ask again after the refresh interval.
                _checkedAt = time.GetUtcNow();
                RefreshFailures.Add(1, new KeyValuePair<string, object?>("catalogue", o.Catalogue));
                RefreshFailed(logger, o.Catalogue, cached.Version, o.RefreshInterval.TotalSeconds, e);
                return cached;
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

    [LoggerMessage(2, LogLevel.Warning, "GenRec: catalogue '{Catalogue}': the semantic-ID index grain could not be reached; this silo keeps serving index version {Version} and asks again in {Seconds:0.#} s.")]
    private static partial void RefreshFailed(ILogger logger, string catalogue, int version, double seconds, Exception error);

    [LoggerMessage(1, LogLevel.Information, "GenRec: catalogue '{Catalogue}' semantic-ID index version {Version} ({Items} items) loaded on this silo.")]
    private static partial void IndexLoaded(ILogger logger, string catalogue, int version, int items);
}
