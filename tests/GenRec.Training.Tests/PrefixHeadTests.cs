using System.Text.Json.Nodes;
using GenRec.Generative;
using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.TestSupport;
using GenRec.Training.Onnx;

namespace GenRec.Training.Tests;

/// <summary>COBRA's dense head on the planted-topics dense model: training, storage, ONNX serving and bad input.</summary>
public sealed class PrefixHeadTests(PlantedTopicsFixture fixture) : IClassFixture<PlantedTopicsFixture>
{
    /// <summary>Two-level semantic IDs of the planted catalogue from its content (8 first-level codes, as many as topics).</summary>
    private static SemanticIdIndex? ids;

    private SemanticIdIndex Ids => ids ??= new RqKMeansTrainer(levels: 2, codebookSize: 8, seed: 3).Fit(fixture.Content);

    private DenseRetrievalModel CopyOfModel(TempFolder folder)
    {
        fixture.Model.Save(folder.File("dense"));
        return DenseRetrievalModel.Load(folder.File("dense"), ComputeDevice.Cpu);
    }

    private PrefixHeadReport TrainHead(DenseRetrievalModel model, int epochs = 3) =>
        new PrefixHeadTrainer(new PrefixHeadTrainer.Options { Epochs = epochs, Patience = epochs, BatchSize = 64, Seed = 5 }).Fit(model, fixture.Split, Ids);

    private static SemanticId[] FirstCodes(int count) => [.. Enumerable.Range(0, count).Select(c => new SemanticId([c]))];

    [Fact]
    public void An_untrained_head_returns_the_users_own_vector()
    {
        using var head = new PrefixHeadNetwork(new PrefixHeadConfig(4, [8], 16));
        using var user = TorchSharp.torch.tensor(new[] { 0.5f, -0.5f, 0.5f, 0.5f }, [1, 4]);
        using var prefixes = TorchSharp.torch.tensor(new long[] { 0, 3, 7 }, [1, 3, 1]);

        using var queries = head.forward(user, prefixes);

        Assert.Equal([1L, 3, 4], queries.shape);
        var values = queries.data<float>().ToArray();
        Assert.All(Enumerable.Range(0, 12), i => Assert.Equal(new[] { 0.5f, -0.5f, 0.5f, 0.5f }[i % 4], values[i], 1e-6f));
    }

    [Fact]
    public async Task A_trained_head_gives_each_prefix_its_own_unit_query_and_survives_save_and_load()
    {
        using var folder = TestData.TempFolder();
        using var model = CopyOfModel(folder);
        Assert.Null(model.PrefixHead);

        var report = TrainHead(model);

        Assert.Same(report, model.PrefixHead);
        Assert.Equal(1, report.Levels);
        Assert.Equal(Ids.Fingerprint, report.IndexFingerprint);
        Assert.True(report.Positions > 1000, $"{report.Positions} train positions");
        Assert.True(report.ValidationNdcg10 >= report.UnconditionedValidationNdcg10, "the head is kept only when it is at least as good as the user's own vector");
        var request = fixture.Request(new UserId(4));
        var user = model.UserVector(request.History);
        var queries = model.ConditionedQueries(user, FirstCodes(8));
        Assert.Equal(8 * model.Dimension, queries.Length);
        Assert.All(queries.Chunk(model.Dimension), q => Assert.Equal(1.0, Math.Sqrt(q.Sum(v => (double)v * v)), 1e-4));

        model.Save(folder.File("with-head"));
        using var loaded = DenseRetrievalModel.Load(folder.File("with-head"), ComputeDevice.Cpu);

        Assert.Equal(report, loaded.PrefixHead);
        Assert.Equal(queries, loaded.ConditionedQueries(user, FirstCodes(8)), (a, b) => Math.Abs(a - b) < 1e-6f);
        var groups = Groups(request);
        Assert.Equal(
            (await model.AsConditionedRanker().RankAsync(request, groups)).Select(c => (c.Item, c.Score)),
            (await loaded.AsConditionedRanker().RankAsync(request, groups)).Select(c => (c.Item, c.Score)));
    }

    [Fact]
    public async Task The_onnx_export_serves_the_same_conditioned_queries_and_scores()
    {
        using var folder = TestData.TempFolder();
        using var model = CopyOfModel(folder);
        TrainHead(model, epochs: 2);
        var manifest = DenseOnnxExporter.Export(model, folder.File("onnx"));
        using var served = OnnxDenseRetriever.Load(folder.File("onnx"), new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });

        Assert.Equal(DenseOnnxManifest.CurrentVersion, manifest.FormatVersion);
        Assert.Equal(Ids.Fingerprint, served.Manifest.PrefixHead!.IndexFingerprint);
        foreach (var user in fixture.Split.UsersWithTarget(Data.SplitTarget.Test).Take(8))
        {
            var request = fixture.Request(user);
            var vector = model.UserVector(request.History);
            Assert.Equal(model.ConditionedQueries(vector, FirstCodes(8)), served.ConditionedQueries(vector, FirstCodes(8)), (a, b) => Math.Abs(a - b) < 1e-5f);
            var groups = Groups(request);
            var expected = await model.AsConditionedRanker("dense", DenseItemVectors.ContentOnly, 0.1).RankAsync(request, groups);
            var actual = await served.AsConditionedRanker(DenseItemVectors.ContentOnly, 0.1).RankAsync(request, groups);
            Assert.Equal(expected.Select(c => c.Item), actual.Select(c => c.Item));
            Assert.Equal(expected.Select(c => c.Score), actual.Select(c => c.Score), (a, b) => Math.Abs(a - b) < 1e-4);
        }
    }

    [Fact]
    public void Folders_without_a_head_still_load_and_say_so_when_a_head_is_asked_for()
    {
        using var folder = TestData.TempFolder();
        using var model = CopyOfModel(folder);
        var manifestPath = Path.Combine(folder.File("dense"), "manifest.json");
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        manifest["FormatVersion"] = 1; // written before heads existed
        File.WriteAllText(manifestPath, manifest.ToJsonString());

        using var old = DenseRetrievalModel.Load(folder.File("dense"), ComputeDevice.Cpu);

        Assert.Null(old.PrefixHead);
        var e = Assert.Throws<InvalidOperationException>(() => old.AsConditionedRanker());
        Assert.Contains("genrec train dense-head", e.Message, StringComparison.Ordinal);
        DenseOnnxExporter.Export(old, folder.File("onnx"));
        using var served = OnnxDenseRetriever.Load(folder.File("onnx"), new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
        Assert.Null(served.Manifest.PrefixHead);
        Assert.Throws<InvalidOperationException>(() => served.AsConditionedRanker());
        Assert.Throws<InvalidOperationException>(() => served.ConditionedQueries(new float[old.Dimension], FirstCodes(1)));
    }

    [Fact]
    public void Damaged_heads_and_bad_prefixes_are_refused_clearly()
    {
        using var folder = TestData.TempFolder();
        using var model = CopyOfModel(folder);
        var tooLong = Assert.Throws<ArgumentException>(() => new PrefixHeadTrainer(new PrefixHeadTrainer.Options { Levels = Ids.Length }).Fit(model, fixture.Split, Ids));
        Assert.Contains("disambiguation", tooLong.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new PrefixHeadTrainer(new PrefixHeadTrainer.Options { IdDropout = 2 }));
        TrainHead(model, epochs: 1);
        var user = model.UserVector([]);
        Assert.Throws<ArgumentException>(() => model.ConditionedQueries(user, [new SemanticId([1, 2])]));
        var beyond = Assert.Throws<ArgumentException>(() => model.ConditionedQueries(user, [new SemanticId([8])]));
        Assert.Contains("beyond the head's 8 codes", beyond.Message, StringComparison.Ordinal);

        model.Save(folder.File("torch"));
        File.Delete(Path.Combine(folder.File("torch"), DenseRetrievalModel.PrefixHeadFile));
        var missing = Assert.Throws<InvalidDataException>(() => DenseRetrievalModel.Load(folder.File("torch"), ComputeDevice.Cpu));
        Assert.Contains(DenseRetrievalModel.PrefixHeadFile, missing.Message, StringComparison.Ordinal);

        DenseOnnxExporter.Export(model, folder.File("onnx"));
        var graph = Path.Combine(folder.File("onnx"), DenseGraphContract.PrefixHeadFile);
        File.WriteAllBytes(graph, File.ReadAllBytes(graph)[..50]);
        var damaged = Assert.Throws<InvalidDataException>(() => OnnxDenseRetriever.Load(folder.File("onnx")));
        Assert.Contains("SHA-256", damaged.Message, StringComparison.Ordinal);
    }

    /// <summary>Every unseen item of the planted catalogue, grouped by its first code.</summary>
    private PrefixCandidates[] Groups(RecommendationRequest request) =>
        [.. Ids.Items
            .Where(i => !request.HistoryItems.Contains(i))
            .GroupBy(i => Ids[i][0])
            .OrderBy(g => g.Key)
            .Select(g => new PrefixCandidates(new SemanticId([g.Key]), [.. g.Select(i => new Candidate(i, 0, "test"))]))];
}
