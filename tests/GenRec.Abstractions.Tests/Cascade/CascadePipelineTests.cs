using GenRec.Cascade;

namespace GenRec.Abstractions.Tests.Cascade;

public sealed class CascadePipelineTests
{
    private static readonly DateTimeOffset Now = new(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private sealed class ListRecall(string name, params long[] items) : IRecallStage
    {
        public string Name => name;

        public int Calls;
        public int LastCount;

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Calls);
            LastCount = count;
            return ValueTask.FromResult<IReadOnlyList<Candidate>>(
                items.Take(count).Select((i, r) => new Candidate(new ItemId(i), -r, name)).ToArray());
        }
    }

    /// <summary>Ranks by ascending item id, so the effect of ranking is visible.</summary>
    private sealed class ByIdRanker : IRankingStage
    {
        public string Name => "by-id";

        public int SeenCount;

        public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
        {
            SeenCount = candidates.Count;
            return ValueTask.FromResult<IReadOnlyList<Candidate>>(candidates.OrderBy(c => c.Item.Value).Select(c => c with { Score = -c.Item.Value }).ToArray());
        }
    }

    private static RecommendationRequest Request(int count, params long[] history) =>
        new(new UserId(1), history.Select(h => new UserEvent(new UserId(1), new ItemId(h), ActionType.View, Now)).ToArray(), count, Now);

    private static long[] Ids(RecommendationResult r) => r.Items.Select(c => c.Item.Value).ToArray();

    [Fact]
    public async Task Merge_interleaves_channels_by_rank_and_keeps_first_occurrence()
    {
        var a = new ListRecall("a", 1, 2, 3);
        var b = new ListRecall("b", 2, 10, 11);
        var pipeline = new CascadePipeline("t", [new RecallChannel(a, 3), new RecallChannel(b, 3)]);

        var result = await pipeline.RecommendAsync(Request(10));

        Assert.Equal(new long[] { 1, 2, 10, 3, 11 }, Ids(result));
        Assert.Equal(new[] { "a", "b", "b", "a", "b" }, result.Items.Select(c => c.Source)); // 2 is first met at rank 0 of b
    }

    [Fact]
    public async Task A_reserved_share_gives_its_channel_that_part_of_every_list_interleaved()
    {
        var main = new ListRecall("main", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
        var fresh = new ListRecall("fresh", 101, 102, 103);
        var stage = new ReservedShareRecall("hybrid", main, fresh, 0.2);

        var ten = await stage.RecallAsync(Request(10, 3), 10);

        // 2 of 10 reserved; the main channel is asked for 8, and 3 (history) is dropped from them without a refill.
        Assert.Equal(new long[] { 1, 101, 2, 102, 4, 5, 6, 7, 8 }, ten.Select(c => c.Item.Value));
        Assert.Equal(2, fresh.LastCount);
        Assert.Equal([0, 1, 1, 1, 2, 20], new[] { 1, 2, 3, 5, 10, 100 }.Select(stage.ReservedSlots)); // never the whole list, at least one slot
        Assert.Equal(new long[] { 1, 2, 3 }, (await new ReservedShareRecall("none", main, fresh, 0).RecallAsync(Request(3), 3)).Select(c => c.Item.Value));
        var later = await new ReservedShareRecall("later", main, fresh, 0.2, after: 4).RecallAsync(Request(10), 10);
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 101, 6, 102, 7, 8 }, later.Select(c => c.Item.Value)); // the reserved items after the main channel's first 4
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReservedShareRecall("x", main, fresh, 0.2, after: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReservedShareRecall("x", main, fresh, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReservedShareRecall("x", main, fresh, double.NaN));
    }

    [Fact]
    public async Task Reciprocal_rank_fusion_lifts_items_both_channels_return_and_honours_weights_and_exclusions()
    {
        var a = new ListRecall("generative", 1, 2, 3, 4);
        var b = new ListRecall("dense", 9, 3, 2, 8);
        var fused = new CompositeRecall("union", [new RecallChannel(a, 4), new RecallChannel(b, 4)], RecallMerge.ReciprocalRank);

        var items = await fused.RecallAsync(Request(5, 4), 5);

        // 2 and 3 are in both lists (ranks 2+3 and 3+2), so they lead; then the two first places, 1 before 9 (met first); 4 is history.
        Assert.Equal(new long[] { 2, 3, 1, 9, 8 }, items.Select(c => c.Item.Value));
        Assert.Equal(1.0 / 62 + 1.0 / 63, items[0].Score, 12);
        var dense = new CompositeRecall("union", [new RecallChannel(a, 4), new RecallChannel(b, 4)], RecallMerge.ReciprocalRank, [0.0, 1.0]);
        Assert.Equal(new long[] { 9, 3, 2 }, (await dense.RecallAsync(Request(3, 4), 3)).Select(c => c.Item.Value));
        Assert.Throws<ArgumentException>(() => new CompositeRecall("u", [new RecallChannel(a)], RecallMerge.ReciprocalRank, [1.0, 2.0]));
        Assert.Throws<ArgumentException>(() => new CompositeRecall("u", [new RecallChannel(a)], RecallMerge.ReciprocalRank, [double.NaN]));
    }

    [Fact]
    public async Task History_and_excluded_items_are_never_returned()
    {
        var pipeline = new CascadePipeline("t", [new RecallChannel(new ListRecall("a", 1, 2, 3, 4, 5))]);
        var request = Request(10, 2, 4) with { ExcludedItems = new HashSet<ItemId> { new(5) } };

        var result = await pipeline.RecommendAsync(request);

        Assert.Equal(new long[] { 1, 3 }, Ids(result));
    }

    [Fact]
    public async Task History_is_kept_when_the_request_says_so()
    {
        var pipeline = new CascadePipeline("t", [new RecallChannel(new ListRecall("a", 1, 2, 3))]);

        var result = await pipeline.RecommendAsync(Request(10, 2) with { ExcludeHistory = false });

        Assert.Equal(new long[] { 1, 2, 3 }, Ids(result));
    }

    [Fact]
    public async Task Quota_is_what_each_channel_is_asked_for_and_null_follows_the_request()
    {
        var fixedQuota = new ListRecall("a", 1, 2, 3, 4);
        var following = new ListRecall("b", 5, 6, 7, 8);
        var pipeline = new CascadePipeline("t", [new RecallChannel(fixedQuota, 2), new RecallChannel(following)]);

        await pipeline.RecommendAsync(Request(3));

        Assert.Equal(2, fixedQuota.LastCount);
        Assert.Equal(3, following.LastCount);
    }

    [Fact]
    public async Task Ranker_sees_at_most_the_ranking_depth_and_the_result_is_truncated_to_the_count()
    {
        var ranker = new ByIdRanker();
        var pipeline = new CascadePipeline(
            "t",
            [new RecallChannel(new ListRecall("a", 9, 8, 7, 6, 5, 4), 6)],
            ranker,
            new CascadeOptions { RankingDepth = 4 });

        var result = await pipeline.RecommendAsync(Request(2));

        Assert.Equal(4, ranker.SeenCount);
        Assert.Equal(new long[] { 6, 7 }, Ids(result)); // ranked by id among the first four recalled (9, 8, 7, 6)
    }

    [Fact]
    public async Task Every_stage_is_timed_in_order()
    {
        var pipeline = new CascadePipeline(
            "t",
            [new RecallChannel(new ListRecall("a", 1, 2), 2), new RecallChannel(new ListRecall("b", 3), 1)],
            new ByIdRanker());

        var result = await pipeline.RecommendAsync(Request(5));

        Assert.Equal(new[] { "a", "b", "merge", "by-id" }, result.Stages.Select(s => s.Stage));
        Assert.Equal(new[] { StageKind.Recall, StageKind.Recall, StageKind.Merge, StageKind.Ranking }, result.Stages.Select(s => s.Kind));
        Assert.Equal(new[] { 2, 1, 3, 3 }, result.Stages.Select(s => s.Items));
        Assert.All(result.Stages, s => Assert.True(s.Elapsed >= TimeSpan.Zero));
    }

    [Fact]
    public async Task Sequential_and_concurrent_recall_give_the_same_list()
    {
        RecallChannel[] Channels() => [new(new ListRecall("a", 1, 2, 3), 3), new(new ListRecall("b", 4, 2, 5), 3), new(new ListRecall("c", 6), 1)];
        var concurrent = new CascadePipeline("t", Channels(), options: new CascadeOptions { ConcurrentRecall = true });
        var sequential = new CascadePipeline("t", Channels(), options: new CascadeOptions { ConcurrentRecall = false });

        Assert.Equal(Ids(await sequential.RecommendAsync(Request(10))), Ids(await concurrent.RecommendAsync(Request(10))));
    }

    [Fact]
    public void Invalid_configurations_are_refused_with_the_offending_value()
    {
        Assert.Throws<ArgumentException>(() => new CascadePipeline("t", []));
        var e = Assert.Throws<ArgumentException>(() => new CascadePipeline("t", [new RecallChannel(new ListRecall("pop"), 0)]));
        Assert.Contains("'pop'", e.Message, StringComparison.Ordinal);
        var d = Assert.Throws<ArgumentException>(() => new CascadePipeline("t", [new RecallChannel(new ListRecall("a"))], options: new CascadeOptions { RankingDepth = 0 }));
        Assert.Contains("RankingDepth", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_request_for_zero_items_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Request(0));
    }

    [Fact]
    public async Task A_failing_channel_fails_the_request_instead_of_returning_a_silent_empty_list()
    {
        var pipeline = new CascadePipeline("t", [new RecallChannel(new ListRecall("a", 1)), new RecallChannel(new ThrowingRecall())]);

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await pipeline.RecommendAsync(Request(5)));
    }

    [Fact]
    public async Task A_reward_model_reranks_a_generators_list_and_keeps_items_it_cannot_score_last()
    {
        // Reward: the item id for even ids, NaN (unknown to the reward) for 5; the history is passed through.
        var reward = new IdReward();
        var pipeline = new CascadePipeline("t", [new RecallChannel(new ListRecall("gen", 5, 1, 4, 2, 8))], RankingStage.FromReward(reward));

        var result = await pipeline.RecommendAsync(Request(5, 99));

        Assert.Equal([8, 4, 2, 1, 5], Ids(result));
        Assert.Equal(double.NegativeInfinity, result.Items[^1].Score);
        Assert.Equal([99L], reward.LastHistory);
        Assert.Equal("reward:ids", RankingStage.FromReward(reward).Name);
    }

    private sealed class IdReward : IRewardModel
    {
        public long[] LastHistory { get; private set; } = [];

        public string Name => "ids";

        public void Score(RecommendationRequest request, IReadOnlyList<ItemId> items, Span<double> destination)
        {
            LastHistory = [.. request.History.Select(e => e.Item.Value)];
            for (var i = 0; i < items.Count; i++)
            {
                destination[i] = items[i].Value == 5 ? double.NaN : items[i].Value;
            }
        }
    }

    private sealed class ThrowingRecall : IRecallStage
    {
        public string Name => "broken";

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("channel down");
    }
}
