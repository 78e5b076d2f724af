using GenRec.Cascade;
using GenRec.Data;
using GenRec.Evaluation;
using GenRec.TestSupport;

namespace GenRec.Baselines.Tests;

/// <summary>Trains the cascade once (a small LightGBM setting, so the suite stays fast) and shares it.</summary>
public sealed class DlrmFixture
{
    public DlrmFixture()
    {
        Model = new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options
        {
            Grid = [new DlrmRankerSettings(Leaves: 31, Iterations: 100, LearningRate: 0.08, MinExamplesPerLeaf: 50)],
            Progress = new Recorded(Progress),
        }).Fit(TestData.Split);
    }

    public DlrmCascadeModel Model { get; }

    /// <summary>What the fit reported, in order.</summary>
    public List<TrainerProgress> Progress { get; } = [];

    private sealed class Recorded(List<TrainerProgress> list) : IProgress<TrainerProgress>
    {
        public void Report(TrainerProgress value)
        {
            lock (list)
            {
                list.Add(value);
            }
        }
    }
}

public sealed class DlrmCascadeTests(DlrmFixture fixture) : IClassFixture<DlrmFixture>
{
    [Fact]
    public void The_fit_reports_its_phases_in_order_each_typed_and_in_words()
    {
        TrainerPhase[] steps = [.. fixture.Progress.Select(p => p.Step).Where((s, i) => i == 0 || s != fixture.Progress[i - 1].Step)];
        Assert.Equal([TrainerPhase.FittingPrefixRecall, TrainerPhase.BuildingTrainingQueries, TrainerPhase.FittingRecall, TrainerPhase.BuildingValidationQueries, TrainerPhase.TrainingRanker, TrainerPhase.Done], steps);
        Assert.Contains(fixture.Progress, p => p.Step == TrainerPhase.TrainingRanker && p.Phase.StartsWith("training LambdaRank", StringComparison.Ordinal));
        Assert.All(fixture.Progress, p => Assert.InRange(p.Done, 0, p.Total));
    }

    [Fact]
    public async Task The_ranked_cascade_beats_item_cf_which_beats_popularity_on_validation()
    {
        var split = TestData.Split;
        var recall = fixture.Model.Recall;
        var options = new EvaluationOptions { TopK = 100 };

        var dlrm = await OfflineEvaluator.EvaluateAsync(fixture.Model.CreatePipeline(), split, SplitTarget.Valid, options);
        var itemCf = await OfflineEvaluator.EvaluateAsync(new CascadePipeline("itemcf", [new RecallChannel(recall.ItemCf)]), split, SplitTarget.Valid, options);
        var popularity = await OfflineEvaluator.EvaluateAsync(new CascadePipeline("pop", [new RecallChannel(recall.Popularity)]), split, SplitTarget.Valid, options);

        Assert.True(
            dlrm.Report["NDCG@10"] > itemCf.Report["NDCG@10"],
            $"dlrm {dlrm.Report["NDCG@10"]:0.0000} should beat itemcf {itemCf.Report["NDCG@10"]:0.0000}");
        Assert.True(
            itemCf.Report["NDCG@10"] > popularity.Report["NDCG@10"],
            $"itemcf {itemCf.Report["NDCG@10"]:0.0000} should beat popularity {popularity.Report["NDCG@10"]:0.0000}");
        Assert.False(dlrm.Problems.Any, dlrm.Problems.ToString());

        // The validation figure the trainer chose the ranker by is the one the evaluator measures.
        Assert.Equal(fixture.Model.Chosen.ValidationNdcg10, dlrm.Report["NDCG@10"], 6);
    }

    [Fact]
    public void The_trainer_reports_its_queries_and_grid()
    {
        var m = fixture.Model;

        Assert.Equal(3 * 671, m.TrainingQueries.Queries);
        Assert.InRange(m.TrainingQueries.RecallRate, 0.3, 1.0);
        Assert.Equal(671, m.ValidationQueries.Queries);
        Assert.Single(m.Grid);
        Assert.Same(m.Grid[0], m.Chosen);
    }

    [Fact]
    public async Task The_ranker_keeps_unknown_candidates_last_instead_of_failing()
    {
        var c = TestData.Split.Case(new UserId(3), SplitTarget.Test);
        var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
        Candidate[] candidates = [new(new ItemId(-7), 99, "generative"), new(new ItemId(260), 1, "itemcf"), new(new ItemId(1196), 1, "itemcf")];

        var ranked = await fixture.Model.Ranker.RankAsync(request, candidates);

        Assert.Equal(3, ranked.Count);
        Assert.Equal(-7, ranked[^1].Item.Value);
    }

    [Fact]
    public async Task Ranking_is_deterministic_and_thread_safe()
    {
        var pipeline = fixture.Model.CreatePipeline();
        var cases = TestData.Split.Cases(SplitTarget.Test).Take(40).ToArray();
        async Task<long[][]> RunAll() => await Task.WhenAll(cases.Select(async c =>
            (await pipeline.RecommendAsync(new RecommendationRequest(c.User, c.HistoryEvents(), 20, c.Target.Time))).Items.Select(i => i.Item.Value).ToArray()));

        var first = await RunAll();
        var second = await RunAll();

        Assert.Equal(first, second);
    }

    [Fact]
    public void A_large_log_trains_on_a_seeded_sample_of_users_each_with_all_of_their_queries()
    {
        // Every one of the 671 users has three ranker queries (2,013); capped at 300, a sample of 100 users brings all
        // of theirs, the same sample each time, spread over the users rather than the first hundred.
        DlrmCascadeModel Fit() => new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options
        {
            Grid = [new DlrmRankerSettings(Leaves: 15, Iterations: 30, LearningRate: 0.1, MinExamplesPerLeaf: 20)],
            MaxTrainingQueries = 300,
            MaxValidationQueries = 150,
            KeepRankingQueries = true,
        }).Fit(TestData.Split);

        var (first, second) = (Fit(), Fit());

        Assert.Equal(300, first.TrainingQueries.Queries);
        Assert.Equal(150, first.ValidationQueries.Queries);
        var users = first.RankingQueries.GroupBy(q => q.Request.User).ToArray();
        Assert.Equal(100, users.Length);
        Assert.All(users, u => Assert.Equal(3, u.Count()));
        Assert.True(users.Max(u => u.Key.Value) > TestData.Split.Train.Select(s => s.User.Value).Order().ElementAt(200), "a sample, not the first users");
        Assert.Equal(first.RankingQueries.Select(q => (q.Request.User, q.Request.RequestTime)), second.RankingQueries.Select(q => (q.Request.User, q.Request.RequestTime)));
        Assert.Equal(first.Chosen.ValidationNdcg10, second.Chosen.ValidationNdcg10);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options { MaxTrainingQueries = 0 }));
    }

    [Fact]
    public void Trainer_options_out_of_range_are_refused_by_name()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options { RankingDepth = 0 }));
        Assert.Contains("RankingDepth", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options { Grid = [] }));
    }
}
