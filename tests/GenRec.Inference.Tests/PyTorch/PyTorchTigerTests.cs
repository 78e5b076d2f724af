using System.Text.Json;
using GenRec.Data;
using GenRec.Generative;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.TestSupport;

namespace GenRec.Inference.Tests.PyTorch;

/// <summary>
/// An encoder-decoder written in PyTorch (samples/PyTorch/tiger_export.py) over the small MovieLens semantic-ID index,
/// exported with torch.onnx.export, with PyTorch's own log-probability of every item after each history.
/// </summary>
public sealed class PyTorchTigerFixture : IDisposable
{
    private readonly TempFolder _work = TestData.TempFolder();

    public PyTorchTigerFixture()
    {
        Index = ModelFiles.SmallIndex().Index;
        Vocabulary = new SemanticIdVocabulary(Index.VocabularySizes);
        Cases = [.. TestData.Split.Cases(SplitTarget.Test).Take(8)];
        Histories = [Vocabulary.EncodeHistory([], Index, MaxHistoryItems, out _), .. Cases.Select(c => Vocabulary.EncodeHistory(c.HistoryEvents().Select(e => e.Item), Index, MaxHistoryItems, out _))];
        var spec = new
        {
            vocabularySizes = Index.VocabularySizes,
            indexFingerprint = Index.Fingerprint,
            indexVersion = Index.Version,
            maxHistoryItems = MaxHistoryItems,
            items = Index.Items.Select(i => Index[i].ToArray()),
            histories = Histories,
        };
        using var reference = PyTorchExport.Export("tiger_export.py", spec, Folder, _work.Path);
        Reference = [.. reference.RootElement.GetProperty("logProbabilities").EnumerateArray().Select(h => h.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
        Model = OnnxGenerativeModel.Load(Folder, new OnnxRuntimeOptions { ExecutionProvider = OnnxFixture.Provider });
    }

    public const int MaxHistoryItems = 10;

    public string Folder => _work.File("model");

    public SemanticIdIndex Index { get; }

    public SemanticIdVocabulary Vocabulary { get; }

    /// <summary>Test users (their train histories); <see cref="Histories"/> holds an empty history, then theirs.</summary>
    public IReadOnlyList<EvaluationCase> Cases { get; }

    public IReadOnlyList<int[]> Histories { get; }

    /// <summary>PyTorch's log p(item | history), by history, then by the index's item order.</summary>
    public IReadOnlyList<double[]> Reference { get; }

    public OnnxGenerativeModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        _work.Dispose();
    }
}

/// <summary>A model trained in PyTorch serves through the SDK unchanged, computing what PyTorch computes.</summary>
public sealed class PyTorchTigerTests(PyTorchTigerFixture fixture) : IClassFixture<PyTorchTigerFixture>
{
    [Fact]
    public void The_folder_loads_as_a_torch_onnx_export_of_the_index()
    {
        Assert.StartsWith("torch.onnx", fixture.Model.Manifest.Producer, StringComparison.Ordinal);
        Assert.Equal(fixture.Index.Fingerprint, fixture.Model.IndexFingerprint);
        Assert.Equal(fixture.Index.VocabularySizes, fixture.Model.Manifest.VocabularySizes);
    }

    [Fact]
    public void Every_item_after_every_history_scores_as_PyTorch_scores_it()
    {
        // Walk the whole trie through the served graphs: every prefix is a beam, every item's codes are scored.
        var items = fixture.Index.Items.Select(i => fixture.Index[i].ToArray()).ToArray();
        var worst = 0.0;
        for (var h = 0; h < fixture.Histories.Count; h++)
        {
            using var session = fixture.Model.Start(fixture.Histories[h]);
            var totals = new double[items.Length];
            for (var position = 0; position < fixture.Index.Length; position++)
            {
                var prefixes = items.Select(c => c[..position]).DistinctBy(c => string.Join(',', c)).ToArray();
                var row = prefixes.Select((p, i) => (Key: string.Join(',', p), Row: i)).ToDictionary(x => x.Key, x => x.Row);
                var logProbabilities = session.NextLogProbabilities(prefixes);
                var width = logProbabilities.Length / prefixes.Length;
                Assert.Equal(fixture.Model.Manifest.VocabularySizes[position], width);
                for (var i = 0; i < items.Length; i++)
                {
                    totals[i] += logProbabilities[(row[string.Join(',', items[i][..position])] * width) + items[i][position]];
                }
            }

            for (var i = 0; i < items.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(totals[i] - fixture.Reference[h][i]));
            }
        }

        Assert.True(worst < 1e-4, $"max |Δ log p(item)| between ONNX Runtime and PyTorch: {worst}");
    }

    [Fact]
    public void The_histories_change_the_scores()
    {
        // Parity would say little if the history were ignored: each user's history moves some item's log-probability
        // far more than the parity tolerance away from what the empty history gives it.
        var empty = fixture.Reference[0];
        for (var h = 1; h < fixture.Reference.Count; h++)
        {
            var moved = fixture.Reference[h].Zip(empty, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(moved > 0.05, $"history {h} moves no item's log-probability by more than {moved}");
        }
    }

    [Fact]
    public async Task Generative_recall_over_the_served_model_returns_items_with_PyTorchs_log_probabilities()
    {
        var recall = new GenerativeRecall(fixture.Model, fixture.Index, new GenerativeRecallOptions { BeamWidth = 32 });
        var position = fixture.Index.Items.Select((item, i) => (item, i)).ToDictionary(x => x.item, x => x.i);
        for (var u = 0; u < fixture.Cases.Count; u++)
        {
            var c = fixture.Cases[u];
            var request = new RecommendationRequest(c.User, c.HistoryEvents(), 20, c.Target.Time);
            var candidates = await recall.RecallAsync(request, 20, TestContext.Current.CancellationToken);
            Assert.Equal(20, candidates.Count);
            var reference = fixture.Reference[u + 1];
            foreach (var candidate in candidates)
            {
                Assert.Equal(reference[position[candidate.Item]], candidate.Score, 1e-3);
            }

            Assert.Equal(candidates.Select(x => x.Score).OrderDescending(), candidates.Select(x => x.Score));
            Assert.DoesNotContain(candidates, x => c.History.Any(e => e.Item == x.Item));
        }
    }

    [Fact]
    public void Batched_decoding_of_all_histories_gives_each_its_own_PyTorch_scores()
    {
        var position = fixture.Index.Items.Select((item, i) => (item, i)).ToDictionary(x => fixture.Index[x.item], x => x.i);
        var decoded = fixture.Model.Decode([.. fixture.Histories.Select(h => new GenerativeDecodeRequest(h, new BeamSearchState(fixture.Index.Trie, fixture.Index.Length, 16)))]);
        for (var h = 0; h < decoded.Count; h++)
        {
            Assert.Equal(16, decoded[h].Count);
            Assert.All(decoded[h], d => Assert.Equal(fixture.Reference[h][position[d.Id]], d.LogProbability, 1e-3));
        }
    }
}
