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

    [Fact]
    public async Task A_users_entries_keep_the_streams_order_across_reads_in_flight_so_a_full_window_refuses_none()
    {
        // 60 events of one user in time order, read 5 at a time with 8 reads in flight, into a window of 10: appended in
        // the stream's order, each older event is stored and later evicted; appended out of order, an older event that
        // arrives after 10 newer ones is refused as older than the window (acknowledged, counted, not stored).
        var outcomes = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "genrec.ingestion.events")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "outcome")
                {
                    outcomes.AddOrUpdate((string)tag.Value!, value, (_, v) => v + value);
                }
            }
        });
        listener.Start();
        using var redis = await ConnectionMultiplexer.ConnectAsync(Redis);
        var db = redis.GetDatabase();
        var stream = $"genrec:test:{Guid.NewGuid():N}";
        var user = TestUsers.Users(1, minEvents: 60)[0];
        const long userId = 8_100_000;
        for (var n = 0; n < 60; n++)
        {
            var e = user.Events[n];
            await db.StreamAddAsync(stream, [new("user", userId), new("item", e.Item), new("action", e.Action.ToString()), new("time", e.Time.ToUnixTimeMilliseconds()), new("id", $"{userId}:{n}")]);
        }

        var files = ModelFiles.Value;
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) => silo
            .AddGenRecGrains(o =>
            {
                o.IndexPath = files.IndexPath;
                o.ModelPath = files.ModelPath;
                o.MaxEvents = 10;
                o.OnnxRuntime = new GenRec.Inference.OnnxRuntimeOptions { ExecutionProvider = GenRec.Inference.ExecutionProviderPreference.Cpu };
            })
            .UseInMemoryGenRecStorage()
            .UseGenRecRedisIngestion(o =>
            {
                o.ConnectionString = Redis;
                o.Stream = stream;
                o.BatchSize = 5;
                o.MaxReadsInFlight = 8;
                o.PollInterval = TimeSpan.FromMilliseconds(20);
            }));
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        try
        {
            const string group = "genrec-sessions";
            for (var i = 0; i < 300 && ((await db.StreamGroupInfoAsync(stream)).SingleOrDefault(g => g.Name == group) is not { Name: not null } info || info.PendingMessageCount + (info.Lag ?? 1) > 0); i++)
            {
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }

            Assert.Equal(0, (await db.StreamPendingAsync(stream, group)).PendingMessageCount);
            Assert.Equal(0, await db.StreamLengthAsync(stream + ":dead"));
            var history = await cluster.Client.GetGrain<IUserSessionGrain>(userId).GetHistoryAsync();
            Assert.Equal(Enumerable.Range(50, 10).Select(n => $"{userId}:{n}"), history.Select(e => e.EventId!));
            Assert.Equal((60L, 0L), (outcomes.GetValueOrDefault("stored"), outcomes.GetValueOrDefault("older_than_window")));

            // A late event, older than the whole window: acknowledged and counted, neither stored nor dead-lettered.
            var late = user.Events[0];
            await db.StreamAddAsync(stream, [new("user", userId), new("item", late.Item), new("action", late.Action.ToString()), new("time", late.Time.AddDays(-1).ToUnixTimeMilliseconds()), new("id", "late")]);
            for (var i = 0; i < 100 && (outcomes.GetValueOrDefault("older_than_window") == 0 || (await db.StreamPendingAsync(stream, group)).PendingMessageCount > 0); i++)
            {
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }

            Assert.Equal(1, outcomes.GetValueOrDefault("older_than_window"));
            Assert.Equal(0, (await db.StreamPendingAsync(stream, group)).PendingMessageCount);
            Assert.Equal(0, await db.StreamLengthAsync(stream + ":dead"));
            Assert.Equal(history, await cluster.Client.GetGrain<IUserSessionGrain>(userId).GetHistoryAsync());
        }
        finally
        {
            await db.KeyDeleteAsync([stream, stream + ":dead"]);
        }
    }

    [Fact]
    public async Task A_bad_entry_claimed_by_another_consumer_before_its_acknowledgement_is_dead_lettered_once()
    {
        // The race of two silos: consumer A reads a bad entry; before A dead-letters it, B claims it (A looked dead for
        // ClaimIdleTime). Only the owner writes the dead letter, once; the entry is acknowledged with it.
        using var redis = await ConnectionMultiplexer.ConnectAsync(Redis);
        var db = redis.GetDatabase();
        var stream = $"genrec:test:dead-race:{Guid.NewGuid():N}";
        var dead = stream + ":dead";
        try
        {
            await db.StreamCreateConsumerGroupAsync(stream, "g", "0-0", createStream: true);
            var id = await db.StreamAddAsync(stream, [new("user", "7"), new("item", "not-a-number")]);
            var read = Assert.Single(await db.StreamReadGroupAsync(stream, "g", "a", ">", 10));
            Assert.Single(await db.StreamClaimAsync(stream, "g", "b", 0, [id]));

            Assert.False(await RedisEventIngestion.DeadLetterAsync(db, stream, "g", "a", dead, read, "bad item"));
            Assert.Equal(0, await db.StreamLengthAsync(dead));
            Assert.Equal(1, (await db.StreamPendingAsync(stream, "g")).PendingMessageCount);

            Assert.True(await RedisEventIngestion.DeadLetterAsync(db, stream, "g", "b", dead, read, "bad item"));
            var letter = Assert.Single(await db.StreamRangeAsync(dead));
            Assert.Equal((string?)id, (string?)letter.Values.Single(v => v.Name == "source_id").Value);
            Assert.Equal("not-a-number", (string?)letter.Values.Single(v => v.Name == "item").Value);
            Assert.Equal("bad item", (string?)letter.Values.Single(v => v.Name == "reason").Value);
            Assert.Equal(0, (await db.StreamPendingAsync(stream, "g")).PendingMessageCount);

            // Delivered again after the acknowledgement (a retried read): nothing pending, nothing written twice.
            Assert.False(await RedisEventIngestion.DeadLetterAsync(db, stream, "g", "b", dead, read, "bad item"));
            Assert.Equal(1, await db.StreamLengthAsync(dead));
        }
        finally
        {
            await db.KeyDeleteAsync([stream, dead]);
        }
    }

    /// <summary>Entries the group has not been delivered yet.</summary>
    private static async Task<long> Unread(IDatabase db, string stream, string group)
    {
        var info = (await db.StreamGroupInfoAsync(stream)).Single(g => g.Name == group);
        return info.Lag ?? 0;
    }
}
