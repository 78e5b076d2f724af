using GenRec.Data;
using GenRec.Inference;
using GenRec.Models;
using GenRec.TestSupport;
using GenRec.Training.Onnx;

namespace GenRec.Training.Tests;

/// <summary>A small HSTU trained with cross features on real data, exported once and shared.</summary>
public sealed class HstuOnnxFixture : IDisposable
{
    public HstuOnnxFixture()
    {
        Features = new TestFeatures(TestData.Split);
        var random = new Random(3);
        var catalogue = TestData.Dataset.Catalogue;
        Queries = [.. TestData.Split.Train.Where(s => s.Interactions.Count > 5).Take(150).Select(s =>
        {
            var target = s.Interactions[^1];
            var request = new RecommendationRequest(s.User, [.. s.Interactions.SkipLast(1).Select(i => i.ToEvent())], 10, target.Time);
            Candidate[] candidates = [new(target.Item, 0, "t"), .. Enumerable.Range(0, 20).Select(_ => new Candidate(catalogue[random.Next(catalogue.Count)], 0, "r"))];
            var values = new float[candidates.Length * Features.Names.Count];
            Features.Compute(request, candidates, values);
            return new RankingQuery(request, candidates, 0, values);
        })];
        Model = new HstuTrainer(new HstuTrainer.Options { Dimension = 16, Layers = 2, Heads = 2, MaxHistory = 12, Epochs = 2, WindowsPerUser = 1, Negatives = 10, Device = ComputeDevice.Cpu })
            .Fit(TestData.Split, Queries, Features.Names);
        Folder = Directory.CreateTempSubdirectory("genrec-hstu-onnx-").FullName;
        Manifest = HstuOnnxExporter.Export(Model, Folder);
    }

    public TestFeatures Features { get; }

    public RankingQuery[] Queries { get; }

    public HstuModel Model { get; }

    public string Folder { get; }

    public HstuOnnxManifest Manifest { get; }

    public void Dispose()
    {
        Model.Dispose();
        Directory.Delete(Folder, recursive: true);
    }

    /// <summary>Two cross features: the item's train popularity (log) and, missing (NaN) for every third item, its id parity.</summary>
    public sealed class TestFeatures(DataSplit split) : ICandidateFeatures
    {
        private readonly Dictionary<ItemId, int> _counts = split.TrainInteractions.CountBy(i => i.Item).ToDictionary(p => p.Key, p => p.Value);

        public IReadOnlyList<string> Names { get; } = ["log_popularity", "parity"];

        public void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
        {
            for (var i = 0; i < candidates.Count; i++)
            {
                var id = candidates[i].Item.Value;
                destination[2 * i] = MathF.Log(1 + _counts.GetValueOrDefault(candidates[i].Item));
                destination[(2 * i) + 1] = id % 3 == 0 ? float.NaN : id % 2;
            }
        }
    }
}

public sealed class HstuOnnxTests(HstuOnnxFixture fixture) : IClassFixture<HstuOnnxFixture>
{
    private static RecommendationRequest Request(int user)
    {
        var c = TestData.Split.Cases(SplitTarget.Test)[user];
        return new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
    }

    [Fact]
    public void Onnx_runtime_scores_as_torchsharp_in_one_batch_or_many()
    {
        // The CPU unless GENREC_ONNX_PROVIDER says Auto or Cuda (scripts/gpu-check.sh).
        var provider = Enum.TryParse<ExecutionProviderPreference>(Environment.GetEnvironmentVariable("GENREC_ONNX_PROVIDER"), ignoreCase: true, out var p) ? p : ExecutionProviderPreference.Cpu;
        using var onnx = HstuOnnxRanker.Load(fixture.Folder, fixture.Features, new OnnxRuntimeOptions { ExecutionProvider = provider }, candidateBatch: 64);
        var catalogue = TestData.Dataset.Catalogue;
        var worst = 0.0;
        for (var u = 0; u < 12; u++)
        {
            var request = Request(u * 7);
            Candidate[] candidates = [.. catalogue.Skip(u * 50).Take(150).Select(i => new Candidate(i, 0, "x")), new(new ItemId(987_654_321), 0, "x")];
            var torch = fixture.Model.Score(request, candidates, fixture.Features);
            var served = onnx.Score(request, candidates);
            var oneBatch = onnx.Score(request, candidates, candidateBatch: 1000);
            Assert.Equal(double.NegativeInfinity, served[^1]);
            for (var i = 0; i < candidates.Length - 1; i++)
            {
                worst = Math.Max(worst, Math.Max(Math.Abs(torch[i] - served[i]), Math.Abs(oneBatch[i] - served[i])));
            }
        }

        Assert.True(worst < 1e-4, $"max |Δ score| {worst}");
    }

    [Fact]
    public void Empty_huge_and_unknown_histories_score_finitely_and_alike_in_both_runtimes()
    {
        using var onnx = HstuOnnxRanker.Load(fixture.Folder, fixture.Features, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
        var user = new UserId(7);
        var now = DateTimeOffset.FromUnixTimeSeconds(1_500_000_000);
        var catalogue = TestData.Dataset.Catalogue;
        UserEvent[][] histories =
        [
            [],
            [.. Enumerable.Range(0, 20_000).Select(i => new UserEvent(user, catalogue[i % catalogue.Count], ActionType.Click, now.AddSeconds(-20_000 + i)))],
            [new UserEvent(user, new ItemId(987_654_321), ActionType.Rate, now.AddDays(-1), 5f)],
        ];
        Candidate[] candidates = [.. catalogue.Take(30).Select(i => new Candidate(i, 0, "x"))];
        foreach (var history in histories)
        {
            var request = new RecommendationRequest(user, history, 10, now);
            var torch = fixture.Model.Score(request, candidates, fixture.Features);
            var served = onnx.Score(request, candidates);
            Assert.All(served, v => Assert.True(double.IsFinite(v)));
            Assert.True(torch.Zip(served).Max(p => Math.Abs(p.First - p.Second)) < 1e-4, $"history of {history.Length} events");
        }

        // A history longer than the model reads is cut to its last events: the same scores as those events alone.
        var longRequest = new RecommendationRequest(user, histories[1], 10, now);
        var tail = new RecommendationRequest(user, histories[1][^fixture.Model.MaxHistory..], 10, now);
        Assert.Equal(onnx.Score(tail, candidates), onnx.Score(longRequest, candidates));
    }

    [Fact]
    public void Requests_scored_together_score_as_each_alone()
    {
        using var onnx = HstuOnnxRanker.Load(fixture.Folder, fixture.Features, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu }, candidateBatch: 32);
        var catalogue = TestData.Dataset.Catalogue;
        var batch = Enumerable.Range(0, 5).Select(u => (
            Request: Request(u * 11),
            Candidates: (IReadOnlyList<Candidate>)[.. catalogue.Skip(u * 40).Take(u == 3 ? 0 : 20 + (u * 17)).Select(i => new Candidate(i, 0, "x")), new(new ItemId(987_654_321), 0, "x")])).ToArray();

        var together = onnx.Score(batch);

        for (var u = 0; u < batch.Length; u++)
        {
            var alone = onnx.Score(batch[u].Request, batch[u].Candidates);
            Assert.Equal(alone.Length, together[u].Length);
            Assert.Equal(double.NegativeInfinity, together[u][^1]);
            for (var i = 0; i < alone.Length - 1; i++)
            {
                Assert.Equal(alone[i], together[u][i], 1e-4);
            }
        }
    }

    [Fact]
    public async Task Concurrent_requests_through_the_batcher_are_merged_and_rank_as_each_alone()
    {
        using var onnx = HstuOnnxRanker.Load(fixture.Folder, fixture.Features, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu }, candidateBatch: 32);
        await using var batcher = new HstuMicroBatcher(onnx, new HstuBatcherOptions { MaxBatchSize = 8, MaxWait = TimeSpan.FromMilliseconds(200) });
        var catalogue = TestData.Dataset.Catalogue;
        var work = Enumerable.Range(0, 12).Select(u => (
            Request: Request(u * 7),
            Candidates: (IReadOnlyList<Candidate>)[.. catalogue.Skip(u * 30).Take(10 + (u * 5)).Select(i => new Candidate(i, 0, "x")), new(new ItemId(987_654_321), 0, "x")])).ToArray();

        var ranked = await Task.WhenAll(work.Select(w => batcher.RankAsync(w.Request, w.Candidates, TestContext.Current.CancellationToken).AsTask()));

        Assert.Equal(12, batcher.Requests);
        Assert.InRange(batcher.Batches, 2, 11); // merged, and never more than 8 at once
        for (var u = 0; u < work.Length; u++)
        {
            var alone = await onnx.RankAsync(work[u].Request, work[u].Candidates, TestContext.Current.CancellationToken);
            Assert.Equal(alone.Select(c => c.Item), ranked[u].Select(c => c.Item));
            Assert.Equal(alone.Select(c => c.Score), ranked[u].Select(c => c.Score), (a, b) => a == b || Math.Abs(a - b) < 1e-4);
            Assert.Equal(new ItemId(987_654_321), ranked[u][^1].Item); // the unknown item keeps its place after the known ones
        }

        Assert.Empty(await batcher.RankAsync(Request(1), [], TestContext.Current.CancellationToken));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => batcher.RankAsync(Request(1), work[0].Candidates, cancelled.Token).AsTask());
        await batcher.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => batcher.RankAsync(Request(1), work[0].Candidates, TestContext.Current.CancellationToken).AsTask());
        Assert.Throws<ArgumentOutOfRangeException>(() => new HstuMicroBatcher(onnx, new HstuBatcherOptions { MaxBatchCandidates = 0 }));
    }

    [Fact]
    public void Appended_events_extend_the_state_to_the_scores_of_encoding_the_whole_history()
    {
        using var onnx = HstuOnnxRanker.Load(fixture.Folder, fixture.Features, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
        var window = fixture.Manifest.MaxHistory;
        var catalogue = TestData.Dataset.Catalogue;
        var unknown = new ItemId(987_654_321);
        var worst = 0.0;
        var checkedUsers = 0;
        foreach (var c in TestData.Split.Cases(SplitTarget.Test).Where(c => c.HistoryEvents().Count >= window).Take(8))
        {
            var events = c.HistoryEvents().Take(window).ToArray();
            var request = new RecommendationRequest(c.User, events, 10, c.Target.Time);
            Candidate[] candidates = [.. catalogue.Skip(checkedUsers * 40).Take(40).Select(i => new Candidate(i, 0, "x"))];
            var whole = onnx.Score(onnx.Encode(events), request, candidates);

            // Encoded from the first three events, then one event at a time, then the rest at once (with an event
            // of an item the model does not know among them, skipped as encoding skips it).
            var state = onnx.Encode(events[..3]);
            for (var i = 3; i < 6; i++)
            {
                Assert.True(onnx.TryExtend(state, [events[i]], out var next));
                state = next;
            }

            Assert.True(onnx.TryExtend(state, [.. events[6..], new UserEvent(c.User, unknown, ActionType.Click, events[^1].Timestamp)], out var extended));
            Assert.Equal(window, extended.Events);
            Assert.Equal(events[^1].Timestamp, extended.Last);
            var incremental = onnx.Score(extended, request, candidates);
            var direct = onnx.Score(request, candidates);
            for (var i = 0; i < candidates.Length; i++)
            {
                worst = Math.Max(worst, Math.Max(Math.Abs(whole[i] - incremental[i]), Math.Abs(direct[i] - incremental[i])));
            }

            checkedUsers++;
        }

        Assert.Equal(8, checkedUsers);
        Assert.True(worst < 1e-4, $"max |Δ score| {worst}");
    }

    [Fact]
    public void A_state_is_not_extended_where_that_would_not_be_exact()
    {
        using var onnx = HstuOnnxRanker.Load(fixture.Folder, fixture.Features, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
        var window = fixture.Manifest.MaxHistory;
        var c = TestData.Split.Cases(SplitTarget.Test).First(c => c.HistoryEvents().Count > window);
        var events = c.HistoryEvents().Take(window + 1).ToArray();
        var full = onnx.Encode(events[..window]);

        // The window would slide: every kept token would change.
        Assert.False(onnx.TryExtend(full, [events[window]], out var slid));
        Assert.Null(slid);

        // An event earlier than the state's last belongs inside the history, not after it.
        var start = onnx.Encode(events[..4]);
        Assert.False(onnx.TryExtend(start, [events[4] with { Timestamp = events[3].Timestamp.AddSeconds(-1) }], out _));

        // Nothing the model knows appended: the same state. An empty state is encoded from the appended events.
        Assert.True(onnx.TryExtend(start, [new UserEvent(c.User, new ItemId(987_654_321), ActionType.Click, events[4].Timestamp)], out var same));
        Assert.Same(start, same);
        Assert.True(onnx.TryExtend(onnx.Encode([]), events[..4], out var fromEmpty));
        Assert.Equal(4, fromEmpty.Events);
        Candidate[] candidates = [.. TestData.Dataset.Catalogue.Take(20).Select(i => new Candidate(i, 0, "x"))];
        var request = new RecommendationRequest(c.User, events[..4], 10, c.Target.Time);
        Assert.Equal(onnx.Score(start, request, candidates), onnx.Score(fromEmpty, request, candidates));

        Assert.Throws<ArgumentException>(() => onnx.TryExtend(start, [null!], out _));
    }

    [Fact]
    public void A_format_2_manifest_without_its_extend_graph_is_refused()
    {
        var copy = Directory.CreateTempSubdirectory("genrec-hstu-v2-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(fixture.Folder))
            {
                File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
            }

            (fixture.Manifest with { Extend = null }).Save(copy);
            Assert.Contains("extend graph", Assert.Throws<InvalidDataException>(() => HstuOnnxRanker.Load(copy, fixture.Features)).Message);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    [Fact]
    public void The_served_ranker_needs_the_features_it_was_trained_on()
    {
        Assert.Contains("cross features", Assert.Throws<ArgumentException>(() => HstuOnnxRanker.Load(fixture.Folder)).Message);
        Assert.Throws<ArgumentException>(() => fixture.Model.AsRanker(new OtherFeatures()));
    }

    [Fact]
    public void A_damaged_export_is_refused_with_the_reason()
    {
        var copy = Directory.CreateTempSubdirectory("genrec-hstu-damaged-").FullName;
        try
        {
            foreach (var file in Directory.GetFiles(fixture.Folder))
            {
                File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
            }

            var graph = Path.Combine(copy, HstuGraphContract.CandidatesFile);
            File.WriteAllBytes(graph, File.ReadAllBytes(graph)[..500]);
            Assert.Contains("SHA-256", Assert.Throws<InvalidDataException>(() => HstuOnnxRanker.Load(copy, fixture.Features)).Message);
            fixture.Model.Save(copy);
            Assert.Contains("genrec train hstu", Assert.Throws<InvalidDataException>(() => HstuOnnxRanker.Load(copy, fixture.Features)).Message);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    private sealed class OtherFeatures : ICandidateFeatures
    {
        public IReadOnlyList<string> Names { get; } = ["something_else"];

        public void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination) => destination.Clear();
    }
}
