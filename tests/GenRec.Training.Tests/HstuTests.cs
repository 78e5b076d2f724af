using GenRec.Data;
using GenRec.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training.Tests;

/// <summary>The HSTU network's M-FALCON scoring: many candidates in one pass score exactly as each alone.</summary>
public sealed class HstuTests
{
    private static (Tensor Items, Tensor Actions, Tensor Times, Tensor Requests, long[] Pool) RealHistories(int users, int length, Dictionary<ItemId, long> rows)
    {
        var cases = TestData.Split.Cases(SplitTarget.Test).Take(users).ToArray();
        var items = new long[users * length];
        var acts = new long[users * length];
        var times = new long[users * length];
        for (var u = 0; u < users; u++)
        {
            var h = cases[u].History.TakeLast(length).ToArray();
            var at = (u * length) + length - h.Length;
            foreach (var e in h)
            {
                items[at] = rows[e.Item];
                acts[at] = 1 + (int)Math.Round(e.Rating * 2);
                times[at] = e.Timestamp;
                at++;
            }
        }

        var requests = cases.Select(c => c.Target.Timestamp).ToArray();
        return (torch.tensor(items, [users, length]), torch.tensor(acts, [users, length]), torch.tensor(times, [users, length]), torch.tensor(requests), rows.Values.ToArray());
    }

    [Fact]
    public void Candidates_scored_together_score_as_each_alone()
    {
        var rows = TestData.Dataset.Catalogue.Select((item, i) => (item, row: (long)i + 1)).ToDictionary(p => p.item, p => p.row);
        using var network = new HstuNetwork(new HstuConfig(rows.Count + 1, Actions: 13, Dimension: 32, Layers: 2, Heads: 2, MaxHistory: 20));
        network.eval();
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var (items, actions, times, requests, pool) = RealHistories(4, 20, rows);
        var random = new Random(5);
        var candidates = torch.tensor(Enumerable.Range(0, 4 * 12).Select(_ => pool[random.Next(pool.Length)]).ToArray(), [4, 12]);

        var together = network.Score(items, actions, times, candidates, requests);
        for (var c = 0; c < 12; c++)
        {
            var alone = network.Score(items, actions, times, candidates[.., c..(c + 1)], requests);
            var difference = (alone[.., 0] - together[.., c]).abs().max().item<float>();
            Assert.True(difference < 1e-5f, $"candidate {c}: {difference}");
        }

        // Reversing the candidates reverses the scores: no candidate sees another.
        var reversed = network.Score(items, actions, times, candidates.flip(1), requests);
        Assert.True((reversed.flip(1) - together).abs().max().item<float>() < 1e-5f);
    }

    [Fact]
    public void The_history_shapes_the_scores_and_padding_does_not()
    {
        var rows = TestData.Dataset.Catalogue.Select((item, i) => (item, row: (long)i + 1)).ToDictionary(p => p.item, p => p.row);
        using var network = new HstuNetwork(new HstuConfig(rows.Count + 1, Actions: 13, Dimension: 32, Layers: 2, Heads: 2, MaxHistory: 30));
        network.eval();
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var (items, actions, times, requests, _) = RealHistories(2, 20, rows);
        var candidates = torch.tensor(new long[] { 1, 2, 3, 1, 2, 3 }, [2, 3]);

        var scores = network.Score(items, actions, times, candidates, requests);
        var padded = network.Score(
            torch.cat([torch.zeros(2, 10, dtype: ScalarType.Int64), items], 1),
            torch.cat([torch.zeros(2, 10, dtype: ScalarType.Int64), actions], 1),
            torch.cat([torch.zeros(2, 10, dtype: ScalarType.Int64), times], 1),
            candidates,
            requests);

        // Same candidates, different users: different scores. Extra left padding: the same scores.
        Assert.True((scores[0] - scores[1]).abs().max().item<float>() > 1e-4f);
        Assert.True((padded - scores).abs().max().item<float>() < 1e-4f, "padding changed the scores");
    }
}

public sealed class HstuTrainingTests
{
    [Fact]
    public async Task Training_lowers_the_loss_and_the_ranker_keeps_every_candidate()
    {
        var epochs = new List<HstuTrainingProgress>();
        using var ranker = new HstuTrainer(new HstuTrainer.Options
        {
            Dimension = 16,
            Layers = 1,
            Heads = 2,
            MaxHistory = 20,
            Epochs = 3,
            TargetsPerUser = 4,
            Negatives = 8,
            Device = ComputeDevice.Cpu,
            Progress = new SyncProgress<HstuTrainingProgress>(epochs.Add),
        }).Fit(TestData.Split);

        Assert.Equal([1, 2, 3], epochs.Select(e => e.Epoch));
        Assert.True(epochs[^1].Loss < epochs[0].Loss, string.Join(", ", epochs.Select(e => e.Loss)));
        var c = TestData.Split.Cases(SplitTarget.Test)[0];
        var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
        IReadOnlyList<Candidate> candidates = [new(c.Target.Item, 0, "x"), new(new ItemId(999_999_999), 0, "x"), .. TestData.Dataset.Catalogue.Take(20).Select(i => new Candidate(i, 0, "x"))];
        var ranked = await ranker.RankAsync(request, candidates, TestContext.Current.CancellationToken);
        Assert.Equal(candidates.Select(x => x.Item).Order(), ranked.Select(x => x.Item).Order());
        Assert.Equal(new ItemId(999_999_999), ranked[^1].Item);
        Assert.All(ranked.SkipLast(1), x => Assert.True(double.IsFinite(x.Score)));
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
