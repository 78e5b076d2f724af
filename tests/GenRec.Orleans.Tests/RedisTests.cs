using GenRec.TestSupport;
using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.TestingHost;
using StackExchange.Redis;

namespace GenRec.Orleans.Tests;

/// <summary>
/// Against a real Redis server (localhost:6379, or GENREC_REDIS; .ci/run installs and starts one): acknowledged events
/// survive a silo killed mid-stream and a full cluster restart.
/// </summary>
public sealed class RedisTests
{
    internal static readonly string Redis = Environment.GetEnvironmentVariable("GENREC_REDIS") ?? "localhost:6379";

    [Fact]
    public async Task Every_acknowledged_event_survives_a_silo_killed_mid_stream()
    {
        await EnsureRedisAsync();
        await using var cluster = await StartAsync($"genrec-kill-{Guid.NewGuid():N}", silos: 3);
        var users = TestUsers.Users(40, minEvents: 60);
        var acknowledged = new ConcurrentDictionary<long, ConcurrentBag<BehaviourEvent>>();
        var batchesDone = 0;
        var killed = new TaskCompletionSource();

        var streams = users.Select((u, i) => Task.Run(async () =>
        {
            var user = 5_000_000 + i;
            foreach (var batch in u.Events[..60].Chunk(5))
            {
                var result = await WithRetriesAsync(() => cluster.Client.GetGrain<IUserSessionGrain>(user).AppendEventsAsync(batch));
                Assert.Empty(result.Rejected);
                foreach (var e in batch)
                {
                    acknowledged.GetOrAdd(user, _ => []).Add(e);
                }

                if (Interlocked.Increment(ref batchesDone) == 160)
                {
                    killed.TrySetResult();
                }
            }
        })).ToArray();

        await killed.Task;
        await cluster.KillSiloAsync(cluster.Silos[1]);
        await Task.WhenAll(streams);

        foreach (var (user, events) in acknowledged)
        {
            var history = await WithRetriesAsync(() => cluster.Client.GetGrain<IUserSessionGrain>(user).GetHistoryAsync());
            var stored = history.Select(e => (e.Item, e.Time)).ToHashSet();
            Assert.All(events, e => Assert.Contains((e.Item, e.Time), stored));
            Assert.Equal(60, history.Count);
        }

        Assert.Equal(40, acknowledged.Count);
    }

    [Fact]
    public async Task State_survives_a_full_cluster_restart()
    {
        await EnsureRedisAsync();
        var serviceId = $"genrec-restart-{Guid.NewGuid():N}";
        var users = TestUsers.Users(10, minEvents: 30);
        IReadOnlyList<BehaviourEvent>[] before;
        Recommendations recommended;
        var vector = ModelFiles.Value.Embeddings.Row(1).ToArray();
        await using (var first = await StartAsync(serviceId, silos: 2))
        {
            await Task.WhenAll(users.Select((u, i) => first.Client.GetGrain<IUserSessionGrain>(6_000_000 + i).AppendEventsAsync(u.Events[..30])));
            await first.Client.GetGrain<ICatalogueGrain>("default").RegisterItemsAsync([new NewItem(60_000_001, vector)]);
            before = await Task.WhenAll(users.Select((_, i) => first.Client.GetGrain<IUserSessionGrain>(6_000_000 + i).GetHistoryAsync()));
            await Task.Delay(TimeSpan.FromMilliseconds(500)); // the silos pick up index version 2
            recommended = await first.Client.GetGrain<IUserSessionGrain>(6_000_000).RecommendAsync(new RecommendQuery(Count: 10));
            await first.StopAllSilosAsync();
        }

        await using var second = await StartAsync(serviceId, silos: 2);
        var after = await Task.WhenAll(users.Select((_, i) => second.Client.GetGrain<IUserSessionGrain>(6_000_000 + i).GetHistoryAsync()));
        var again = await second.Client.GetGrain<IUserSessionGrain>(6_000_000).RecommendAsync(new RecommendQuery(Count: 10));

        for (var i = 0; i < users.Count; i++)
        {
            Assert.Equal(before[i], after[i]);
        }

        Assert.Equal(2, await second.Client.GetGrain<ISemanticIdIndexGrain>("default").GetVersionAsync());
        Assert.Equal(recommended.Items.Select(x => x.Item), again.Items.Select(x => x.Item));
        Assert.Equal((2, 2), (recommended.IndexVersion, again.IndexVersion));
    }

    /// <summary>A cluster of <paramref name="silos"/> silos on the Redis server (clustering in memory, storage in Redis) serving the small test model.</summary>
    internal static async Task<InProcessTestCluster> StartAsync(string serviceId, short silos, Action<GenRecOrleansOptions>? configure = null, string? redis = null)
    {
        var files = ModelFiles.Value;
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ServiceId = serviceId;
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddGenRecGrains(o =>
            {
                o.IndexPath = files.IndexPath;
                o.ModelPath = files.ModelPath;
                o.RefreshInterval = TimeSpan.FromMilliseconds(200);
                o.OnnxRuntime = new GenRec.Inference.OnnxRuntimeOptions { ExecutionProvider = GenRec.Inference.ExecutionProviderPreference.Cpu };
                configure?.Invoke(o);
            }).UseGenRecRedisStorage(redis ?? Redis);
            silo.Services.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
            });
            silo.Services.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
        });
        builder.ConfigureClient(client => client.Services.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5)));
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    /// <summary>What a client does when a silo dies under it: retry (appends are idempotent by event id).</summary>
    private static async Task<T> WithRetriesAsync<T>(Func<Task<T>> call)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (attempt < 20 && e is TimeoutException or SiloUnavailableException or OrleansMessageRejectionException or OrleansException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt));
            }
        }
    }

    internal static async Task EnsureRedisAsync()
    {
        try
        {
            await using var connection = await ConnectionMultiplexer.ConnectAsync(Redis);
            await connection.GetDatabase().PingAsync();
        }
        catch (RedisConnectionException e)
        {
            Assert.Fail($"These tests need a Redis server at {Redis} (set GENREC_REDIS to use another); .ci/run installs and starts one: {e.Message}");
        }
    }
}
