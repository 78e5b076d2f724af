using GenRec.Data;
using GenRec.Generative;
using GenRec.SemanticIds;
using GenRec.TestSupport;

namespace GenRec.Training.Tests;

/// <summary>
/// Preference alignment on a small synthetic case: the fixture's tiny TIGER (trained on the real train part) is
/// aligned to a reward that likes the items of half the first-level semantic-ID codes (a content cluster a user
/// base prefers), which the data alone does not favour.
/// </summary>
public sealed class PreferenceAlignmentTests(TigerFixture fixture) : AlignmentTests(fixture), IClassFixture<TigerFixture>
{
    [Fact]
    public async Task An_aligned_model_saves_and_loads_with_its_report()
    {
        using var aligned = new PreferenceAligner(new PreferenceAligner.Options { Rounds = 1, UsersPerRound = 20, Candidates = 4 })
            .Align(Fixture.Model, TestData.Split, Fixture.Index, new ClusterReward(Fixture.Index));
        using var folder = TestData.TempFolder();

        aligned.Save(folder.Path);
        using var loaded = TigerModelArtifact.Load(folder.Path, ComputeDevice.Cpu);

        Assert.Equal(aligned.Alignment!.Rounds, loaded.Alignment!.Rounds);
        Assert.Equal(aligned.Alignment.Beta, loaded.Alignment.Beta);
        Assert.Null(Fixture.Model.Alignment);
        var probe = Probe();
        Assert.Equal(LogProbabilities(aligned, probe), LogProbabilities(loaded, probe));
        var request = TestData.Split.Case(new UserId(11), SplitTarget.Valid);
        var recall = await new GenerativeRecall(loaded, Fixture.Index).RecallAsync(new RecommendationRequest(request.User, request.HistoryEvents(), 10, request.Target.Time), 10);
        Assert.Equal(10, recall.Select(r => r.Item).Distinct().Count());
    }

    [Fact]
    public void Bad_options_and_another_index_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PreferenceAligner(new PreferenceAligner.Options { Beta = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PreferenceAligner(new PreferenceAligner.Options { Candidates = 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PreferenceAligner(new PreferenceAligner.Options { DataWeight = double.NaN }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PreferenceAligner(new PreferenceAligner.Options { UsersPerRound = 0 }));
        var other = new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 2, CodebookSize = 32, MaxIterations = 2, Seed = 9 })
            .Fit(new ItemEmbeddings([.. Fixture.Index.Items], new float[Fixture.Index.Count * 2].Select((_, i) => (float)Math.Sin(i)).ToArray(), 2));
        Assert.Throws<InvalidOperationException>(() => new PreferenceAligner().Align(Fixture.Model, TestData.Split, other, new ClusterReward(other)));
    }
}

/// <summary>The same synthetic case on the end-to-end model (event histories, item table): the aligned copy keeps its table.</summary>
public sealed class EndToEndAlignmentTests(EndToEndFixture fixture) : AlignmentTests(fixture), IClassFixture<EndToEndFixture>
{
    [Fact]
    public void The_aligned_copy_keeps_the_item_table_and_side_features()
    {
        using var aligned = new PreferenceAligner(new PreferenceAligner.Options { Rounds = 1, UsersPerRound = 20, Candidates = 4 })
            .Align(Fixture.Model, TestData.Split, Fixture.Index, new ClusterReward(Fixture.Index));

        Assert.Equal(TigerArchitecture.EndToEnd, aligned.Config.Architecture);
        Assert.Equal(Fixture.Model.Items, aligned.Items);
        var c = TestData.Split.Case(new UserId(11), SplitTarget.Valid);
        Assert.Equal(Fixture.Model.EncodeHistory(c.HistoryEvents(), Fixture.Index), aligned.EncodeHistory(c.HistoryEvents(), Fixture.Index));
    }
}

/// <summary>What alignment must do whatever the architecture.</summary>
public abstract class AlignmentTests(TigerFixture fixture)
{
    protected TigerFixture Fixture => fixture;

    [Fact]
    public async Task Alignment_moves_the_generated_lists_toward_the_reward_and_leaves_the_reference_as_it_was()
    {
        var reward = new ClusterReward(fixture.Index);
        var probe = Probe();
        var referenceBefore = LogProbabilities(fixture.Model, probe);
        var before = await MeanListReward(fixture.Model, reward);
        var rounds = new List<AlignmentProgress>();

        using var aligned = new PreferenceAligner(new PreferenceAligner.Options
        {
            Rounds = 3,
            UsersPerRound = 120,
            Candidates = 10,
            PairsPerUser = 2,
            Beta = 0.5,
            DataWeight = 0,
            LearningRate = 3e-3,
            Progress = new SyncProgress<AlignmentProgress>(rounds.Add),
        }).Align(fixture.Model, TestData.Split, fixture.Index, reward);

        var after = await MeanListReward(aligned, reward);
        Assert.True(after > before + 0.1, $"mean top-10 reward on validation users: {before:0.000} before, {after:0.000} after");

        // The reference is untouched: same log-probabilities as before alignment.
        Assert.Equal(referenceBefore, LogProbabilities(fixture.Model, probe));

        // Every round learned from pairs whose chosen item the reward prefers, and the report says so.
        Assert.Equal([1, 2, 3], rounds.Select(r => r.Round));
        var report = aligned.Alignment!;
        Assert.Equal(rounds.Select(r => r.Statistics), report.Rounds);
        Assert.Equal(("cluster", 0.5, 0.0), (report.Reward, report.Beta, report.DataWeight));
        // A round learns from pairs whose chosen item the reward prefers, or has none left to learn from: every item
        // the model generated already has the top reward (a later round, once alignment has done its work).
        Assert.True(report.Rounds[0].Pairs > 0, report.Rounds[0].ToString());
        Assert.All(report.Rounds, r => Assert.True(r.Pairs > 0 ? r.ChosenReward > r.RejectedReward && double.IsFinite(r.Loss) : r.ListReward == 1, r.ToString()));
        Assert.True(report.Rounds[^1].ListReward > report.Rounds[0].ListReward, string.Join(", ", report.Rounds.Select(r => r.ListReward)));
        Assert.Equal(0, report.Rounds[0].LogRatio);
        Assert.True(report.Rounds[^1].LogRatio > 0, $"the generated items gained probability against the reference: {report.Rounds[^1].LogRatio}");
    }

    /// <summary>Mean reward of the top-10 lists of the first 60 validation users.</summary>
    protected async Task<double> MeanListReward(TigerModelArtifact model, IRewardModel reward)
    {
        var recall = new GenerativeRecall(model, fixture.Index, new GenerativeRecallOptions { BeamWidth = 10 });
        double sum = 0;
        var count = 0;
        foreach (var c in TestData.Split.Cases(SplitTarget.Valid).Take(60))
        {
            var request = new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time);
            var items = (await recall.RecallAsync(request, 10)).Select(x => x.Item).ToArray();
            var values = new double[items.Length];
            reward.Score(request, items, values);
            sum += values.Sum();
            count += items.Length;
        }

        return sum / count;
    }

    internal ArraySegment<SequenceItem>[] Probe() =>
        [.. TestData.Split.Cases(SplitTarget.Valid).Take(5).Select(c => new ArraySegment<SequenceItem>(fixture.Model.Model.Sequence([.. c.History.TakeLast(5), c.Target], fixture.Index)))];

    internal static float[] LogProbabilities(TigerModelArtifact model, ArraySegment<SequenceItem>[] examples)
    {
        using var noGrad = TorchSharp.torch.no_grad();
        using var values = model.Model.TargetLogProbabilities(examples, TorchSharp.torch.CPU);
        return values.data<float>().ToArray();
    }

    /// <summary>1 for items whose first semantic-ID code is even, 0 for the others, NaN for items the index lacks.</summary>
    protected sealed class ClusterReward(SemanticIdIndex index) : IRewardModel
    {
        public string Name => "cluster";

        public void Score(RecommendationRequest request, IReadOnlyList<ItemId> items, Span<double> destination)
        {
            for (var i = 0; i < items.Count; i++)
            {
                destination[i] = index.TryGetSemanticId(items[i], out var id) ? (id[0] % 2 == 0 ? 1 : 0) : double.NaN;
            }
        }
    }
}
