using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using GenRec.SemanticIds;
using GenRec.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;
using Orleans.TestingHost;

namespace GenRec.Orleans.Tests;

/// <summary>
/// Index versions as content-addressed chunks on a real two-silo cluster: published chunk by chunk and picked up by
/// every silo; a damaged or missing chunk never replaces the version served; the index grain's state never holds the index.
/// </summary>
public sealed class IndexDistributionTests
{
    private const int ChunkBytes = 16 * 1024;

    [Fact]
    public async Task A_version_published_in_chunks_reaches_every_silo_and_no_state_holds_more_than_a_chunk()
    {
        using var loads = new LoadCounter("chunked");
        await using var cluster = await StartAsync("chunked");
        var grain = cluster.Client.GetGrain<ISemanticIdIndexGrain>("chunked");
        var users = await ServeOnEverySiloAsync(cluster, loads, version: 1);

        var v1 = (await grain.ReadAsync())!;
        var first = (await grain.GetManifestIfNewerAsync(0))!;
        var v2 = v1.AddItems(NewItems(63_000_001));
        var published = await grain.PublishAsync(v2, ChunkBytes);
        Assert.True(published.Chunks.Count > 4, $"the test index spans several chunks ({published.Chunks.Count})");
        await loads.WaitAsync(version: 2, silos: 2);

        foreach (var user in users)
        {
            var result = await cluster.Client.GetGrain<IUserSessionGrain>(user).AppendEventsAsync([new BehaviourEvent(63_000_001, ActionType.Click, DateTimeOffset.UtcNow.AddMinutes(-1))]);
            Assert.Equal((1, 0), (result.Stored, result.Pending)); // every silo's index has the item
        }

        Assert.Equal(v2.Fingerprint, (await grain.ReadAsync())!.Fingerprint);
        var state = await StoredStateAsync(cluster, "chunked");
        Assert.Empty(state.Bytes);
        Assert.True(new MessagePackGrainStorageSerializer().Serialize(state).ToArray().Length < ChunkBytes, "the index grain's state is a manifest, not the index");

        // A third version: the chunks only the first used are deleted; the second's stay (a silo may still be loading it).
        var v3 = v2.AddItems(NewItems(63_000_002));
        var third = await grain.PublishAsync(v3, ChunkBytes);
        var store = Services(cluster).GetRequiredService<IIndexChunkStore>();
        string[] firstOnly = [.. first.Chunks.Except(published.Chunks).Except(third.Chunks)];
        Assert.NotEmpty(firstOnly);
        Assert.All(await Task.WhenAll(firstOnly.Select(store.ContainsAsync)), Assert.False);
        Assert.All(await Task.WhenAll(published.Chunks.Select(store.ContainsAsync)), Assert.True);
        await loads.WaitAsync(version: 3, silos: 2);
    }

    [Fact]
    public async Task A_damaged_chunk_leaves_every_silo_serving_the_version_it_had_logged_and_counted_until_the_chunk_is_mended()
    {
        using var loads = new LoadCounter("damaged");
        var log = new LogRecorder();
        await using var cluster = await StartAsync("damaged", log);
        var grain = cluster.Client.GetGrain<ISemanticIdIndexGrain>("damaged");
        var users = await ServeOnEverySiloAsync(cluster, loads, version: 1);
        var v2 = (await grain.ReadAsync())!.AddItems(NewItems(63_000_003));
        var (manifest, chunks) = SemanticIdIndexChunks.Cut(v2, ChunkBytes);
        var store = Services(cluster).GetRequiredService<IIndexChunkStore>();
        var damaged = chunks.Count / 2;
        var bad = chunks[damaged].ToArray();
        bad[10] ^= 0xFF;
        await store.PutAsync(manifest.Chunks[damaged], bad); // stored under the right name, with the wrong bytes
        for (var i = 0; i < chunks.Count; i++)
        {
            await grain.UploadChunkAsync(chunks[i].ToArray());
        }

        await grain.PublishAsync(manifest);
        await loads.WaitForFailuresAsync(2);

        foreach (var user in users)
        {
            var result = await cluster.Client.GetGrain<IUserSessionGrain>(user).AppendEventsAsync([new BehaviourEvent(63_000_003, ActionType.Click, DateTimeOffset.UtcNow.AddMinutes(-1))]);
            Assert.Equal((0, 1), (result.Stored, result.Pending)); // still version 1: the event waits for its item
        }

        var error = log.Entries.First(e => e.Level == LogLevel.Error && e.Message.Contains("index version 2 could not be loaded", StringComparison.Ordinal));
        Assert.Contains("keeps serving index version 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("damaged", error.Exception!.Message, StringComparison.Ordinal);
        Assert.Equal(0, loads.Count(2));

        await store.DeleteAsync(manifest.Chunks[damaged]);
        await store.PutAsync(manifest.Chunks[damaged], chunks[damaged]);
        await loads.WaitAsync(version: 2, silos: 2);
        foreach (var user in users)
        {
            Assert.Contains(await cluster.Client.GetGrain<IUserSessionGrain>(user).GetHistoryAsync(), e => e.Item == 63_000_003); // folded in
        }
    }

    [Fact]
    public async Task A_manifest_is_refused_unless_every_chunk_is_stored_and_it_grows_from_the_current_version()
    {
        await using var cluster = await StartAsync("refused");
        var grain = cluster.Client.GetGrain<ISemanticIdIndexGrain>("refused");
        await cluster.Client.GetGrain<IUserSessionGrain>(1).AppendEventsAsync([]); // the silo seeds version 1
        var v1 = (await grain.ReadAsync())!;
        var v2 = v1.AddItems(NewItems(63_000_004));
        var (manifest, chunks) = SemanticIdIndexChunks.Cut(v2, ChunkBytes);
        await grain.UploadChunkAsync(chunks[0].ToArray());

        // Chunks the two versions share (same content, same name) are stored already; the others are missing.
        var stored = (await grain.GetManifestIfNewerAsync(0))!.Chunks.Append(manifest.Chunks[0]).ToHashSet();
        var missing = await Assert.ThrowsAsync<ArgumentException>(() => grain.PublishAsync(manifest));
        Assert.Contains($"{manifest.Chunks.Distinct().Count(c => !stored.Contains(c))} of its {chunks.Count} chunks are not stored", missing.Message, StringComparison.Ordinal);
        var shape = await Assert.ThrowsAsync<ArgumentException>(() => grain.PublishAsync(manifest with { Length = manifest.Length + (2L * ChunkBytes) }));
        Assert.Contains("cannot hold", shape.Message, StringComparison.Ordinal);
        var tooBig = await Assert.ThrowsAsync<ArgumentException>(() => grain.UploadChunkAsync(new byte[ChunkBytes + 1]));
        Assert.Contains("IndexChunkBytes", tooBig.Message, StringComparison.Ordinal);
        Assert.Contains("does not grow from", (await Assert.ThrowsAsync<ArgumentException>(() => grain.PublishAsync(manifest with { Lineage = ["0123456789abcdef"] }))).Message, StringComparison.Ordinal);
        Assert.Contains("does not grow from", (await Assert.ThrowsAsync<ArgumentException>(() => grain.PublishAsync(manifest with { Version = 1 }))).Message, StringComparison.Ordinal);
        Assert.Equal(1, await grain.GetVersionAsync());
        Assert.Equal(v1.Fingerprint, (await grain.ReadAsync())!.Fingerprint);
    }

    [Fact]
    public async Task An_index_stored_whole_by_an_earlier_version_is_moved_to_chunks()
    {
        await using var cluster = await StartAsync("legacy");
        var index = ModelFiles.Value.Index;
        var storage = Services(cluster).GetRequiredKeyedService<IGrainStorage>(GenRecOrleansOptions.StorageName);
        var grain = cluster.Client.GetGrain<ISemanticIdIndexGrain>("legacy");
        await storage.WriteStateAsync("index", grain.GetGrainId(), new GrainState<IndexState>(new IndexState { Version = index.Version, Fingerprint = index.Fingerprint, Bytes = index.ToBytes() }));

        Assert.Equal(index.Fingerprint, (await grain.ReadAsync())!.Fingerprint);

        var state = await StoredStateAsync(cluster, "legacy");
        Assert.Empty(state.Bytes);
        Assert.True(state.Chunks.Count > 4);
        Assert.Equal(1, (await cluster.Client.GetGrain<IUserSessionGrain>(2).AppendEventsAsync([new BehaviourEvent(index.Items[0].Value, ActionType.Click, DateTimeOffset.UtcNow.AddMinutes(-1))])).Stored);
    }

    private static ItemEmbeddings NewItems(long item)
    {
        var vector = ModelFiles.Value.Embeddings.Row(1).ToArray();
        return new ItemEmbeddings([new ItemId(item)], vector, vector.Length);
    }

    /// <summary>
    /// Sessions of 20 users append an event each, and each silo's index cache serves once: both silos load
    /// <paramref name="version"/>. (Placement need not spread 20 new sessions over both silos: under load it put them
    /// all on one, and the other silo never loaded an index.)
    /// </summary>
    private static async Task<long[]> ServeOnEverySiloAsync(InProcessTestCluster cluster, LoadCounter loads, int version)
    {
        var item = ModelFiles.Value.Index.Items[0].Value;
        long[] users = [.. Enumerable.Range(8_000_000, 20)];
        foreach (var user in users)
        {
            Assert.Equal(1, (await cluster.Client.GetGrain<IUserSessionGrain>(user).AppendEventsAsync([new BehaviourEvent(item, ActionType.Click, DateTimeOffset.UtcNow.AddHours(-1))])).Stored);
        }

        foreach (var silo in cluster.Silos)
        {
            await ((InProcessSiloHandle)silo).SiloHost.Services.GetRequiredService<SiloIndexCache>().GetAsync();
        }

        await loads.WaitAsync(version, silos: 2);
        return users;
    }

    private static async Task<IndexState> StoredStateAsync(InProcessTestCluster cluster, string catalogue)
    {
        var state = new GrainState<IndexState>(new IndexState());
        await Services(cluster).GetRequiredKeyedService<IGrainStorage>(GenRecOrleansOptions.StorageName)
            .ReadStateAsync("index", cluster.Client.GetGrain<ISemanticIdIndexGrain>(catalogue).GetGrainId(), state);
        return state.State!;
    }

    private static IServiceProvider Services(InProcessTestCluster cluster) => ((InProcessSiloHandle)cluster.Silos[0]).SiloHost.Services;

    private static async Task<InProcessTestCluster> StartAsync(string catalogue, LogRecorder? log = null)
    {
        var files = ModelFiles.Value;
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddGenRecGrains(o =>
            {
                o.Catalogue = catalogue;
                o.IndexPath = files.IndexPath;
                o.ModelPath = files.ModelPath;
                o.IndexChunkBytes = ChunkBytes;
                o.RefreshInterval = TimeSpan.FromMilliseconds(100);
                o.OnnxRuntime = new GenRec.Inference.OnnxRuntimeOptions { ExecutionProvider = GenRec.Inference.ExecutionProviderPreference.Cpu };
            }).UseInMemoryGenRecStorage();
            if (log is not null)
            {
                silo.Services.AddSingleton<ILoggerProvider>(log);
            }
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    /// <summary>Counts the silos' index loads and load failures of one catalogue (the meters are shared by every silo in this process).</summary>
    private sealed class LoadCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<int, int> _loads = new();
        private int _failures;

        public LoadCounter(string catalogue)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "GenRec" && instrument.Name is "genrec.index.loads" or "genrec.index.load_failures")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                string? of = null;
                int version = 0;
                foreach (var tag in tags)
                {
                    if (tag.Key == "catalogue")
                    {
                        of = tag.Value as string;
                    }
                    else if (tag.Key == "version")
                    {
                        version = Convert.ToInt32(tag.Value, System.Globalization.CultureInfo.InvariantCulture);
                    }
                }

                if (of != catalogue)
                {
                    return;
                }

                if (instrument.Name == "genrec.index.loads")
                {
                    _loads.AddOrUpdate(version, (int)value, (_, n) => n + (int)value);
                }
                else
                {
                    Interlocked.Add(ref _failures, (int)value);
                }
            });
            _listener.Start();
        }

        public int Count(int version) => _loads.GetValueOrDefault(version);

        public Task WaitAsync(int version, int silos) => UntilAsync(() => Count(version) >= silos, $"{silos} silos to load index version {version} (loaded: {Count(version)})");

        public Task WaitForFailuresAsync(int failures) => UntilAsync(() => Volatile.Read(ref _failures) >= failures, $"{failures} failed index loads (seen: {_failures})");

        public void Dispose() => _listener.Dispose();

        private static async Task UntilAsync(Func<bool> done, string what)
        {
            for (var waited = 0; !done(); waited += 50)
            {
                if (waited > 20_000)
                {
                    Assert.Fail($"Waited 20 s for {what}.");
                }

                await Task.Delay(50);
            }
        }
    }
}
