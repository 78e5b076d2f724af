using GenRec.Data;
using GenRec.Inference;
using GenRec.Models;
using GenRec.TestSupport;
using GenRec.Training.Onnx;

namespace GenRec.Training.Tests;

/// <summary>
/// The neural DLRM control: it learns from ranking queries, and ONNX Runtime scores exactly what TorchSharp scores.
/// The queries are real train targets among random candidates, with features that carry a signal (popularity, and
/// a "source_channel" that is 2 for the taken item half of the time).
/// </summary>
public sealed class NeuralDlrmTests
{
    private static readonly string[] Names = ["log_popularity", "parity", "source_channel"];

    private sealed class Features(DataSplit split) : ICandidateFeatures
    {
        private readonly Dictionary<ItemId, int> _counts = split.TrainInteractions.CountBy(i => i.Item).ToDictionary(p => p.Key, p => p.Value);

        public ItemId? Taken { get; set; }

        public IReadOnlyList<string> Names => NeuralDlrmTests.Names;

        public void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
        {
            for (var i = 0; i < candidates.Count; i++)
            {
                var id = candidates[i].Item.Value;
                destination[3 * i] = MathF.Log(1 + _counts.GetValueOrDefault(candidates[i].Item));
                destination[(3 * i) + 1] = id % 3 == 0 ? float.NaN : id % 2;
                destination[(3 * i) + 2] = candidates[i].Item == Taken && request.User.Value % 2 == 0 ? 2 : id % 2;
            }
        }
    }

    private static (RankingQuery[] Train, RankingQuery[] Held, Features Source) Queries()
    {
        var features = new Features(TestData.Split);
        var random = new Random(5);
        var catalogue = TestData.Dataset.Catalogue;
        var all = TestData.Split.Train.Where(s => s.Interactions.Count > 5).Take(400).Select(s =>
        {
            var target = s.Interactions[^1];
            var request = new RecommendationRequest(s.User, [.. s.Interactions.SkipLast(1).Select(i => i.ToEvent())], 10, target.Time);
            Candidate[] candidates = [.. Enumerable.Range(0, 30).Select(_ => new Candidate(catalogue[random.Next(catalogue.Count)], 0, "r"))];
            var at = random.Next(candidates.Length);
            candidates[at] = new Candidate(target.Item, 0, "r");
            features.Taken = target.Item;
            var values = new float[candidates.Length * Names.Length];
            features.Compute(request, candidates, values);
            return new RankingQuery(request, candidates, at, values);
        }).ToArray();
        return (all[..300], all[300..], features);
    }

    [Fact]
    public void It_learns_the_queries_signal_and_ONNX_Runtime_scores_it_as_TorchSharp_does()
    {
        var (train, held, features) = Queries();
        using var model = new NeuralDlrmTrainer(new NeuralDlrmTrainer.Options { Epochs = 8, Negatives = 15, Device = ComputeDevice.Cpu }).Fit(train, Names, TestData.Dataset.Catalogue);
        Assert.Equal(300, model.Report.Queries);

        // On held-out queries the taken item (marked for even users) ranks far above the middle.
        var ranks = new List<int>();
        foreach (var q in held.Where(q => q.Request.User.Value % 2 == 0))
        {
            features.Taken = q.Candidates[q.Target].Item;
            var scores = model.Score(q.Request, q.Candidates, features);
            ranks.Add(1 + scores.Count(s => s > scores[q.Target]));
        }

        Assert.True(ranks.Average() < 5, $"mean rank of the taken item among 30: {ranks.Average():0.0}");

        using var folder = TestData.TempFolder();
        NeuralDlrmOnnxExporter.Export(model, folder.Path);
        using var served = NeuralDlrmOnnxRanker.Load(folder.Path, features, new OnnxRuntimeOptions { ExecutionProvider = OnnxProvider() });
        var worst = 0.0;
        foreach (var q in held)
        {
            Candidate[] candidates = [.. q.Candidates, new(new ItemId(987_654_321), 0, "x")];
            var torch = model.Score(q.Request, candidates, features);
            var onnx = served.Score(q.Request, candidates);
            Assert.Equal(double.NegativeInfinity, torch[^1]);
            Assert.Equal(double.NegativeInfinity, onnx[^1]);
            for (var i = 0; i < candidates.Length - 1; i++)
            {
                Assert.True(double.IsFinite(onnx[i]));
                worst = Math.Max(worst, Math.Abs(torch[i] - onnx[i]));
            }
        }

        Assert.True(worst < 1e-4, $"max |Δ score| {worst}");

        // An empty history (no last item) scores too.
        var empty = new RecommendationRequest(new UserId(1), [], 10, DateTimeOffset.UnixEpoch);
        Assert.All(served.Score(empty, held[0].Candidates), s => Assert.True(double.IsFinite(s)));
    }

    [Fact]
    public void A_served_model_refuses_features_it_was_not_trained_on_and_a_damaged_graph()
    {
        var (train, _, features) = Queries();
        using var model = new NeuralDlrmTrainer(new NeuralDlrmTrainer.Options { Epochs = 1, Device = ComputeDevice.Cpu }).Fit(train, Names, TestData.Dataset.Catalogue);
        using var folder = TestData.TempFolder();
        NeuralDlrmOnnxExporter.Export(model, folder.Path);

        Assert.Throws<ArgumentException>(() => NeuralDlrmOnnxRanker.Load(folder.Path, new HstuOnnxFixture.TestFeatures(TestData.Split)));
        var graph = Path.Combine(folder.Path, NeuralDlrmGraphContract.GraphFile);
        File.WriteAllBytes(graph, File.ReadAllBytes(graph)[..100]);
        var e = Assert.Throws<InvalidDataException>(() => NeuralDlrmOnnxRanker.Load(folder.Path, features));
        Assert.Contains("SHA-256", e.Message, StringComparison.Ordinal);
    }

    private static ExecutionProviderPreference OnnxProvider() =>
        Enum.TryParse<ExecutionProviderPreference>(Environment.GetEnvironmentVariable("GENREC_ONNX_PROVIDER"), ignoreCase: true, out var p) ? p : ExecutionProviderPreference.Cpu;
}
