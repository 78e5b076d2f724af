using GenRec.Cascade;
using GenRec.Data;
using GenRec.TestSupport;

namespace GenRec.Evaluation.Tests;

public sealed class ValidationSearchTests
{
    /// <summary>Puts one target of each user (validation or test) at a fixed rank.</summary>
    private sealed class Oracle(DataSplit split, SplitTarget target, int rank) : IRecallStage
    {
        public string Name => "oracle";

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
        {
            var item = split.Case(request.User, target).Target.Item;
            var fillers = split.Dataset.Catalogue.Where(i => i != item && !request.IsExcluded(i)).Take(Math.Max(count, rank)).ToList();
            if (!request.IsExcluded(item))
            {
                fillers.Insert(rank - 1, item);
            }

            return ValueTask.FromResult<IReadOnlyList<Candidate>>([.. fillers.Take(count).Select(i => new Candidate(i, 0, Name))]);
        }
    }

    [Fact]
    public async Task The_search_keeps_the_setting_best_on_validation_and_never_reads_test()
    {
        var split = TestData.Split;
        (SplitTarget Target, int Rank)[] settings = [(SplitTarget.Valid, 30), (SplitTarget.Valid, 3), (SplitTarget.Test, 1), (SplitTarget.Valid, 7), (SplitTarget.Valid, 3)];

        var result = await ValidationSearch.ChooseAsync(
            split,
            settings,
            s => new CascadePipeline("oracle", [new RecallChannel(new Oracle(split, s.Target, s.Rank))]),
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(settings, result.Trials.Select(t => t.Setting));
        Assert.Same(result.Trials[1], result.Best); // rank 3 on validation; the first of two equals
        Assert.Equal(RankingMetrics.Ndcg(3, 10), result.Best.Ndcg10, 12);
        Assert.Equal(RankingMetrics.Ndcg(30, 10), result.Trials[0].Ndcg10, 12);

        // An oracle of the test target is no better than chance on validation: the search cannot be steered by test.
        Assert.True(result.Trials[2].Ndcg10 < 0.05, $"test oracle scored {result.Trials[2].Ndcg10:0.000} on validation");
    }
}
