using GenRec.TestSupport;
using GenRec.Generative;
using GenRec.Inference;

namespace GenRec.Orleans.Tests;

public sealed class SessionTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static long _nextUser = 1_000_000;

    private static long NewUser() => Interlocked.Increment(ref _nextUser);

    private IUserSessionGrain Session(long user) => fixture.Client.GetGrain<IUserSessionGrain>(user);

    [Fact]
    public async Task Events_are_kept_in_time_order_once_each_and_within_the_bound()
    {
        var (_, events) = TestUsers.Users(1)[0];
        var user = NewUser();
        var session = Session(user);
        var shuffled = events.Take(40).Reverse().ToArray();

        var first = await session.AppendEventsAsync(shuffled);
        var again = await session.AppendEventsAsync(shuffled[..10]);
        var history = await session.GetHistoryAsync();

        Assert.Empty(first.Rejected);
        Assert.Equal((40, 0, 40), (first.Stored, first.Duplicates, first.Length));
        Assert.Empty(again.Rejected);
        Assert.Equal(0, again.Stored);
        Assert.Equal(10, again.Duplicates);
        Assert.Equal(40, history.Count);
        Assert.Equal(history.OrderBy(e => e.Time).Select(e => e.Time), history.Select(e => e.Time));

        // Past the bound (60 in this cluster) the oldest go; an event older than the whole full window is refused.
        var later = events.Skip(40).Take(30).ToArray();
        var full = await session.AppendEventsAsync(later);
        Assert.Equal(60, full.Length);
        Assert.Equal(later.Length + 40 - 60, full.Evicted);
        var ancient = new BehaviourEvent(events[0].Item, ActionType.Rate, new DateTimeOffset(1996, 1, 1, 0, 0, 0, TimeSpan.Zero), 3, "ancient");
        var refused = await session.AppendEventsAsync([ancient]);
        Assert.Equal(RejectionReason.OlderThanWindow, Assert.Single(refused.Rejected).Reason);
    }

    [Fact]
    public async Task Bad_events_are_rejected_with_reasons_and_the_good_ones_stored()
    {
        var (_, events) = TestUsers.Users(2)[1];
        var session = Session(NewUser());
        BehaviourEvent[] batch =
        [
            events[0],
            new(999_999_999, ActionType.Click, events[1].Time),
            new(events[2].Item, ActionType.Click, DateTimeOffset.UtcNow.AddDays(2)),
            new(events[3].Item, (ActionType)99, events[3].Time),
            events[4],
        ];

        var result = await session.AppendEventsAsync(batch);

        Assert.Equal(2, result.Stored);
        Assert.Equal(1, result.Pending); // item 999999999 is not registered (yet): kept, not lost
        Assert.Equal([(2, RejectionReason.InTheFuture), (3, RejectionReason.Malformed)], result.Rejected.Select(r => (r.Index, r.Reason)));

        // Pending events are bounded (100 by default): past that, an unknown item's event is rejected and says why.
        var unknown = Enumerable.Range(0, 100).Select(n => new BehaviourEvent(999_999_000 + n, ActionType.Click, events[1].Time)).ToArray();
        var full = await session.AppendEventsAsync(unknown);
        Assert.Equal(99, full.Pending);
        var refused = Assert.Single(full.Rejected);
        Assert.Equal((99, RejectionReason.UnknownItem), (refused.Index, refused.Reason));
        Assert.Contains("MaxPendingEvents", refused.Detail, StringComparison.Ordinal);
        Assert.Contains("999999099", refused.Detail, StringComparison.Ordinal);
        var oversized = Enumerable.Repeat(events[0], 201).ToArray();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => session.AppendEventsAsync(oversized));
        Assert.Contains("nothing was stored", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, (await session.GetHistoryAsync()).Count);
    }

    [Fact]
    public async Task Cached_state_recommends_what_a_cold_computation_does_and_is_dropped_by_new_events()
    {
        var (_, events) = TestUsers.Users(3)[2];
        var session = Session(NewUser());
        await session.AppendEventsAsync(events[..30]);

        var cold = await session.RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 20));
        var warm = await session.RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 20));

        var expected = InProcess.Generated(events[..30], beams: 20, count: 10);

        Assert.False(cold.CachedState);
        Assert.True(warm.CachedState);
        Assert.Equal(expected, cold.Items.Select(i => i.Item));
        Assert.Equal(expected, warm.Items.Select(i => i.Item));
        Assert.DoesNotContain(warm.Items, i => events[..30].Any(e => e.Item == i.Item));

        await session.AppendEventsAsync(events[30..32]);
        Assert.False((await session.RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 20))).CachedState);
    }

    [Fact]
    public async Task Hstu_ranking_in_the_session_keeps_the_history_state_and_scores_as_the_runtime_does()
    {
        var (_, events) = TestUsers.Users(5)[4];
        var session = Session(NewUser());
        await session.AppendEventsAsync(events[..40]);
        long[] candidates = [.. TestData.Dataset.Catalogue.Skip(300).Take(60).Select(i => i.Value), 999_999_999];

        var cold = await session.RankWithHstuAsync(candidates);
        var warm = await session.RankWithHstuAsync(candidates);

        // The same scores as the runtime on the same history, with the history encoded once per session revision.
        using var ranker = GenRec.Inference.HstuOnnxRanker.Load(ModelFiles.HstuOnnxPath, options: new GenRec.Inference.OnnxRuntimeOptions { ExecutionProvider = GenRec.Inference.ExecutionProviderPreference.Cpu });
        var user = new UserId(1);
        var history = events[..40].Select(e => new UserEvent(user, new ItemId(e.Item), e.Action, e.Time, e.Value)).ToArray();
        var expected = ranker.Score(new RecommendationRequest(user, history, 10, DateTimeOffset.UtcNow), [.. candidates.SkipLast(1).Select(i => new Candidate(new ItemId(i), 0, "x"))]);
        Assert.False(cold.CachedState);
        Assert.True(warm.CachedState);
        Assert.Equal(60, cold.Items.Count);
        Assert.Equal(cold.Items, warm.Items);
        var byItem = cold.Items.ToDictionary(i => i.Item, i => i.Score);
        for (var i = 0; i < 60; i++)
        {
            Assert.Equal(expected[i], byItem[candidates[i]], 1e-4);
        }

        await session.AppendEventsAsync(events[40..42]);
        var after = await session.RankWithHstuAsync(candidates);
        Assert.False(after.CachedState);
        Assert.NotEqual(cold.Items.Select(i => i.Score), after.Items.Select(i => i.Score));
    }

    [Fact]
    public async Task Hstu_state_extends_with_appended_events_and_scores_as_encoding_the_whole_history()
    {
        var (_, events) = TestUsers.Users(5)[4];
        var session = Session(NewUser());
        await session.AppendEventsAsync(events[..5]);
        long[] candidates = [.. TestData.Dataset.Catalogue.Skip(100).Take(40).Select(i => i.Value)];
        Assert.False((await session.RankWithHstuAsync(candidates)).CachedState);

        // Appended after the history and within the model's window (12 events): the kept state is extended.
        await session.AppendEventsAsync(events[5..7]);
        await session.AppendEventsAsync(events[7..9]);
        var extended = await session.RankWithHstuAsync(candidates);
        Assert.True(extended.CachedState);
        using var ranker = GenRec.Inference.HstuOnnxRanker.Load(ModelFiles.HstuOnnxPath, options: new GenRec.Inference.OnnxRuntimeOptions { ExecutionProvider = GenRec.Inference.ExecutionProviderPreference.Cpu });
        var user = new UserId(1);
        var history = events[..9].Select(e => new UserEvent(user, new ItemId(e.Item), e.Action, e.Time, e.Value)).ToArray();
        var expected = ranker.Score(new RecommendationRequest(user, history, 10, DateTimeOffset.UtcNow), [.. candidates.Select(i => new Candidate(new ItemId(i), 0, "x"))]);
        var byItem = extended.Items.ToDictionary(i => i.Item, i => i.Score);
        for (var i = 0; i < candidates.Length; i++)
        {
            Assert.Equal(expected[i], byItem[candidates[i]], 1e-4);
        }

        // An event older than the history's last goes inside it: encoded again.
        await session.AppendEventsAsync([events[9] with { Time = events[0].Time.AddSeconds(-10), EventId = "late" }]);
        Assert.False((await session.RankWithHstuAsync(candidates)).CachedState);

        // Past the window (the oldest event would leave it): encoded again, and the result is the runtime's.
        await session.AppendEventsAsync(events[10..20]);
        var slid = await session.RankWithHstuAsync(candidates);
        Assert.False(slid.CachedState);
        var all = (await session.GetHistoryAsync()).Select(e => new UserEvent(user, new ItemId(e.Item), e.Action, e.Time, e.Value)).ToArray();
        var expectedSlid = ranker.Score(new RecommendationRequest(user, all, 10, DateTimeOffset.UtcNow), [.. candidates.Select(i => new Candidate(new ItemId(i), 0, "x"))]);
        var slidByItem = slid.Items.ToDictionary(i => i.Item, i => i.Score);
        for (var i = 0; i < candidates.Length; i++)
        {
            Assert.Equal(expectedSlid[i], slidByItem[candidates[i]], 1e-4);
        }
    }

    [Fact]
    public async Task A_new_user_with_no_history_still_gets_recommendations()
    {
        var result = await Session(NewUser()).RecommendAsync(new RecommendQuery(Count: 5));
        Assert.Equal(5, result.Items.Count);
        Assert.Equal(5, result.Items.Select(i => i.Item).Distinct().Count());
    }

    [Fact]
    public async Task Ranking_orders_known_candidates_by_probability_and_drops_unknown_ones()
    {
        var (_, events) = TestUsers.Users(4)[3];
        var session = Session(NewUser());
        await session.AppendEventsAsync(events[..20]);
        var recommended = await session.RecommendAsync(new RecommendQuery(Count: 8, BeamWidth: 16));
        var candidates = recommended.Items.Select(i => i.Item).Reverse().Append(999_999_999).ToArray();

        var ranked = await session.RankAsync(candidates);

        Assert.Equal(recommended.Items.Select(i => i.Item), ranked.Items.Select(i => i.Item));
        Assert.All(recommended.Items.Zip(ranked.Items), p => Assert.Equal(p.First.Score, p.Second.Score, 1e-4));
    }

    [Fact]
    public async Task A_session_keeps_its_sequence_across_deactivation()
    {
        var (_, events) = TestUsers.Users(5)[4];
        var user = NewUser();
        await Session(user).AppendEventsAsync(events[..25]);
        var before = await Session(user).GetHistoryAsync();

        await fixture.Cluster.DeactivateAsync(Session(user));
        await fixture.Cluster.WaitForDeactivationAsync(Session(user));
        var after = await Session(user).GetHistoryAsync();

        Assert.Equal(before, after);
    }

    [Fact]
    public async Task Bad_queries_get_clear_errors()
    {
        var session = Session(NewUser());
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => session.RecommendAsync(new RecommendQuery(Count: 0)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => session.RecommendAsync(new RecommendQuery(Count: 5000)));
        await Assert.ThrowsAsync<ArgumentException>(() => session.RankAsync(Enumerable.Range(0, 1001).Select(i => (long)i).ToArray()));
    }
}

/// <summary>The session grain serving an end-to-end model: it encodes the stored events (items, actions, times) as the model reads them.</summary>
public sealed class EndToEndSessionTests(EndToEndClusterFixture fixture) : IClassFixture<EndToEndClusterFixture>
{
    [Fact]
    public async Task The_session_serves_the_end_to_end_model_from_its_events_and_reuses_its_encoder_state()
    {
        var files = ModelFiles.Value;
        var (user, events) = TestUsers.Users(7)[6];
        var session = fixture.Client.GetGrain<IUserSessionGrain>(2_000_000 + user);
        await session.AppendEventsAsync(events[..30]);

        var cold = await session.RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 20));
        var warm = await session.RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 20));

        using var model = ModelFiles.Load(ModelFiles.EndToEndOnnxPath);
        var history = events[..30].Select(e => e.ToUserEvent(2_000_000 + user)).ToArray();
        var excluded = events[..30].Select(e => files.Index[new ItemId(e.Item)]);
        var expected = model.Decode([new GenerativeDecodeRequest(model.EncodeHistory(history, files.Index), new BeamSearchState(files.Index.Trie, files.Index.Length, 20, excluded))])[0]
            .Take(10).Select(d => files.Index[d.Id].Value).ToArray();

        Assert.NotNull(model.Layout);
        Assert.False(cold.CachedState);
        Assert.True(warm.CachedState);
        Assert.Equal(expected, cold.Items.Select(i => i.Item));
        Assert.Equal(expected, warm.Items.Select(i => i.Item));
        Assert.DoesNotContain(warm.Items, i => events[..30].Any(e => e.Item == i.Item));
    }
}
