using GenRec.Data;
using GenRec.SemanticIds;
using GenRec.TestSupport;

namespace GenRec.Training.Tests;

public sealed class TigerValidationTests
{
    [Fact]
    public void Validation_on_target_actions_keeps_the_item_a_user_was_only_shown()
    {
        // 40 users over 8 items, each shown an item and then buying it, three times. Split on purchases, the validation
        // target is the second purchase, whose item the history holds only as an impression. The validation lists (beam
        // 10) hold every item not bought before, so the target is in them: NDCG@10 above 0. Leaving out every history
        // item, impressions too, would make it exactly 0 (it did, on a 10 M-event simulated log).
        var events = new List<Interaction>();
        for (var u = 1; u <= 40; u++)
        {
            for (var k = 0; k < 3; k++)
            {
                var item = new ItemId(1 + ((u + k) % 8));
                events.Add(new Interaction(new UserId(u), item, float.NaN, events.Count, events.Count) { Action = ActionType.Impression });
                events.Add(new Interaction(new UserId(u), item, float.NaN, events.Count, events.Count) { Action = ActionType.Purchase });
            }
        }

        var catalogue = Enumerable.Range(1, 8).Select(i => new ItemId(i)).ToArray();
        var dataset = new InteractionDataset(events, catalogue.Select(i => new ItemRecord(i, string.Empty, [])));
        var split = LeaveOneOutSplit.Create(dataset, new HashSet<ActionType> { ActionType.Purchase });
        var random = new Random(7);
        var vectors = Enumerable.Range(0, catalogue.Length * 4).Select(_ => (float)random.NextDouble()).ToArray();
        var index = new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 2, CodebookSize = 4, MaxIterations = 5 }).Fit(new ItemEmbeddings(catalogue, vectors, 4));
        var epochs = new List<TigerTrainingProgress>();

        using var model = new TigerTrainer(new TigerTrainer.Options
        {
            Dimension = 16,
            Layers = 1,
            Heads = 2,
            MlpDimension = 32,
            MaxHistoryItems = 10,
            Epochs = 1,
            EvaluateEvery = 1,
            EvaluationBeamWidth = 10,
            Progress = new SyncProgress<TigerTrainingProgress>(epochs.Add),
        }).Fit(split, index);

        Assert.True(epochs[^1].ValidationNdcg10 > 0, $"validation NDCG@10 {epochs[^1].ValidationNdcg10}");
    }
}
