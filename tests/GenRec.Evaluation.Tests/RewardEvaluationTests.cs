using GenRec.Data;
using GenRec.TestSupport;

namespace GenRec.Evaluation.Tests;

public sealed class RewardEvaluationTests
{
    [Fact]
    public void A_reward_that_knows_the_held_out_ratings_has_both_aucs_at_one()
    {
        var targets = TestData.Split.Cases(SplitTarget.Valid).ToDictionary(c => (c.User, c.Target.Item), c => (double)c.Target.Rating);
        var oracle = new FuncReward((request, item) => targets.TryGetValue((request.User, item), out var rating) ? rating : -1);

        var accuracy = RewardEvaluation.Evaluate(oracle, TestData.Split, SplitTarget.Valid, negatives: 5);

        Assert.Equal(1, accuracy.RatingAuc, 9);
        Assert.Equal(1, accuracy.EngagementAuc, 9);
        Assert.Equal(TestData.Split.Cases(SplitTarget.Valid).Count, accuracy.EngagementTargets);
        Assert.Equal(accuracy.EngagementTargets, accuracy.RatedTargets);
    }

    [Fact]
    public void A_constant_reward_has_no_skill_and_one_that_knows_nothing_gives_no_figure()
    {
        var constant = RewardEvaluation.Evaluate(new FuncReward((_, _) => 0.3), TestData.Split, SplitTarget.Test, negatives: 3);
        Assert.Equal(0.5, constant.RatingAuc, 9);
        Assert.Equal(0.5, constant.EngagementAuc, 9);

        var unknown = RewardEvaluation.Evaluate(new FuncReward((_, _) => double.NaN), TestData.Split, SplitTarget.Test, negatives: 3);
        Assert.True(double.IsNaN(unknown.RatingAuc) && double.IsNaN(unknown.EngagementAuc));
        Assert.Equal((0, 0), (unknown.RatedTargets, unknown.EngagementTargets));
    }

    [Fact]
    public void A_reversed_reward_ranks_every_target_below_its_negatives()
    {
        var targets = TestData.Split.Cases(SplitTarget.Test).ToDictionary(c => (c.User, c.Target.Item), c => (double)c.Target.Rating);
        var reversed = new FuncReward((request, item) => targets.TryGetValue((request.User, item), out var rating) ? -rating : 1);

        var accuracy = RewardEvaluation.Evaluate(reversed, TestData.Split, SplitTarget.Test, negatives: 4);

        Assert.Equal(0, accuracy.RatingAuc, 9);
        Assert.Equal(0, accuracy.EngagementAuc, 9);
        Assert.Throws<ArgumentOutOfRangeException>(() => RewardEvaluation.Evaluate(reversed, TestData.Split, SplitTarget.Test, negatives: 0));
    }

    private sealed class FuncReward(Func<RecommendationRequest, ItemId, double> score) : IRewardModel
    {
        public string Name => "test";

        public void Score(RecommendationRequest request, IReadOnlyList<ItemId> items, Span<double> destination)
        {
            for (var i = 0; i < items.Count; i++)
            {
                destination[i] = score(request, items[i]);
            }
        }
    }
}
