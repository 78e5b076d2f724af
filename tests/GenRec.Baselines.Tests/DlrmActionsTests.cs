using GenRec.Data;
using GenRec.Data.Synthetic;

namespace GenRec.Baselines.Tests;

/// <summary>The cascade on a log with impressions, clicks and purchases, split on purchases ("evaluate on purchases").</summary>
public sealed class DlrmActionsTests
{
    private static readonly HashSet<ActionType> Purchases = [ActionType.Purchase];

    [Fact]
    public void Ranker_training_queries_ask_for_purchases_and_keep_items_the_user_was_only_shown()
    {
        var dataset = EventLogSimulator.Generate(new SimulatorOptions { Events = 40_000, Seed = 7 });
        var split = LeaveOneOutSplit.Create(dataset, Purchases);
        var model = new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options
        {
            Grid = [new DlrmRankerSettings(Leaves: 15, Iterations: 20, LearningRate: 0.1, MinExamplesPerLeaf: 20)],
            QueriesPerUser = 1,
            KeepRankingQueries = true,
        }).Fit(split);

        var actions = dataset.Interactions.GroupBy(e => (e.User, e.Item, e.Timestamp)).ToDictionary(g => g.Key, g => g.Select(e => e.EffectiveAction).ToHashSet());
        var queries = model.RankingQueries;
        Assert.NotEmpty(queries);
        var withTarget = queries.Where(q => q.Target >= 0).ToArray();
        Assert.NotEmpty(withTarget);

        // Each pseudo-target is a purchase of the train part (the user's last one), never an impression or a click.
        Assert.All(withTarget, q =>
        {
            var key = (q.Request.User, q.Candidates[q.Target].Item, q.Request.RequestTime.ToUnixTimeSeconds());
            Assert.Contains(ActionType.Purchase, actions[key]);
        });

        // Lists leave out only what the user bought: items merely shown (or clicked) before stay candidates.
        Assert.All(queries, q => Assert.Equal(Purchases, q.Request.ExcludeHistoryActions));
        var shownCandidates = queries.Sum(q =>
        {
            var bought = q.Request.History.Where(e => e.Action == ActionType.Purchase).Select(e => e.Item).ToHashSet();
            var shown = q.Request.History.Where(e => e.Action != ActionType.Purchase).Select(e => e.Item).ToHashSet();
            Assert.DoesNotContain(q.Candidates, c => bought.Contains(c.Item));
            return q.Candidates.Count(c => shown.Contains(c.Item));
        });
        Assert.True(shownCandidates > 0, "no query kept an item the user was only shown among its candidates");
    }
}
