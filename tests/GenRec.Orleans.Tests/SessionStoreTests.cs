using GenRec.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Storage;
using Orleans.TestingHost;
using StackExchange.Redis;

namespace GenRec.Orleans.Tests;

/// <summary>
/// The append-only session store on the real Redis server: what a session reads back is what its grain held, through
/// events out of order and of equal times, duplicates, evictions and events folded in once their item is registered;
/// a stale writer is refused; sessions stored as grain state by an earlier version are moved, not lost.
/// </summary>
public sealed class SessionStoreTests
{
    [Fact]
    public async Task A_session_reads_back_exactly_what_its_grain_held()
    {
        await RedisTests.EnsureRedisAsync();
        var serviceId = $"genrec-store-{Guid.NewGuid():N}";
        const long user = 7_000_000;
        var real = TestUsers.Users(1, minEvents: 120)[0].Events;
        var random = new Random(5);
        var start = real[0].Time;
        var unknown = new[] { 61_000_001L, 61_000_002L };
        var sent = new List<BehaviourEvent>();
        IReadOnlyList<BehaviourEvent> held;
        await using (var cluster = await RedisTests.StartAsync(serviceId, silos: 1, o => o.MaxEvents = 40))
        {
            var grain = cluster.Client.GetGrain<IUserSessionGrain>(user);
            var store = Store(cluster);
            var stored = 0;
            for (var b = 0; b < 12; b++)
            {
                // Ten events at a handful of times (many equal, out of order), a resent one and, twice, one for an item not registered yet.
                var batch = real.Skip(b * 10).Take(10)
                    .Select(e => e with { Time = start.AddMinutes(b * 3 + random.Next(5)), EventId = $"e{e.Item}" })
                    .ToList();
                if (b > 0)
                {
                    batch.Add(sent[sent.Count - 1 - random.Next(5)]);
                }

                if (b is 3 or 11)
                {
                    batch.Add(new BehaviourEvent(unknown[b == 3 ? 0 : 1], ActionType.Click, start.AddMinutes(b * 3), null, $"u{b}"));
                }

                var result = await grain.AppendEventsAsync(batch);
                Assert.Empty(result.Rejected);
                stored += result.Stored;
                sent.AddRange(batch);
                await AssertStoredAsync(grain, store, cluster);
            }

            Assert.True(stored > 40, "the sequence was evicted from");
            var vector = ModelFiles.Value.Embeddings.Row(1).ToArray();
            await cluster.Client.GetGrain<ICatalogueGrain>("default").RegisterItemsAsync([.. unknown.Select(i => new NewItem(i, vector))]);
            await Task.Delay(TimeSpan.FromMilliseconds(500)); // the silo picks up the new index version
            held = await grain.GetHistoryAsync();
            Assert.Contains(held, e => e.Item == unknown[1]); // folded in; the older one was past the window by then
            await AssertStoredAsync(grain, store, cluster);
            Assert.Empty((await store.ReadAsync(grain.GetGrainId())).Pending);
            Assert.Equal(40, held.Count);
            Assert.True(held.Zip(held.Skip(1)).All(p => p.First.Time <= p.Second.Time));
            await cluster.StopAllSilosAsync();
        }

        await using var again = await RedisTests.StartAsync(serviceId, silos: 1, o => o.MaxEvents = 40);
        Assert.Equal(held, await again.Client.GetGrain<IUserSessionGrain>(user).GetHistoryAsync());
        var more = await again.Client.GetGrain<IUserSessionGrain>(user).AppendEventsAsync([new BehaviourEvent(real[^1].Item, ActionType.Click, start.AddDays(1), null, "after-restart")]);
        Assert.Equal((1, 0, 40), (more.Stored, more.Duplicates, more.Length));
        Assert.Equal("after-restart", (await again.Client.GetGrain<IUserSessionGrain>(user).GetHistoryAsync())[^1].EventId);
    }

    [Fact]
    public async Task A_write_from_a_stale_read_is_refused_and_changes_nothing()
    {
        await RedisTests.EnsureRedisAsync();
        await using var cluster = await RedisTests.StartAsync($"genrec-stale-{Guid.NewGuid():N}", silos: 1);
        var store = Store(cluster);
        var grain = cluster.Client.GetGrain<IUserSessionGrain>(7_100_000).GetGrainId();
        var first = await store.ReadAsync(grain);
        var second = await store.ReadAsync(grain);
        var a = new StoredEvent { Item = 1, TimeMilliseconds = 1_000, Id = "a" };
        await store.WriteAsync(grain, Next(first, a), [a], pendingChanged: false, maxEvents: 10);
        var b = new StoredEvent { Item = 2, TimeMilliseconds = 2_000, Id = "b" };
        var refused = await Assert.ThrowsAsync<InconsistentStateException>(() => store.WriteAsync(grain, Next(second, b), [b], pendingChanged: false, maxEvents: 10));
        Assert.Contains("another activation", refused.Message, StringComparison.Ordinal);
        var stored = await store.ReadAsync(grain);
        Assert.Equal(["a"], stored.Events.Select(e => e.Id));
        Assert.Equal(1, stored.Revision);
    }

    [Fact]
    public async Task A_write_of_more_events_than_one_command_takes_reads_back_whole_and_in_order()
    {
        // The write script adds 500 events a command; 1,201 (three commands, the last partial) into a bound of 1,100.
        await RedisTests.EnsureRedisAsync();
        await using var cluster = await RedisTests.StartAsync($"genrec-large-{Guid.NewGuid():N}", silos: 1);
        var store = Store(cluster);
        var grain = cluster.Client.GetGrain<IUserSessionGrain>(7_150_000).GetGrainId();
        var read = await store.ReadAsync(grain);
        var added = Enumerable.Range(0, 1201).Select(i => new StoredEvent { Item = 1 + (i % 50), TimeMilliseconds = 1_000 + (i / 3), Id = $"e{i}", Sequence = i }).ToList();
        var next = new UserSessionState { Events = added[^1100..], Pending = read.Pending, Revision = 1, NextSequence = added.Count, ETag = read.ETag };
        await store.WriteAsync(grain, next, added, pendingChanged: false, maxEvents: 1100);
        var stored = await store.ReadAsync(grain);
        Assert.Equal(added[^1100..].Select(e => e.Id), stored.Events.Select(e => e.Id));
    }

    [Fact]
    public async Task A_session_stored_as_grain_state_by_an_earlier_version_is_moved_at_its_first_read()
    {
        await RedisTests.EnsureRedisAsync();
        await using var cluster = await RedisTests.StartAsync($"genrec-legacy-{Guid.NewGuid():N}", silos: 1);
        var grain = cluster.Client.GetGrain<IUserSessionGrain>(7_200_000);
        var real = TestUsers.Users(1, minEvents: 20)[0].Events;
        var legacy = new UserSessionState
        {
            Events = [.. real[..20].Select((e, i) => new StoredEvent { Item = e.Item, Action = (int)e.Action, TimeMilliseconds = e.Time.ToUnixTimeMilliseconds(), Value = e.Value, Id = $"old{i}" })],
            Pending = [new StoredEvent { Item = 62_000_001, Action = (int)ActionType.Click, TimeMilliseconds = real[19].Time.ToUnixTimeMilliseconds(), Id = "waiting" }],
            Revision = 20,
        };
        var storage = Services(cluster).GetRequiredKeyedService<IGrainStorage>(GenRecOrleansOptions.StorageName);
        await storage.WriteStateAsync(GrainStorageSessionStore.StateName, grain.GetGrainId(), new GrainState<UserSessionState>(legacy));

        var history = await grain.GetHistoryAsync();

        Assert.Equal(legacy.Events.Select(e => e.ToMessage()), history);
        var left = new GrainState<UserSessionState>(new UserSessionState());
        await storage.ReadStateAsync(GrainStorageSessionStore.StateName, grain.GetGrainId(), left);
        Assert.False(left.RecordExists && left.State is { Events.Count: > 0 }, "the grain state was cleared once moved");
        var moved = await Store(cluster).ReadAsync(grain.GetGrainId());
        Assert.Equal((20, 20L, "waiting"), (moved.Events.Count, moved.Revision, moved.Pending.Single().Id));
        var appended = await grain.AppendEventsAsync([new BehaviourEvent(real[20].Item, ActionType.Click, real[19].Time.AddMinutes(1), null, "new")]);
        Assert.Equal((1, 21), (appended.Stored, appended.Length));
        Assert.Equal(1, (await grain.AppendEventsAsync([new BehaviourEvent(real[0].Item, real[0].Action, real[0].Time, real[0].Value, "old0")])).Duplicates);
    }

    [Fact]
    public async Task A_session_in_an_unknown_format_is_refused_with_a_clear_error()
    {
        await RedisTests.EnsureRedisAsync();
        var serviceId = $"genrec-format-{Guid.NewGuid():N}";
        await using var cluster = await RedisTests.StartAsync(serviceId, silos: 1);
        var grain = cluster.Client.GetGrain<IUserSessionGrain>(7_300_000);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisTests.Redis);
        await redis.GetDatabase().HashSetAsync($"genrec:{serviceId}:session:{{{grain.GetGrainId().Key}}}:meta", "f", 9);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => grain.GetHistoryAsync());

        Assert.Contains("session format 9", error.Message, StringComparison.Ordinal);
        Assert.Equal(9, (int)await redis.GetDatabase().HashGetAsync($"genrec:{serviceId}:session:{{{grain.GetGrainId().Key}}}:meta", "f"));
    }

    private static async Task AssertStoredAsync(IUserSessionGrain grain, ISessionStore store, InProcessTestCluster cluster)
    {
        var held = await grain.GetHistoryAsync();
        var stored = await store.ReadAsync(grain.GetGrainId());
        Assert.Equal(held, stored.Events.Select(e => e.ToMessage()));
        Assert.IsType<RedisSessionStore>(Services(cluster).GetRequiredService<ISessionStore>());
    }

    private static UserSessionState Next(UserSessionState read, StoredEvent added) => new()
    {
        Events = [.. read.Events, added], Pending = read.Pending, Revision = read.Revision + 1, NextSequence = read.NextSequence + 1, ETag = read.ETag,
    };

    private static ISessionStore Store(InProcessTestCluster cluster) => Services(cluster).GetRequiredService<ISessionStore>();

    private static IServiceProvider Services(InProcessTestCluster cluster) => ((InProcessSiloHandle)cluster.Silos[0]).SiloHost.Services;
}
