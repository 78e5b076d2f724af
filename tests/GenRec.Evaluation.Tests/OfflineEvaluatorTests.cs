using GenRec.Cascade;
using GenRec.Data;
using GenRec.TestSupport;

namespace GenRec.Evaluation.Tests;

public sealed class OfflineEvaluatorTests
{
    /// <summary>Recommends the held-out item at a fixed rank when it knows it: an oracle to check the bookkeeping.</summary>
    private sealed class OracleRecall(DataSplit split, int rank) : IRecallStage
    {
        public string Name => "oracle";

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
        {
            var target = split.Case(request.User, SplitTarget.Test).Target.Item;
            var fillers = split.Dataset.Catalogue.Where(i => i != target && !request.IsExcluded(i)).Take(count).ToList();
            fillers.Insert(rank - 1, target);
            return ValueTask.FromResult<IReadOnlyList<Candidate>>(fillers.Take(count).Select(i => new Candidate(i, 0, Name)).ToArray());
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(30)]
    public async Task An_oracle_at_rank_r_scores_exactly_the_rank_r_metrics_on_real_data(int rank)
    {
        var split = TestData.Split;
        var recommender = new CascadePipeline("oracle", [new RecallChannel(new OracleRecall(split, rank))]);

        var result = await OfflineEvaluator.EvaluateAsync(recommender, split, SplitTarget.Test, new EvaluationOptions { TopK = 100 });

        Assert.Equal(671, result.Report.Users);
        Assert.Equal(RankingMetrics.HitRate(rank, 10), result.Report["HR@10"], 12);
        Assert.Equal(RankingMetrics.Ndcg(rank, 10), result.Report["NDCG@10"], 12);
        Assert.Equal(RankingMetrics.Ndcg(rank, 50), result.Report["NDCG@50"], 12);
        Assert.Equal(1.0 / rank, result.Report["MRR"], 12);
        Assert.False(result.Problems.Any, result.Problems.ToString());
        Assert.Equal(671, result.LatencyMilliseconds.Count);
        Assert.All(result.Lists.Values, l => Assert.Equal(100, l.Count));
    }

    private sealed class FixedRecall(params long[] items) : IRecallStage
    {
        public string Name => "fixed";

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IReadOnlyList<Candidate>>(items.Select(i => new Candidate(new ItemId(i), 0, Name)).ToArray());
    }

    [Fact]
    public async Task With_target_actions_lists_may_hold_items_the_user_was_only_shown()
    {
        // Each user: shown 10, bought 11, shown 12, bought 13. Split on purchases: the test target is 13, with 10, 11, 12
        // as history. The recommender lists 12, 10, 11, 13 (the shown items first).
        var events = new List<Interaction>();
        for (var u = 1; u <= 3; u++)
        {
            ActionType[] kinds = [ActionType.Impression, ActionType.Purchase, ActionType.Impression, ActionType.Purchase];
            for (var i = 0; i < kinds.Length; i++)
            {
                events.Add(new Interaction(new UserId(u), new ItemId(10 + i), float.NaN, 100 + i, events.Count) { Action = kinds[i] });
            }
        }

        var dataset = new InteractionDataset(events, Enumerable.Range(10, 4).Select(i => new ItemRecord(new ItemId(i), string.Empty, [])));
        var purchases = new HashSet<ActionType> { ActionType.Purchase };
        var split = LeaveOneOutSplit.Create(dataset, purchases);
        var recommender = new CascadePipeline("fixed", [new RecallChannel(new FixedRecall(12, 10, 11, 13))]);

        var everything = await OfflineEvaluator.EvaluateAsync(recommender, split, SplitTarget.Test, new EvaluationOptions { TopK = 2, ExcludeHistoryActions = EvaluationOptions.EveryAction });
        var onlyPurchases = await OfflineEvaluator.EvaluateAsync(recommender, split, SplitTarget.Test, new EvaluationOptions { TopK = 2, ExcludeHistoryActions = purchases });
        var byDefault = await OfflineEvaluator.EvaluateAsync(recommender, split, SplitTarget.Test, new EvaluationOptions { TopK = 2 });

        Assert.Equal(3, everything.Report.Users);
        Assert.Equal(1.0, everything.Report["MRR"], 12); // 10, 11 and 12 left out: 13 first
        Assert.Equal([new ItemId(12), new ItemId(10)], onlyPurchases.Lists[new UserId(1)]); // shown items stay, 11 (bought) goes
        Assert.Equal(0, onlyPurchases.Problems.HistoryItems);
        Assert.Equal(0.0, onlyPurchases.Report["HR@10"], 12);

        // Left to its default, an evaluation of a split on purchases leaves out what the split's targets can be: purchases.
        Assert.Equal(onlyPurchases.Lists[new UserId(1)], byDefault.Lists[new UserId(1)]);
        Assert.Equal(onlyPurchases.Report["MRR"], byDefault.Report["MRR"], 12);
    }

    [Fact]
    public async Task A_validation_search_on_target_actions_keeps_the_item_a_user_was_shown_and_then_bought()
    {
        // Each user: shown 10, bought 10, shown 12, bought 13. Split on purchases: the validation target is the purchase
        // of 10, whose history is the impression of 10. A setting listing 10 first is right; leaving out every history
        // item (impressions too) would score both settings 0 and keep the first.
        var events = new List<Interaction>();
        for (var u = 1; u <= 3; u++)
        {
            (int Item, ActionType Kind)[] log = [(10, ActionType.Impression), (10, ActionType.Purchase), (12, ActionType.Impression), (13, ActionType.Purchase)];
            foreach (var (item, kind) in log)
            {
                events.Add(new Interaction(new UserId(u), new ItemId(item), float.NaN, 100 + events.Count, events.Count) { Action = kind });
            }
        }

        var dataset = new InteractionDataset(events, Enumerable.Range(10, 4).Select(i => new ItemRecord(new ItemId(i), string.Empty, [])));
        var split = LeaveOneOutSplit.Create(dataset, new HashSet<ActionType> { ActionType.Purchase });

        var search = await ValidationSearch.ChooseAsync(split, ["11 first", "10 first"], setting => new CascadePipeline(setting, [new RecallChannel(setting == "10 first" ? new FixedRecall(10, 11) : new FixedRecall(11, 12))]));

        Assert.Equal("10 first", search.Best.Setting);
        Assert.Equal(1.0, search.Best.Ndcg10, 12);
        Assert.Equal(0.0, search.Trials[0].Ndcg10, 12);
    }

    [Fact]
    public async Task Short_lists_are_reported_not_hidden()
    {
        var recommender = new CascadePipeline("fixed", [new RecallChannel(new FixedRecall(1, 2, 3))]);

        var result = await OfflineEvaluator.EvaluateAsync(recommender, TestData.Split, SplitTarget.Valid, new EvaluationOptions { TopK = 100, MaxUsers = 20 });

        Assert.Equal(20, result.Problems.ShortLists);
        Assert.Equal(20, result.Report.Users);
    }

    [Fact]
    public async Task Progress_reaches_the_total()
    {
        var seen = new List<EvaluationProgress>();
        var progress = new SynchronousProgress(seen.Add);
        var recommender = new CascadePipeline("fixed", [new RecallChannel(new FixedRecall(1, 2, 3))]);

        await OfflineEvaluator.EvaluateAsync(recommender, TestData.Split, SplitTarget.Valid, new EvaluationOptions { TopK = 3, MaxUsers = 50 }, progress);

        Assert.Equal(new EvaluationProgress(50, 50, seen[^1].Elapsed), seen[^1]);
    }

    private sealed class SynchronousProgress(Action<EvaluationProgress> report) : IProgress<EvaluationProgress>
    {
        public void Report(EvaluationProgress value) => report(value);
    }
}
