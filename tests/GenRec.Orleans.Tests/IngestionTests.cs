using System.Globalization;
using GenRec.TestSupport;
using Orleans.TestingHost;
using StackExchange.Redis;

namespace GenRec.Orleans.Tests;

/// <summary>Behaviour events from a real Redis stream (localhost:6379, or GENREC_REDIS) into the sessions of a real cluster.</summary>
public sealed class IngestionTests
{
    private static readonly string Redis = Environment.GetEnvironmentVariable("GENREC_REDIS") ?? "localhost:6379";

    [Fact]
    public async Task Stream_events_reach_their_sessions_once_each_through_a_dead_consumer_a_retried_producer_and_a_bad_entry()
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(Redis);
        var db = redis.GetDatabase();
        var stream = $"genrec:test:{Guid.NewGuid():N}";
        const string group = "genrec-sessions";
        var users = TestUsers.Users(12, minEvents: 40);
        var expected = new Dictionary<long, HashSet<string>>();
        NameValueEntry[] Fields(long user, BehaviourEvent e, string id) =>
        [
            new("user", user), new("item", e.Item), new("action", e.Action.ToString()),
            new("time", e.Time.ToUnixTimeMilliseconds()), new("value", e.Value!.Value.ToString(CultureInfo.InvariantCulture)), new("id", id),
        ];
        for (var u = 0; u < users.Count; u++)
        {
            var user = 8_000_000L + u;
            expected[user] = [];
            for (var n = 0; n < 40; n++)
            {
                var id = $"{user}:{n}";
                await db.StreamAddAsync(stream, Fields(user, users[u].Events[n], id));
                expected[user].Add(id);
            }
        }

        // A consumer that read 100 entries and died before acknowledging them.
        await db.StreamCreateConsumerGroupAsync(stream, group, "0-0", createStream: true);
        Assert.Equal(100, (await db.StreamReadGroupAsync(stream, group, "dead-consumer", ">", 100)).Length);

        // A producer that retried (the same event id again) and an entry that can never be an event.
        await db.StreamAddAsync(stream, Fields(8_000_000, users[0].Events[0], "8000000:0"));
        await db.StreamAddAsync(stream, [new("user", 8_000_000), new("item", "not-a-number")]);

        var files = ModelFiles.Value;
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) => silo
            .AddGenRecGrains(o =>
            {
                o.IndexPath = files.IndexPath;
                o.ModelPath = files.ModelPath;
                o.OnnxRuntime = new GenRec.Inference.OnnxRuntimeOptions { ExecutionProvider = GenRec.Inference.ExecutionProviderPreference.Cpu };
            })
            .UseInMemoryGenRecStorage()
            .UseGenRecRedisIngestion(o =>
            {
                o.ConnectionString = Redis;
                o.Stream = stream;
                o.Group = group;
                o.BatchSize = 64;
                o.ClaimIdleTime = TimeSpan.FromSeconds(1);
                o.PollInterval = TimeSpan.FromMilliseconds(20);
            }));
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        try
        {
            for (var i = 0; i < 300 && (await db.StreamPendingAsync(stream, group)).PendingMessageCount + (await Unread(db, stream, group)) > 0; i++)
            {
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }

            Assert.Equal(0, (await db.StreamPendingAsync(stream, group)).PendingMessageCount);
            foreach (var (user, ids) in expected)
            {
                var history = await cluster.Client.GetGrain<IUserSessionGrain>(user).GetHistoryAsync();
                Assert.Equal(ids.Order(), history.Select(e => e.EventId!).Order());
            }

            var dead = Assert.Single(await db.StreamRangeAsync(stream + ":dead"));
            Assert.Contains("'item' (not-a-number) is not an integer", (string?)dead.Values.Single(v => v.Name == "reason").Value, StringComparison.Ordinal);
        }
        finally
        {
            await db.KeyDeleteAsync([stream, stream + ":dead"]);
        }
    }

    /// <summary>Entries the group has not been delivered yet.</summary>
    private static async Task<long> Unread(IDatabase db, string stream, string group)
    {
        var info = (await db.StreamGroupInfoAsync(stream)).Single(g => g.Name == group);
        return info.Lag ?? 0;
    }
}
