using System.Diagnostics;
using System.Diagnostics.Metrics;
using GenRec.SemanticIds;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenRec.Orleans;

/// <summary>
/// A silo's copy of its catalogue's semantic-ID index. The first request loads the published version (publishing
/// <see cref="GenRecOrleansOptions.IndexPath"/> when the catalogue has none yet); from then on the silo asks the index
/// grain for a newer version every <see cref="GenRecOrleansOptions.RefreshInterval"/>, in the background, and loads it
/// from the chunk store — every chunk and the whole checked — while requests go on being served from the version it
/// has, which is replaced only once the new one is complete. An unreachable index grain or a version that cannot be
/// loaded is logged and counted (<c>genrec.index.refresh_failures</c>, <c>genrec.index.load_failures</c>), and the silo
/// keeps serving what it has; only a silo that never had an index fails the request.
/// </summary>
internal sealed partial class SiloIndexCache(IGrainFactory grains, IIndexChunkStore chunks, IOptions<GenRecOrleansOptions> options, TimeProvider time, ILogger<SiloIndexCache> logger) : IDisposable
{
    private static readonly Meter Meter = new("GenRec");
    private static readonly Counter<long> RefreshFailures = Meter.CreateCounter<long>("genrec.index.refresh_failures", description: "Checks for a newer semantic-ID index that failed while the silo kept serving the version it had.");
    private static readonly Counter<long> LoadFailures = Meter.CreateCounter<long>("genrec.index.load_failures", description: "Published semantic-ID index versions a silo could not load (a chunk missing or damaged); it kept serving the version it had.");
    private static readonly Counter<long> Loads = Meter.CreateCounter<long>("genrec.index.loads", description: "Semantic-ID index versions loaded by a silo, tagged with the catalogue and the version.");
    private static readonly Histogram<double> LoadDuration = Meter.CreateHistogram<double>("genrec.index.load.duration", "s", "Time to read, check and parse a published semantic-ID index version from its chunks.");
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private volatile SemanticIdIndex? _current;

    public async ValueTask<SemanticIdIndex> GetAsync()
    {
        if (_current is { } current)
        {
            return current;
        }

        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_current is { } again)
            {
                return again;
            }

            // Nothing to serve yet: this request waits for the first load.
            var o = options.Value;
            var grain = grains.GetGrain<ISemanticIdIndexGrain>(o.Catalogue);
            var manifest = await grain.GetManifestIfNewerAsync(0).ConfigureAwait(false);
            if (manifest is null && o.IndexPath is { } path)
            {
                var seed = SemanticIdIndex.Load(path);
                await grain.SeedAsync(new IndexSnapshot(seed.Version, seed.Fingerprint, seed.ToBytes())).ConfigureAwait(false);
                manifest = await grain.GetManifestIfNewerAsync(0).ConfigureAwait(false);
            }

            var loaded = await ReadAsync(manifest ?? throw new InvalidOperationException(
                $"Catalogue '{o.Catalogue}' has no semantic-ID index: publish one through ISemanticIdIndexGrain or set GenRecOrleansOptions.IndexPath.")).ConfigureAwait(false);
            _current = loaded;
            _ = Task.Run(() => PollAsync(_stop.Token));
            return loaded;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The index a manifest names: the one this silo serves when it is that version, else read from the chunk store and checked.</summary>
    public async Task<SemanticIdIndex> ReadAsync(IndexManifest manifest)
    {
        if (_current is { } held && held.Fingerprint == manifest.Fingerprint)
        {
            return held;
        }

        var clock = Stopwatch.StartNew();
        var index = await SemanticIdIndexChunks.ReadAsync(manifest, chunks.GetAsync, parallelism: 4).ConfigureAwait(false);
        var catalogue = new KeyValuePair<string, object?>("catalogue", options.Value.Catalogue);
        LoadDuration.Record(clock.Elapsed.TotalSeconds, catalogue);
        Loads.Add(1, catalogue, new KeyValuePair<string, object?>("version", index.Version));
        IndexLoaded(logger, options.Value.Catalogue, index.Version, index.Count, manifest.Chunks.Count, clock.Elapsed.TotalSeconds);
        return index;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
        _gate.Dispose();
    }

    /// <summary>Asks for a newer version every refresh interval and loads it beside the one served; after a failed load, waits longer each time (up to a minute).</summary>
    private async Task PollAsync(CancellationToken stop)
    {
        var failures = 0;
        while (true)
        {
            var o = options.Value;
            var wait = failures == 0 ? o.RefreshInterval : TimeSpan.FromTicks(Math.Min(TimeSpan.FromMinutes(1).Ticks, o.RefreshInterval.Ticks << Math.Min(failures, 16)));
            try
            {
                await Task.Delay(wait, time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var held = _current!;
            IndexManifest? manifest;
            try
            {
                manifest = await grains.GetGrain<ISemanticIdIndexGrain>(o.Catalogue).GetManifestIfNewerAsync(held.Version).ConfigureAwait(false);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                // The version this silo has stays valid: serve it, and ask again after the refresh interval.
                RefreshFailures.Add(1, new KeyValuePair<string, object?>("catalogue", o.Catalogue));
                RefreshFailed(logger, o.Catalogue, held.Version, o.RefreshInterval.TotalSeconds, e);
                continue;
            }

            if (manifest is null)
            {
                failures = 0;
                continue;
            }

            try
            {
                _current = await ReadAsync(manifest).ConfigureAwait(false);
                failures = 0;
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                failures++;
                LoadFailures.Add(1, new KeyValuePair<string, object?>("catalogue", o.Catalogue));
                LoadFailed(logger, o.Catalogue, manifest.Version, held.Version, e);
            }
        }
    }

    [LoggerMessage(1, LogLevel.Information, "GenRec: catalogue '{Catalogue}' semantic-ID index version {Version} ({Items} items, {Chunks} chunks) loaded on this silo in {Seconds:0.00} s.")]
    private static partial void IndexLoaded(ILogger logger, string catalogue, int version, int items, int chunks, double seconds);

    [LoggerMessage(2, LogLevel.Warning, "GenRec: catalogue '{Catalogue}': the semantic-ID index grain could not be reached; this silo keeps serving index version {Version} and asks again in {Seconds:0.#} s.")]
    private static partial void RefreshFailed(ILogger logger, string catalogue, int version, double seconds, Exception error);

    [LoggerMessage(3, LogLevel.Error, "GenRec: catalogue '{Catalogue}': index version {Failed} could not be loaded; this silo keeps serving index version {Version} and tries again later.")]
    private static partial void LoadFailed(ILogger logger, string catalogue, int failed, int version, Exception error);
}
