using GenRec.Data;
using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.TestSupport;
using GenRec.Training.Onnx;
using Microsoft.Extensions.VectorData;
using TorchSharp;

namespace GenRec.Training.Tests;

/// <summary>
/// A catalogue with planted structure: 8 topics of 25 items whose content vectors say their topic (a noisy one-hot),
/// and users who each watch items of one topic. A small dense model is trained once on it and shared.
/// </summary>
public sealed class PlantedTopicsFixture : IDisposable
{
    public const int Topics = 8;
    public const int ItemsPerTopic = 25;
    public const int ContentDimension = 16;

    public PlantedTopicsFixture()
    {
        var random = new Random(5);
        var items = new List<ItemRecord>();
        var rows = new List<(ItemId, ReadOnlyMemory<float>)>();
        for (var i = 0; i < Topics * ItemsPerTopic; i++)
        {
            var id = new ItemId(i + 1);
            items.Add(new ItemRecord(id, $"item {i + 1}", [$"topic {i / ItemsPerTopic}"]));
            rows.Add((id, TopicVector(i / ItemsPerTopic, random)));
        }

        var interactions = new List<Interaction>();
        var row = 0;
        for (var u = 0; u < 96; u++)
        {
            var topic = u % Topics;
            var watched = Enumerable.Range(topic * ItemsPerTopic, ItemsPerTopic).OrderBy(_ => random.Next()).Take(18);
            var t = 1_000_000L;
            foreach (var i in watched)
            {
                interactions.Add(new Interaction(new UserId(u + 1), new ItemId(i + 1), 4, t++, row++));
            }
        }

        Content = ItemEmbeddings.FromRows(rows);
        Split = LeaveOneOutSplit.Create(new InteractionDataset(interactions, items));
        Model = new DenseRetrievalTrainer(new DenseRetrievalTrainer.Options
        {
            Dimension = 16, Layers = 1, Heads = 1, MlpDimension = 32, MaxHistory = 10, Epochs = 12, Patience = 12, BatchSize = 32, LearningRate = 3e-3, Seed = 11,
        }).Fit(Split, Content, "test:planted-topics");
    }

    public ItemEmbeddings Content { get; }

    public DataSplit Split { get; }

    public DenseRetrievalModel Model { get; }

    /// <summary>A noisy one-hot content vector of a topic.</summary>
    public static ReadOnlyMemory<float> TopicVector(int topic, Random random)
    {
        var v = new float[ContentDimension];
        for (var j = 0; j < v.Length; j++)
        {
            v[j] = (float)(random.NextDouble() * 0.2);
        }

        v[topic] += 1;
        return v;
    }

    /// <summary>A request for a user of the planted data at the end of their history.</summary>
    public RecommendationRequest Request(UserId user, int count = 10)
    {
        var c = Split.Case(user, SplitTarget.Test);
        return new RecommendationRequest(user, [.. c.History.Append(c.Target).Select(i => i.ToEvent())], count, c.Target.Time.AddMinutes(1));
    }

    public void Dispose() => Model.Dispose();
}

public sealed class DenseRetrievalTests(PlantedTopicsFixture fixture) : IClassFixture<PlantedTopicsFixture>
{
    private static readonly UserId TopicThreeUser = new(4); // users u + 1 with u % 8 == 3
    private static readonly UserId TopicFiveUser = new(6);

    private static int Topic(ItemId item) => (int)((item.Value - 1) / PlantedTopicsFixture.ItemsPerTopic);

    [Fact]
    public async Task Recalls_unseen_items_of_the_users_topic_and_never_history()
    {
        var request = fixture.Request(TopicThreeUser);

        var candidates = await fixture.Model.AsRecall().RecallAsync(request, 5);

        Assert.Equal(5, candidates.Count);
        Assert.All(candidates, c => Assert.Equal(3, Topic(c.Item)));
        Assert.DoesNotContain(candidates, c => request.HistoryItems.Contains(c.Item));
        Assert.Equal("dense", candidates[0].Source);
        Assert.True(fixture.Model.Report.ValidationNdcg10 > 0.2, $"validation NDCG@10 {fixture.Model.Report.ValidationNdcg10:0.000}");
    }

    [Fact]
    public async Task Sampled_softmax_learns_the_planted_topics_too()
    {
        // Each step scores its next items against themselves and 20 of the 200 items drawn at random, not all 200.
        using var sampled = new DenseRetrievalTrainer(new DenseRetrievalTrainer.Options
        {
            Dimension = 16, Layers = 1, Heads = 1, MlpDimension = 32, MaxHistory = 10, Epochs = 12, Patience = 12, BatchSize = 32, LearningRate = 3e-3, Seed = 11,
            SampledNegatives = 20,
        }).Fit(fixture.Split, fixture.Content, "test:planted-topics");

        var candidates = await sampled.AsRecall().RecallAsync(fixture.Request(TopicThreeUser), 5, TestContext.Current.CancellationToken);
        Assert.All(candidates, c => Assert.Equal(3, Topic(c.Item)));
        Assert.True(sampled.Report.ValidationNdcg10 > 0.2, $"validation NDCG@10 {sampled.Report.ValidationNdcg10:0.000}");
        Assert.Throws<ArgumentOutOfRangeException>(() => new DenseRetrievalTrainer(new DenseRetrievalTrainer.Options { SampledNegatives = -1 }));
    }

    [Fact]
    public void A_sampled_step_renumbers_what_it_reads_and_predicts_and_labels_every_target()
    {
        // Two windows over a 12-item catalogue (12 is padding): inputs [pad, 5, 3] and [4, 4, 7], next items 3, 7, 9, 2.
        using var inputs = torch.tensor(new long[] { 12, 5, 3, 4, 4, 7 }).reshape(2, 3);
        using var targets = torch.tensor(new long[] { 3, 7, 9, 2 });
        var (rows, local, labels) = DenseRetrievalTrainer.SampleItems(inputs, targets, catalogue: 12, negatives: 30, new Random(1), torch.CPU);
        var r = rows.data<long>().ToArray();

        Assert.Equal(r.Length, r.Distinct().Count());
        Assert.All(r, row => Assert.InRange(row, 0, 11));
        Assert.Equal([3L, 7, 9, 2], labels.data<long>().ToArray().Select(p => r[p]));
        Assert.Equal([r.Length, 5L, 3, 4, 4, 7], local.data<long>().ToArray().Select(p => p == r.Length ? r.Length : r[p]));
        Assert.True(r.Length > 6); // negatives were added beside the five items read or predicted
        rows.Dispose();
        local.Dispose();
        labels.Dispose();
    }

    [Fact]
    public async Task An_item_added_after_training_with_content_only_is_recalled_for_users_of_its_topic_at_once()
    {
        // A model of its own: adding items changes the catalogue the shared model serves.
        using var folder = TestData.TempFolder();
        fixture.Model.Save(folder.Path);
        using var model = DenseRetrievalModel.Load(folder.Path, ComputeDevice.Cpu);
        var newItem = new ItemId(10_001);
        Assert.DoesNotContain(await model.AsRecall().RecallAsync(fixture.Request(TopicThreeUser), 10), c => c.Item == newItem);

        model.AddItems(ItemEmbeddings.FromRows([(newItem, PlantedTopicsFixture.TopicVector(3, new Random(99)))]));

        Assert.Contains(await model.AsRecall().RecallAsync(fixture.Request(TopicThreeUser), 10), c => c.Item == newItem);
        Assert.DoesNotContain(await model.AsRecall().RecallAsync(fixture.Request(TopicFiveUser), 25), c => c.Item == newItem);

        // The fresh-items channel holds only items without an ID embedding: here, the new one.
        var fresh = await model.AsNewItemsRecall().RecallAsync(fixture.Request(TopicThreeUser), 10);
        Assert.Equal([newItem], fresh.Select(c => c.Item));
        Assert.Equal("dense-new", fresh[0].Source);
        Assert.Equal(fixture.Content.Count + 1, model.ItemVectors.Count);
    }

    [Fact]
    public async Task The_ranker_scores_with_full_or_content_only_vectors_and_can_offset_the_items_without_an_id_embedding()
    {
        using var folder = TestData.TempFolder();
        fixture.Model.Save(folder.Path);
        using var model = DenseRetrievalModel.Load(folder.Path, ComputeDevice.Cpu);
        var before = model.ContentOnlyVectors;
        var newItem = new ItemId(10_001);
        model.AddItems(ItemEmbeddings.FromRows([(newItem, PlantedTopicsFixture.TopicVector(3, new Random(99)))]));
        var request = fixture.Request(TopicThreeUser);
        var query = model.UserVector(request.History);
        Candidate[] candidates = [.. Enumerable.Range(3 * 25 + 1, 25).Select(i => new Candidate(new ItemId(i), 0, "test")).Where(c => !request.HistoryItems.Contains(c.Item)), new(newItem, 0, "test")];
        double Dot(ItemEmbeddings vectors, ItemId item)
        {
            var v = vectors[item].ToArray();
            return v.Select((x, i) => (double)query[i] * x).Sum();
        }

        var full = await model.AsRanker().RankAsync(request, candidates);
        var contentOnly = await model.AsRanker("content", DenseItemVectors.ContentOnly).RankAsync(request, candidates);
        var offset = await model.AsRanker("offset", DenseItemVectors.Full, freshOffset: 5).RankAsync(request, candidates);

        Assert.All(full, c => Assert.Equal(Dot(model.ItemVectors, c.Item), c.Score, 1e-5));
        Assert.All(contentOnly, c => Assert.Equal(Dot(model.ContentOnlyVectors, c.Item), c.Score, 1e-5));
        Assert.Equal(full.OrderByDescending(c => c.Score).Select(c => c.Item), full.Select(c => c.Item));
        Assert.Equal(contentOnly.OrderByDescending(c => c.Score).Select(c => c.Item), contentOnly.Select(c => c.Item));
        Assert.NotEqual(full.Select(c => c.Score), contentOnly.Select(c => c.Score)); // warm items differ by their ID embeddings
        Assert.Equal(full.Single(c => c.Item == newItem).Score, contentOnly.Single(c => c.Item == newItem).Score, 1e-5); // a new item has no other vector
        Assert.NotSame(before, model.ContentOnlyVectors); // recomputed for the catalogue with the new item
        Assert.Equal(newItem, offset[0].Item);
        Assert.Equal(full.Single(c => c.Item == newItem).Score + 5, offset[0].Score, 1e-5);
        Assert.Equal(full.Where(c => c.Item != newItem), offset.Skip(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.AsRanker(freshOffset: double.NaN));
    }

    [Fact]
    public async Task A_saved_model_loads_with_the_same_vectors_and_results_and_keeps_added_items()
    {
        using var folder = TestData.TempFolder();
        fixture.Model.Save(folder.Path);
        using var loaded = DenseRetrievalModel.Load(folder.Path, ComputeDevice.Cpu);
        var request = fixture.Request(TopicFiveUser, 20);

        // The same weights and content (the last float bits may differ: the CPU's matrix kernels sum in any order).
        Assert.Equal(fixture.Model.ItemVectors.Items, loaded.ItemVectors.Items);
        Assert.All(fixture.Model.ItemVectors.Values.ToArray().Zip(loaded.ItemVectors.Values.ToArray()), p => Assert.Equal(p.First, p.Second, 1e-5f));
        Assert.Equal(
            (await fixture.Model.AsRecall().RecallAsync(request, 20)).Select(c => c.Item),
            (await loaded.AsRecall().RecallAsync(request, 20)).Select(c => c.Item));

        var added = new ItemId(20_002);
        loaded.AddItems(ItemEmbeddings.FromRows([(added, PlantedTopicsFixture.TopicVector(5, new Random(1)))]));
        loaded.Save(folder.File("again"));
        using var again = DenseRetrievalModel.Load(folder.File("again"), ComputeDevice.Cpu);
        Assert.True(again.ItemVectors.Contains(added));
        Assert.All(loaded.ItemVectors[added].ToArray().Zip(again.ItemVectors[added].ToArray()), p => Assert.Equal(p.First, p.Second, 1e-5f));
    }

    [Fact]
    public void Bad_input_is_refused_clearly()
    {
        using var folder = TestData.TempFolder();
        fixture.Model.Save(folder.Path);
        File.Delete(Path.Combine(folder.Path, DenseRetrievalModel.ContentFile));

        var missing = Assert.Throws<InvalidDataException>(() => DenseRetrievalModel.Load(folder.Path));
        Assert.Contains(DenseRetrievalModel.ContentFile, missing.Message, StringComparison.Ordinal);
        var wide = Assert.Throws<ArgumentException>(() => fixture.Model.AddItems(ItemEmbeddings.FromRows([(new ItemId(5), new float[3])])));
        Assert.Contains("16-wide", wide.Message, StringComparison.Ordinal);
        var partial = fixture.Content.Subset([.. fixture.Content.Items.Skip(1)]);
        Assert.Throws<ArgumentException>(() => new DenseRetrievalTrainer(new DenseRetrievalTrainer.Options { Epochs = 1 }).Fit(fixture.Split, partial, "test"));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DenseRetrievalTrainer(new DenseRetrievalTrainer.Options { Dimension = 15, Heads = 2 }));
    }

    [Fact]
    public void An_empty_history_still_gets_a_unit_query_vector()
    {
        var query = fixture.Model.UserVector([]);

        Assert.Equal(16, query.Length);
        Assert.Equal(1.0, Math.Sqrt(query.Sum(v => (double)v * v)), 1e-3);
    }

    [Fact]
    public async Task The_onnx_export_serves_the_same_queries_lists_and_new_item_vectors()
    {
        using var folder = TestData.TempFolder();
        DenseOnnxExporter.Export(fixture.Model, folder.Path);
        using var served = OnnxDenseRetriever.Load(folder.Path, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });

        Assert.Equal(GenRec.Inference.ExecutionProviderPreference.Cpu, served.ExecutionProvider);
        foreach (var user in fixture.Split.UsersWithTarget(SplitTarget.Test).Take(12))
        {
            var request = fixture.Request(user, 20);
            var expected = fixture.Model.UserVector(request.History);
            var actual = served.UserVector(request.History);
            Assert.All(expected.Zip(actual), p => Assert.Equal(p.First, p.Second, 1e-4f));
            Assert.Equal(
                (await fixture.Model.AsRecall().RecallAsync(request, 20)).Select(c => c.Item),
                (await served.RecallAsync(request, 20)).Select(c => c.Item));
        }

        var newItem = new ItemId(30_003);
        var content = ItemEmbeddings.FromRows([(newItem, PlantedTopicsFixture.TopicVector(3, new Random(4)))]);
        served.AddItems(content);
        Assert.Contains(await served.RecallAsync(fixture.Request(TopicThreeUser), 10), c => c.Item == newItem);
        using var torch = DenseRetrievalModel.Load(SaveTo(folder.File("torch")), ComputeDevice.Cpu);
        torch.AddItems(content);
        Assert.All(torch.ItemVectors[newItem].ToArray().Zip(served.Catalogue.Vectors[newItem].ToArray()), p => Assert.Equal(p.First, p.Second, 1e-5f));

        // Content-only vectors (what beam fusion may score with) agree too, and so does the ranking with an offset for new items.
        Assert.All(torch.ContentOnlyVectors.Values.ToArray().Zip(served.ContentOnlyVectors.Values.ToArray()), p => Assert.Equal(p.First, p.Second, 1e-5f));
        var topicThree = fixture.Request(TopicThreeUser);
        Candidate[] candidates = [.. torch.ContentOnlyVectors.Items.Where(i => !topicThree.HistoryItems.Contains(i)).Take(60).Select(i => new Candidate(i, 0, "test")), new(newItem, 0, "test")];
        Assert.Equal(
            (await torch.AsRanker("dense", DenseItemVectors.ContentOnly, 0.3).RankAsync(topicThree, candidates)).Select(c => c.Item),
            (await served.AsRanker(DenseItemVectors.ContentOnly, 0.3).RankAsync(topicThree, candidates)).Select(c => c.Item));
    }

    [Fact]
    public void A_damaged_or_foreign_served_folder_is_refused_clearly()
    {
        using var folder = TestData.TempFolder();
        DenseOnnxExporter.Export(fixture.Model, folder.Path);
        var graph = Path.Combine(folder.Path, DenseGraphContract.UserTowerFile);
        File.WriteAllBytes(graph, File.ReadAllBytes(graph)[..100]);

        var damaged = Assert.Throws<InvalidDataException>(() => OnnxDenseRetriever.Load(folder.Path));
        Assert.Contains("SHA-256", damaged.Message, StringComparison.Ordinal);
        var torchFolder = Assert.Throws<InvalidDataException>(() => OnnxDenseRetriever.Load(SaveTo(folder.File("torch"))));
        Assert.Contains("genrec export --kind dense", torchFolder.Message, StringComparison.Ordinal);
        Assert.Throws<DirectoryNotFoundException>(() => OnnxDenseRetriever.Load(folder.File("none")));
    }

    [Fact]
    public async Task A_teams_vector_store_serves_the_same_recall_through_the_vector_data_abstractions()
    {
        using var folder = TestData.TempFolder();
        DenseOnnxExporter.Export(fixture.Model, folder.Path);
        using var served = OnnxDenseRetriever.Load(folder.Path, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
        var store = new InMemoryVectorCollection(served.Catalogue.Vectors);
        var recall = new VectorStoreRecall<ItemVectorRecord>("store", store, r => served.UserVector(r.History), r => new ItemId(r.Id));

        foreach (var user in new[] { TopicThreeUser, TopicFiveUser })
        {
            var request = fixture.Request(user, 15);
            var fromStore = await recall.RecallAsync(request, 15);
            Assert.Equal((await served.RecallAsync(request, 15)).Select(c => c.Item), fromStore.Select(c => c.Item));
            Assert.All(fromStore, c => Assert.Equal("store", c.Source));
        }
    }

    /// <summary>A record of a team's vector store: an item id and its vector.</summary>
    public sealed record ItemVectorRecord(long Id, ReadOnlyMemory<float> Vector);

    /// <summary>
    /// A minimal in-memory <see cref="IVectorSearchable{TRecord}"/> (exact inner-product search, best first), standing in
    /// for a team's store: no connector package (Qdrant, Redis, in-memory) is served to this build.
    /// </summary>
    private sealed class InMemoryVectorCollection(ItemEmbeddings vectors) : IVectorSearchable<ItemVectorRecord>
    {
        public async IAsyncEnumerable<VectorSearchResult<ItemVectorRecord>> SearchAsync<TInput>(
            TInput searchValue, int top, VectorSearchOptions<ItemVectorRecord>? options = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
            where TInput : notnull
        {
            var query = searchValue switch
            {
                ReadOnlyMemory<float> m => m.ToArray(),
                float[] a => a,
                _ => throw new NotSupportedException($"This store searches float vectors, not {typeof(TInput).Name}."),
            };
            var scored = Enumerable.Range(0, vectors.Count)
                .Select(r => (Row: r, Score: vectors.Row(r).ToArray().Zip(query).Sum(p => (double)p.First * p.Second)))
                .OrderByDescending(p => p.Score).ThenBy(p => vectors.Items[p.Row].Value)
                .Take(top);
            foreach (var (row, score) in scored)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return new VectorSearchResult<ItemVectorRecord>(new ItemVectorRecord(vectors.Items[row].Value, vectors.Row(row).ToArray()), score);
            }

            await Task.CompletedTask;
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;
    }

    private string SaveTo(string path)
    {
        fixture.Model.Save(path);
        return path;
    }
}
