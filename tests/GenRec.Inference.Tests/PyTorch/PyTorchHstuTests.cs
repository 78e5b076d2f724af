using GenRec.Data;
using GenRec.Models;
using GenRec.TestSupport;

namespace GenRec.Inference.Tests.PyTorch;

/// <summary>
/// An HSTU ranker written in PyTorch (samples/PyTorch/hstu_export.py) over the MovieLens catalogue, exported with
/// torch.onnx.export, with PyTorch's own logits for each test user's candidates (one causal pass per candidate).
/// </summary>
public sealed class PyTorchHstuFixture : IDisposable
{
    private readonly TempFolder _work = TestData.TempFolder();

    public PyTorchHstuFixture()
    {
        Items = [.. TestData.Dataset.Catalogue];
        var rows = Items.Select((item, i) => (item, i)).ToDictionary(x => x.item, x => (long)x.i + 1);
        var cases = TestData.Split.Cases(SplitTarget.Test).Take(8).ToArray();

        // An empty history, then test users with short and long histories (some longer than the window).
        Requests =
        [
            new RecommendationRequest(cases[0].User, [], 10, cases[0].Target.Time),
            .. cases.Select((c, u) => new RecommendationRequest(c.User, [.. c.HistoryEvents().Take(3 + (u * 3))], 10, c.Target.Time)),
        ];
        // Every list starts with the same 30 items (to compare users), then has a few of its own.
        Candidates = [.. Requests.Select((r, u) => Items.Take(30).Concat(Items.Skip(100 + (u * 37)).Take(u)).Select(i => new Candidate(i, 0, "recall")).ToArray())];
        var window = 2 * MaxHistory;
        var spec = new
        {
            items = Items.Select(i => i.Value),
            maxHistory = MaxHistory,
            ratingWeight = RatingWeight,
            cases = Requests.Select((r, u) =>
            {
                var (tokenItems, actions, times) = (new long[window], new long[window], new long[window]);
                var events = HstuGraphContract.EncodeHistory(r.History, MaxHistory, i => rows.GetValueOrDefault(i), tokenItems, actions, times);
                var real = window - (2 * events);
                return new
                {
                    items = tokenItems[real..],
                    actions = actions[real..],
                    times = times[real..],
                    requestTime = r.RequestTime.ToUnixTimeSeconds(),
                    candidates = Candidates[u].Select(c => rows[c.Item]),
                };
            }),
        };
        using var reference = PyTorchExport.Export("hstu_export.py", spec, Folder, _work.Path);
        Reference = [.. reference.RootElement.GetProperty("logits").EnumerateArray().Select(c => c.EnumerateArray().Select(l => l[0].GetDouble() + (RatingWeight * l[1].GetDouble())).ToArray())];
    }

    public const int MaxHistory = 12;

    public const double RatingWeight = 0.5;

    public string Folder => _work.File("model");

    public IReadOnlyList<ItemId> Items { get; }

    public IReadOnlyList<RecommendationRequest> Requests { get; }

    public IReadOnlyList<Candidate[]> Candidates { get; }

    /// <summary>PyTorch's ranking score (interacts + w · rates) by request, then candidate.</summary>
    public IReadOnlyList<double[]> Reference { get; }

    public HstuOnnxRanker Load(int candidateBatch = 256) =>
        HstuOnnxRanker.Load(Folder, options: new OnnxRuntimeOptions { ExecutionProvider = OnnxFixture.Provider }, candidateBatch: candidateBatch);

    public void Dispose() => _work.Dispose();
}

/// <summary>An HSTU ranker trained in PyTorch serves through the SDK unchanged, computing what PyTorch computes.</summary>
public sealed class PyTorchHstuTests(PyTorchHstuFixture fixture) : IClassFixture<PyTorchHstuFixture>
{
    private const double Tolerance = 1e-4;

    [Fact]
    public void Requests_scored_together_get_PyTorchs_scores()
    {
        // One batch: histories of 0 to 12 events (and longer ones cut to the window) padded to the longest.
        using var ranker = fixture.Load();
        Assert.StartsWith("torch.onnx", ranker.Manifest.Producer, StringComparison.Ordinal);
        var scores = ranker.Score([.. fixture.Requests.Select((r, u) => (r, (IReadOnlyList<Candidate>)fixture.Candidates[u]))]);
        AssertClose(scores);
    }

    [Fact]
    public void Requests_scored_alone_in_small_candidate_batches_get_PyTorchs_scores()
    {
        using var ranker = fixture.Load(candidateBatch: 7);
        AssertClose([.. fixture.Requests.Select((r, u) => ranker.Score(r, fixture.Candidates[u]))]);
    }

    [Fact]
    public void States_extended_event_by_event_get_PyTorchs_scores()
    {
        using var ranker = fixture.Load();
        var scores = new List<double[]>();
        foreach (var (request, u) in fixture.Requests.Select((r, u) => (r, u)))
        {
            var events = request.History.TakeLast(PyTorchHstuFixture.MaxHistory).ToArray();
            var state = ranker.Encode(events.Take(Math.Min(2, events.Length)).ToArray());
            foreach (var e in events.Skip(2))
            {
                Assert.True(ranker.TryExtend(state, [e], out var next));
                state = next;
            }

            scores.Add(ranker.Score(state, request, fixture.Candidates[u]));
        }

        AssertClose(scores);
    }

    [Fact]
    public async Task The_ranker_orders_candidates_as_PyTorch_does()
    {
        using var ranker = fixture.Load();
        var request = fixture.Requests[^1];
        var ranked = await ranker.RankAsync(request, fixture.Candidates[^1], TestContext.Current.CancellationToken);
        var reference = fixture.Reference[^1];
        var expected = fixture.Candidates[^1].Select((c, i) => (c.Item, Score: reference[i])).OrderByDescending(x => x.Score).Select(x => x.Item);
        Assert.Equal(expected, ranked.Select(c => c.Item));
    }

    [Fact]
    public void The_history_changes_the_scores()
    {
        // Parity would say little if the history were ignored: the same candidate scores differently after each history.
        var first = fixture.Reference.Select(r => Math.Round(r[0], 6)).Distinct().Count();
        Assert.Equal(fixture.Requests.Count, first);
    }

    private void AssertClose(IReadOnlyList<double[]> scores)
    {
        var worst = 0.0;
        for (var u = 0; u < fixture.Requests.Count; u++)
        {
            Assert.Equal(fixture.Reference[u].Length, scores[u].Length);
            for (var i = 0; i < scores[u].Length; i++)
            {
                worst = Math.Max(worst, Math.Abs(scores[u][i] - fixture.Reference[u][i]));
            }
        }

        Assert.True(worst < Tolerance, $"max |Δ score| between ONNX Runtime and PyTorch: {worst}");
    }
}
