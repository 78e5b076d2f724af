using GenRec.Data;
using GenRec.Inference;
using GenRec.Models;
using GenRec.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training.Tests;

/// <summary>The HSTU network: M-FALCON candidate scoring equals scoring each candidate in a full causal pass of its own.</summary>
public sealed class HstuTests
{
    private static readonly Dictionary<ItemId, long> Rows = TestData.Dataset.Catalogue.Select((item, i) => (item, row: (long)i + 1)).ToDictionary(p => p.item, p => p.row);

    private static (Tensor Items, Tensor Actions, Tensor Times, Tensor Requests) RealHistories(int users, int events)
    {
        var cases = TestData.Split.Cases(SplitTarget.Test).Take(users).ToArray();
        var (items, actions, times) = HstuTrainer.Tokens([.. cases.Select(c => c.HistoryEvents())], events, i => Rows.GetValueOrDefault(i));
        return (items, actions, times, torch.tensor(cases.Select(c => c.Target.Timestamp).ToArray()));
    }

    private static HstuNetwork Network(int maxHistory, int crossFeatures = 0)
    {
        var network = new HstuNetwork(new HstuConfig(Rows.Count + 1, Dimension: 32, Layers: 2, Heads: 2, MaxHistory: maxHistory, Genres: 3, YearBuckets: 4, PopularityBuckets: 4, CrossFeatures: crossFeatures));
        var random = new Random(1);
        network.SetItemFeatures(
            [.. Enumerable.Range(0, (Rows.Count + 1) * 3).Select(_ => (float)random.Next(2))],
            [.. Enumerable.Range(0, Rows.Count + 1).Select(_ => (long)random.Next(4))],
            [.. Enumerable.Range(0, Rows.Count + 1).Select(_ => (long)random.Next(4))]);
        network.eval();
        return network;
    }

    [Fact]
    public void Each_candidate_scores_as_if_it_were_the_next_item_of_a_full_causal_pass()
    {
        using var network = Network(20, crossFeatures: 0);
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var (items, actions, times, requests) = RealHistories(3, 20);
        var random = new Random(5);
        var candidates = torch.tensor(Enumerable.Range(0, 3 * 12).Select(_ => (long)(1 + random.Next(Rows.Count))).ToArray(), [3, 12]);

        var history = network.Encode(items, actions, times);
        var together = network.ScoreCandidates(history, candidates, null, requests);
        for (var c = 0; c < 12; c++)
        {
            // The candidate as one more item token at the end of the history, in an ordinary causal pass.
            var withCandidate = network.Encode(
                torch.cat([items, candidates[.., c..(c + 1)]], 1),
                torch.cat([actions, TorchOps.Full(3, 1, HstuGraphContract.CandidateAction)], 1),
                torch.cat([times, requests.unsqueeze(1)], 1));
            var own = network.RatingLogits(withCandidate)[.., -1];
            var difference = (own - together[.., c, 1]).abs().max().item<float>();
            Assert.True(difference < 1e-4f, $"candidate {c}: {difference}");
        }

        // Reversing the candidates reverses the scores: no candidate sees another.
        var reversed = network.ScoreCandidates(history, candidates.flip(1), null, requests);
        Assert.True((reversed.flip(1) - together).abs().max().item<float>() < 1e-5f);
    }

    [Fact]
    public void The_history_shapes_the_scores_and_padding_does_not()
    {
        using var network = Network(30, crossFeatures: 2);
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var (items, actions, times, requests) = RealHistories(2, 20);
        var candidates = torch.tensor(new long[] { 1, 2, 3, 1, 2, 3 }, [2, 3]);
        var cross = torch.ones(2, 3, 2);

        var scores = network.ScoreCandidates(network.Encode(items, actions, times), candidates, cross, requests);
        var pad = torch.zeros(2, 20, dtype: ScalarType.Int64);
        var padded = network.ScoreCandidates(network.Encode(torch.cat([pad, items], 1), torch.cat([pad, actions], 1), torch.cat([pad, times], 1)), candidates, cross, requests);
        var otherFeatures = network.ScoreCandidates(network.Encode(items, actions, times), candidates, cross.Times(3), requests);

        // Same candidates, different users or cross features: different scores. Extra left padding: the same scores.
        Assert.True((scores[0] - scores[1]).abs().max().item<float>() > 1e-4f);
        Assert.True((otherFeatures - scores).abs().max().item<float>() > 1e-4f);
        Assert.True((padded - scores).abs().max().item<float>() < 1e-4f, "padding changed the scores");
    }

    [Fact]
    public void Histories_become_interleaved_item_and_action_tokens_in_time_order()
    {
        var t0 = DateTimeOffset.FromUnixTimeSeconds(1_000_000);
        var user = new UserId(1);
        UserEvent[] history =
        [
            new(user, new ItemId(2), ActionType.Rate, t0.AddSeconds(20), 4.5f),
            new(user, new ItemId(1), ActionType.Click, t0.AddSeconds(10)),
            new(user, new ItemId(99), ActionType.Rate, t0.AddSeconds(30), 1f), // unknown: skipped
        ];
        var items = new long[6];
        var actions = new long[6];
        var times = new long[6];

        var written = HstuGraphContract.EncodeHistory(history, 3, i => i.Value < 10 ? i.Value * 10 : 0, items, actions, times);

        Assert.Equal(2, written);
        Assert.Equal([0, 0, 10, 0, 20, 0], items);
        Assert.Equal([0, 0, 0, 11 + (int)ActionType.Click, 0, 9], actions);
        Assert.Equal([0, 0, 1_000_010, 1_000_010, 1_000_020, 1_000_020], times);
    }
}

public sealed class HstuTrainingTests
{
    private static HstuTrainer.Options Small(List<HstuTrainingProgress> epochs) => new()
    {
        Dimension = 16,
        Layers = 1,
        Heads = 2,
        MaxHistory = 20,
        Epochs = 3,
        WindowsPerUser = 1,
        Negatives = 8,
        Device = ComputeDevice.Cpu,
        Progress = new SyncProgress<HstuTrainingProgress>(epochs.Add),
    };

    [Fact]
    public async Task A_sampled_softmax_learns_the_next_items_and_bad_counts_are_refused()
    {
        // 64 drawn items instead of the 9,000-item catalogue per step: the loss still falls, and the next-item
        // distribution, read over the whole catalogue, finds validation targets far above chance.
        var reports = new List<HstuTrainingProgress>();
        var options = Small(reports);
        options.SampledNegatives = 64;
        using var model = new HstuTrainer(options).Fit(TestData.Split);

        var epochs = reports.Where(r => r.Step == r.Steps).ToList();
        Assert.True(epochs[^1].SequenceLoss < epochs[0].SequenceLoss, string.Join(", ", epochs.Select(e => e.SequenceLoss)));
        var cases = TestData.Split.Cases(SplitTarget.Valid).Take(200).ToArray();
        var found = 0;
        foreach (var c in cases)
        {
            var recalled = await model.AsRecall().RecallAsync(new RecommendationRequest(c.User, c.HistoryEvents(), 100, c.Target.Time), 100, TestContext.Current.CancellationToken);
            found += recalled.Any(r => r.Item == c.Target.Item) ? 1 : 0;
        }

        var chance = 100.0 / TestData.Dataset.Catalogue.Count;
        Assert.True(found / (double)cases.Length > 5 * chance, $"HR@100 {found / (double)cases.Length:0.000} against chance {chance:0.000}");
        Assert.Throws<ArgumentOutOfRangeException>(() => new HstuTrainer(new HstuTrainer.Options { SampledNegatives = -1 }));
    }

    [Fact]
    public async Task Training_lowers_both_losses_and_the_ranker_keeps_every_candidate()
    {
        var reports = new List<HstuTrainingProgress>();
        using var model = new HstuTrainer(Small(reports)).Fit(TestData.Split);

        // Reports within an epoch (every ~2 s, steps counting up) and one at each epoch's end.
        var epochs = reports.Where(r => r.Step == r.Steps).ToList();
        Assert.Equal([1, 2, 3], epochs.Select(e => e.Epoch));
        Assert.All(reports, r => Assert.InRange(r.Step, 0, r.Steps));
        Assert.All(epochs, e => Assert.True(e.Steps > 0));
        Assert.True(epochs[^1].SequenceLoss < epochs[0].SequenceLoss, string.Join(", ", epochs.Select(e => e.SequenceLoss)));
        Assert.True(epochs[^1].RankingLoss < epochs[0].RankingLoss, string.Join(", ", epochs.Select(e => e.RankingLoss)));
        var c = TestData.Split.Cases(SplitTarget.Test)[0];
        var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
        IReadOnlyList<Candidate> candidates = [new(c.Target.Item, 0, "x"), new(new ItemId(999_999_999), 0, "x"), .. TestData.Dataset.Catalogue.Take(20).Select(i => new Candidate(i, 0, "x"))];
        var ranked = await model.AsRanker().RankAsync(request, candidates, TestContext.Current.CancellationToken);
        Assert.Equal(candidates.Select(x => x.Item).Order(), ranked.Select(x => x.Item).Order());
        Assert.Equal(new ItemId(999_999_999), ranked[^1].Item);
        Assert.All(ranked.SkipLast(1), x => Assert.True(double.IsFinite(x.Score)));

        // As a recall stage: the asked number of items, none from the history.
        var recalled = await model.AsRecall().RecallAsync(request, 50, TestContext.Current.CancellationToken);
        Assert.Equal(50, recalled.Count);
        Assert.DoesNotContain(recalled, x => c.History.Any(h => h.Item == x.Item));
    }

    [Fact]
    public void A_saved_model_loads_with_the_same_scores_and_damaged_folders_are_refused()
    {
        using var model = new HstuTrainer(Small([])).Fit(TestData.Split);
        var folder = Directory.CreateTempSubdirectory("genrec-hstu-").FullName;
        try
        {
            model.Save(folder);
            using var loaded = HstuModel.Load(folder, ComputeDevice.Cpu);
            var c = TestData.Split.Cases(SplitTarget.Test)[3];
            var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
            Candidate[] candidates = [.. TestData.Dataset.Catalogue.Skip(100).Take(30).Select(i => new Candidate(i, 0, "x"))];
            Assert.Equal(model.Score(request, candidates), loaded.Score(request, candidates));

            // A truncated weights file, then a manifest of another format: clear errors.
            var weights = Path.Combine(folder, "model.weights");
            File.WriteAllBytes(weights, File.ReadAllBytes(weights)[..1000]);
            Assert.Throws<InvalidDataException>(() => HstuModel.Load(folder, ComputeDevice.Cpu));
            var manifest = Path.Combine(folder, "manifest.json");
            File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("\"FormatVersion\": 1", "\"FormatVersion\": 7", StringComparison.Ordinal));
            Assert.Contains("version 7", Assert.Throws<InvalidDataException>(() => HstuModel.Load(folder, ComputeDevice.Cpu)).Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

/// <summary>HSTU's scores as another ranker's features: the same heads the HSTU ranker and retriever use.</summary>
public sealed class HstuFeatureTests
{
    [Fact]
    public void Features_are_the_next_item_distribution_and_the_ranking_heads_of_one_pass()
    {
        using var model = new HstuTrainer(new HstuTrainer.Options { Dimension = 16, Layers = 1, Heads = 2, MaxHistory = 12, Epochs = 1, WindowsPerUser = 1, Negatives = 8, Device = ComputeDevice.Cpu }).Fit(TestData.Split);
        var features = model.AsCandidateFeatures(prefix: "h");
        Assert.Equal(["h_next_logprob", "h_next_log_rank", "h_interacts", "h_rates"], features.Names);
        var c = TestData.Split.Cases(SplitTarget.Test)[1];
        var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
        Candidate[] candidates = [new(model.Items[0], 0, "x"), new(model.Items[17], 0, "x"), new(new ItemId(-3), 0, "x"), new(model.Items[400], 0, "x")];
        var values = new float[candidates.Length * 4];

        features.Compute(request, candidates, values);

        var logits = model.NextItemLogits(request);
        var max = logits.Max();
        var logSum = max + Math.Log(logits.Sum(v => Math.Exp(v - max)));
        var ranking = model.Score(request, candidates);
        foreach (var (i, row) in new[] { (0, 0), (1, 17), (3, 400) })
        {
            Assert.Equal(logits[row] - logSum, values[i * 4], 1e-4);
            Assert.Equal(MathF.Log(1 + logits.Count(v => v > logits[row])), values[(i * 4) + 1], 1e-5);
            Assert.Equal(ranking[i], values[(i * 4) + 2] + ((float)model.RatingWeight * values[(i * 4) + 3]), 1e-5);
        }

        Assert.All(values[8..12], v => Assert.True(float.IsNaN(v)));
        Assert.True(double.IsNegativeInfinity(ranking[2]));
    }

    [Fact]
    public void As_a_reward_it_is_the_good_rating_probability_plus_the_engagement_score()
    {
        using var model = new HstuTrainer(new HstuTrainer.Options { Dimension = 16, Layers = 1, Heads = 2, MaxHistory = 12, Epochs = 1, WindowsPerUser = 1, Negatives = 8, Device = ComputeDevice.Cpu }).Fit(TestData.Split);
        var c = TestData.Split.Cases(SplitTarget.Test)[2];
        var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
        ItemId[] items = [model.Items[3], new ItemId(-3), model.Items[250]];
        var heads = new float[items.Length * 4];
        model.AsCandidateFeatures().Compute(request, [.. items.Select(i => new Candidate(i, 0, "x"))], heads);
        var rewards = new double[items.Length];

        model.AsReward(ratingWeight: 2, engagementWeight: 0.5).Score(request, items, rewards);

        static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
        foreach (var i in new[] { 0, 2 })
        {
            Assert.Equal((2 * Sigmoid(heads[(i * 4) + 3])) + (0.5 * Sigmoid(heads[(i * 4) + 2])), rewards[i], 1e-5);
        }

        Assert.True(double.IsNaN(rewards[1]));
        Assert.Throws<ArgumentException>(() => model.AsReward(0, 0));
        Assert.Throws<ArgumentException>(() => model.AsReward(-1, 1));
        Assert.Throws<ArgumentException>(() => model.AsReward(1, double.NaN));
        Assert.Throws<ArgumentException>(() => model.AsReward().Score(request, items, new double[2]));
    }
}
