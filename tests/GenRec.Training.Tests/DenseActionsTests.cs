using GenRec.Cascade;
using GenRec.Data;
using GenRec.Data.Synthetic;
using GenRec.Evaluation;
using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.TestSupport;
using GenRec.Training.Onnx;

namespace GenRec.Training.Tests;

/// <summary>
/// A log where the actions say where a user's interest is: a purchase moves it to the bought item's topic, and most of
/// the impressions that follow are of that topic, the rest strays from any other. What a user was last shown and what
/// they last bought look alike by their items; only the actions tell a stray impression from a purchase that moved the
/// interest. Two small dense models are trained on it: one left to decide (auto: it reads them, the log holding several
/// actions), one told not to (the default).
/// </summary>
public sealed class ActionTopicsFixture : IDisposable
{
    private const int Topics = PlantedTopicsFixture.Topics;

    public ActionTopicsFixture()
    {
        var random = new Random(7);
        var items = new List<ItemRecord>();
        var rows = new List<(ItemId, ReadOnlyMemory<float>)>();
        for (var i = 0; i < Topics * PlantedTopicsFixture.ItemsPerTopic; i++)
        {
            var id = new ItemId(i + 1);
            items.Add(new ItemRecord(id, $"item {i + 1}", [$"topic {i / PlantedTopicsFixture.ItemsPerTopic}"]));
            rows.Add((id, PlantedTopicsFixture.TopicVector(i / PlantedTopicsFixture.ItemsPerTopic, random)));
        }

        var interactions = new List<Interaction>();
        var row = 0;
        for (var u = 0; u < Users; u++)
        {
            var interest = random.Next(Topics);
            var t = 1_000_000L;
            for (var e = 0; e < 24; e++)
            {
                ActionType action;
                int topic;
                if (e == 0 || random.NextDouble() < 0.25)
                {
                    action = ActionType.Purchase;
                    interest = e == 0 ? interest : Other(interest, random);
                    topic = interest;
                }
                else
                {
                    action = ActionType.Impression;
                    topic = random.NextDouble() < 0.8 ? interest : Other(interest, random);
                }

                interactions.Add(new Interaction(new UserId(u + 1), Item(topic, random), float.NaN, t++, row++) { Action = action });
            }
        }

        Content = ItemEmbeddings.FromRows(rows);
        Split = LeaveOneOutSplit.Create(new InteractionDataset(interactions, items));
        var options = new DenseRetrievalTrainer.Options
        {
            Dimension = 32, Layers = 2, Heads = 2, MlpDimension = 64, MaxHistory = 16, Epochs = 30, Patience = 30, BatchSize = 32, LearningRate = 1e-2, Seed = 11,
        };
        Reading = new DenseRetrievalTrainer(options with { ReadActions = null }).Fit(Split, Content, "test:action-topics"); // auto: several actions
        Blind = new DenseRetrievalTrainer(options with { ReadActions = false }).Fit(Split, Content, "test:action-topics");
    }

    public const int Users = 480;

    public ItemEmbeddings Content { get; }

    public DataSplit Split { get; }

    /// <summary>The model reading actions (auto).</summary>
    public DenseRetrievalModel Reading { get; }

    /// <summary>The model told not to read actions.</summary>
    public DenseRetrievalModel Blind { get; }

    /// <summary>A topic other than <paramref name="topic"/>.</summary>
    public static int Other(int topic, Random random) => (topic + 1 + random.Next(Topics - 1)) % Topics;

    /// <summary>An item of a topic.</summary>
    public static ItemId Item(int topic, Random random) => new((topic * PlantedTopicsFixture.ItemsPerTopic) + random.Next(PlantedTopicsFixture.ItemsPerTopic) + 1);

    /// <summary>
    /// A new user's history: a purchase in topic <paramref name="interest"/>, impressions mostly of it, then an item of
    /// topic <paramref name="last"/> with the action <paramref name="action"/>.
    /// </summary>
    public static UserEvent[] History(int interest, int last, ActionType action, Random random)
    {
        var user = new UserId(1_000_000);
        var time = DateTimeOffset.FromUnixTimeSeconds(1_000_000);
        var events = new List<UserEvent> { new(user, Item(interest, random), ActionType.Purchase, time) };
        foreach (var stray in new[] { false, true, false, false, true, false })
        {
            time = time.AddSeconds(1);
            events.Add(new UserEvent(user, Item(stray ? Other(interest, random) : interest, random), ActionType.Impression, time));
        }

        events.Add(new UserEvent(user, Item(last, random), action, time.AddSeconds(1)));
        return [.. events];
    }

    public void Dispose()
    {
        Reading.Dispose();
        Blind.Dispose();
    }
}

public sealed class DenseActionsTests(ActionTopicsFixture fixture) : IClassFixture<ActionTopicsFixture>
{
    private static int Topic(ItemId item) => (int)((item.Value - 1) / PlantedTopicsFixture.ItemsPerTopic);

    [Fact]
    public async Task A_model_reading_actions_follows_a_purchase_and_not_a_stray_impression()
    {
        Assert.True(fixture.Reading.ReadsActions);
        var random = new Random(3);
        int followed = 0, lists = 0;
        for (var i = 0; i < 24; i++)
        {
            var interest = random.Next(PlantedTopicsFixture.Topics);
            var last = ActionTopicsFixture.Other(interest, random);
            var seed = random.Next();

            // The same items both times; only the last event's action differs.
            foreach (var (action, topic) in new[] { (ActionType.Purchase, last), (ActionType.Impression, interest) })
            {
                var history = ActionTopicsFixture.History(interest, last, action, new Random(seed));
                var candidates = await fixture.Reading.AsRecall().RecallAsync(new RecommendationRequest(history[0].User, history, 5, DateTimeOffset.UnixEpoch), 5, TestContext.Current.CancellationToken);
                followed += candidates.Count(c => Topic(c.Item) == topic);
                lists += candidates.Count;
            }
        }

        // A model that cannot tell the two apart gives one list for both, right at most half the time.
        Assert.True(followed >= 0.8 * lists, $"{followed} of {lists} candidates in the topic the actions point to (validation NDCG@10 {fixture.Reading.Report.ValidationNdcg10:0.000} at epoch {fixture.Reading.Report.BestEpoch}; blind {fixture.Blind.Report.ValidationNdcg10:0.000})");
    }

    [Fact]
    public void A_model_told_not_to_read_actions_gives_one_query_whatever_they_are()
    {
        Assert.False(fixture.Blind.ReadsActions);
        var purchase = ActionTopicsFixture.History(2, 5, ActionType.Purchase, new Random(1));
        var impression = ActionTopicsFixture.History(2, 5, ActionType.Impression, new Random(1));

        Assert.Equal(fixture.Blind.UserVector(purchase), fixture.Blind.UserVector(impression));
        Assert.NotEqual(fixture.Reading.UserVector(purchase), fixture.Reading.UserVector(impression));
    }

    [Fact]
    public async Task On_a_split_of_target_actions_its_validation_figure_is_what_evaluation_measures()
    {
        // Evaluated on clicks and purchases, lists keep the items a user was only shown: the trainer's validation must
        // rank the target among them too, or it picks epochs by a figure evaluation never sees.
        var dataset = EventLogSimulator.Generate(new SimulatorOptions { Events = 20_000, Seed = 3 });
        var split = LeaveOneOutSplit.Create(dataset, new HashSet<ActionType> { ActionType.Click, ActionType.Purchase });
        var random = new Random(1);
        var content = ItemEmbeddings.FromRows(dataset.Catalogue.Select(i => (i, (ReadOnlyMemory<float>)Enumerable.Range(0, 8).Select(_ => (float)random.NextDouble()).ToArray())));
        using var model = new DenseRetrievalTrainer(new DenseRetrievalTrainer.Options
        {
            Dimension = 16, Layers = 1, Heads = 1, MlpDimension = 16, MaxHistory = 10, Epochs = 2, Patience = 2, BatchSize = 64, ValidationUsers = 150, SampledNegatives = 64,
        }).Fit(split, content, "test:random");

        var evaluated = await OfflineEvaluator.EvaluateAsync(
            new CascadePipeline("dense", [new RecallChannel(model.AsRecall())]), split, SplitTarget.Valid, new EvaluationOptions { TopK = 10, Cutoffs = [10], MaxUsers = 150 }, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(150, evaluated.Report.Users);
        Assert.Equal(evaluated.Report["NDCG@10"], model.Report.ValidationNdcg10, 2);
        Assert.True(model.Report.ValidationNdcg10 > 0, "the model finds some validation targets");
    }

    [Fact]
    public void With_positive_actions_only_their_events_are_learned_as_next_items_and_every_event_is_read()
    {
        // One user: shown 1, clicked 1, shown 2, bought 2, shown 3 (catalogue positions 0-2 of items 1-3).
        ActionType[] kinds = [ActionType.Impression, ActionType.Click, ActionType.Impression, ActionType.Purchase, ActionType.Impression];
        long[] items = [1, 1, 2, 2, 3];
        var events = kinds.Select((k, i) => new Interaction(new UserId(1), new ItemId(items[i]), float.NaN, 100 + i, i) { Action = k }).ToArray();
        var position = new Dictionary<ItemId, int> { [new(1)] = 0, [new(2)] = 1, [new(3)] = 2 };
        var sequence = DenseSequence.Of(events, position, actions: true, new HashSet<ActionType> { ActionType.Click, ActionType.Purchase });

        var (inputs, targets, valid, actions, learn) = DenseRetrievalTrainer.Batch([sequence], pad: 3, TorchSharp.torch.CPU);

        Assert.Equal([0L, 0, 1, 1], inputs.data<long>().ToArray()); // every event but the last is read …
        Assert.Equal([true, true, true, true], valid.data<bool>().ToArray());
        Assert.Equal([(long)DenseGraphContract.ActionToken(ActionType.Impression), DenseGraphContract.ActionToken(ActionType.Click), DenseGraphContract.ActionToken(ActionType.Impression), DenseGraphContract.ActionToken(ActionType.Purchase)], actions!.data<long>().ToArray());
        Assert.Equal([true, false, true, false], learn.data<bool>().ToArray()); // … and only the click and the purchase are learned
        Assert.Equal([0L, 1, 1, 2], targets.data<long>().ToArray());

        // Without positives every next item is learned; a window whose only events after the first are impressions teaches nothing.
        Assert.All(DenseRetrievalTrainer.Batch([DenseSequence.Of(events, position, actions: true)], 3, TorchSharp.torch.CPU).Learn.data<bool>().ToArray(), Assert.True);
        Assert.False(sequence.Slice(3, 5).LearnsSomething);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DenseRetrievalTrainer(new DenseRetrievalTrainer.Options { PositiveActions = new HashSet<ActionType>() }));
    }

    [Fact]
    public void A_log_of_one_action_trains_a_model_that_does_not_read_them()
    {
        // MovieLens: every event a rating, so "auto" leaves actions out and its models stay as they were.
        using var model = new DenseRetrievalTrainer(new DenseRetrievalTrainer.Options
        {
            ReadActions = null, Dimension = 8, Layers = 1, Heads = 1, MlpDimension = 8, MaxHistory = 4, Epochs = 1, BatchSize = 256, ValidationUsers = 5, SampledNegatives = 16,
        }).Fit(TestData.Split, ItemEmbeddings.FromRows(TestData.Split.Dataset.Catalogue.Select(i => (i, (ReadOnlyMemory<float>)new float[] { i.Value % 7, 1 }))), "test:two");

        Assert.False(model.ReadsActions);
    }

    [Fact]
    public async Task Saved_and_served_models_read_actions_as_trained()
    {
        using var folder = TestData.TempFolder();
        fixture.Reading.Save(folder.File("torch"));
        using var loaded = DenseRetrievalModel.Load(folder.File("torch"), ComputeDevice.Cpu);
        var manifest = DenseOnnxExporter.Export(fixture.Reading, folder.File("onnx"));
        using var served = OnnxDenseRetriever.Load(folder.File("onnx"), new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });

        Assert.True(loaded.ReadsActions);
        Assert.True(manifest.ReadsActions);
        var random = new Random(2);
        for (var i = 0; i < 8; i++)
        {
            var interest = random.Next(PlantedTopicsFixture.Topics);
            foreach (var last in new[] { ActionType.Purchase, ActionType.Impression, ActionType.Click })
            {
                var history = ActionTopicsFixture.History(interest, ActionTopicsFixture.Other(interest, random), last, random);
                var user = history[0].User;
                var expected = fixture.Reading.UserVector(history);
                Assert.Equal(expected, loaded.UserVector(history));
                Assert.All(expected.Zip(served.UserVector(history)), p => Assert.Equal(p.First, p.Second, 1e-4f));
                var request = new RecommendationRequest(user, history, 10, DateTimeOffset.UnixEpoch);
                Assert.Equal(
                    (await fixture.Reading.AsRecall().RecallAsync(request, 10, TestContext.Current.CancellationToken)).Select(c => c.Item),
                    (await served.RecallAsync(request, 10, TestContext.Current.CancellationToken)).Select(c => c.Item));
            }
        }

        // An empty history reads one padding position, actions included.
        Assert.All(fixture.Reading.UserVector([]).Zip(served.UserVector([])), p => Assert.Equal(p.First, p.Second, 1e-4f));
    }

    [Fact]
    public void A_served_folder_whose_manifest_and_user_tower_disagree_on_actions_is_refused()
    {
        using var folder = TestData.TempFolder();
        DenseOnnxExporter.Export(fixture.Reading, folder.Path);
        var path = Path.Combine(folder.Path, DenseGraphContract.ManifestFile);
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
        manifest["readsActions"] = false;
        File.WriteAllText(path, manifest.ToJsonString());

        var error = Assert.Throws<InvalidDataException>(() => OnnxDenseRetriever.Load(folder.Path));
        Assert.Contains("'actions' input", error.Message, StringComparison.Ordinal);

        manifest["readsActions"] = true;
        manifest["formatVersion"] = 2;
        File.WriteAllText(path, manifest.ToJsonString());
        Assert.Contains("actions need 3", Assert.Throws<InvalidDataException>(() => OnnxDenseRetriever.Load(folder.Path)).Message, StringComparison.Ordinal);
    }
}
