using GenRec.SemanticIds;
using GenRec.TestSupport;

namespace GenRec.Cli.Tests;

/// <summary>Stages 2 and 3 of end-to-end generation from the command line: a reward model, then alignment to it.</summary>
public sealed class AlignCommandTests
{
    [Fact]
    public async Task Reward_then_align_then_ab_with_the_reward_metric()
    {
        using var folder = TestData.TempFolder();
        var index = folder.File("ids.sid");
        var stage1 = folder.File("stage1");
        var reward = folder.File("reward");
        var aligned = folder.File("aligned");
        // A small index of the catalogue's cheap movie features (tokenize's own path is tested in TokenizeCommandTests).
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 2, CodebookSize = 16, MaxIterations = 5 }).Fit(new ItemEmbeddings(items, values, d)).Save(index);
        var train = await CliRunner.RunAsync("train", "tiger", "--data", TestData.MovieLensPath, "--index", index, "--out", stage1, "--epochs", "2", "--dim", "16", "--layers", "1", "--heads", "2", "--mlp", "16", "--max-history", "8", "--eval-users", "20");
        Assert.True(train.ExitCode == 0, train.Stderr);

        var trained = await CliRunner.RunAsync("train", "reward", "--data", TestData.MovieLensPath, "--out", reward, "--hstu-epochs", "1", "--hstu-dim", "16", "--hstu-max-history", "10");
        Assert.True(trained.ExitCode == 0, trained.Stderr);
        var accuracy = trained.LastJson();
        foreach (var key in new[] { "valid_rating_auc", "valid_engagement_auc", "test_rating_auc", "test_engagement_auc" })
        {
            Assert.InRange(accuracy.GetProperty(key).GetDouble(), 0, 1);
        }

        var align = await CliRunner.RunAsync(
            "train", "align", "--data", TestData.MovieLensPath, "--model-path", stage1, "--reward-path", reward, "--out", aligned,
            "--rounds", "2", "--users", "30", "--candidates", "6", "--lr", "1e-3", "--compare-users", "15");
        Assert.True(align.ExitCode == 0, align.Stderr);
        Assert.Contains("align round 2/2", align.Stderr, StringComparison.Ordinal);
        Assert.Contains("reward@10", align.Stderr, StringComparison.Ordinal);
        var figures = align.LastJson();
        Assert.Equal(2, figures.GetProperty("round_list_reward").GetArrayLength());
        Assert.InRange(figures.GetProperty("valid_reward@10_aligned").GetDouble(), 0, 2);
        Assert.Equal(3, figures.GetProperty("valid_NDCG@10_difference").GetArrayLength());
        Assert.True(File.Exists(Path.Combine(aligned, "index.sid")));

        // The aligned folder is an ordinary generative model folder: eval and the A/B harness read it.
        var ab = await CliRunner.RunAsync(
            "ab", "--data", TestData.MovieLensPath, "--arms", "popularity,gen-aligned-replace,e2e-reward-rerank", "--aligned-path", aligned, "--reward-path", reward,
            "--e2e-path", stage1, "--target", "valid", "--max-users", "10", "--out", folder.File("ab"));
        Assert.True(ab.ExitCode == 0, ab.Stderr);
        Assert.Contains("reward@10", ab.Stdout, StringComparison.Ordinal);
        Assert.Contains("gen-aligned-replace", ab.Stdout, StringComparison.Ordinal);

        // The ablation's middle arm: the generator's top 100 re-ranked by the reward at serving time, instead of aligned to it.
        Assert.Contains("e2e-reward-rerank", ab.Stdout, StringComparison.Ordinal);
        var noReward = await CliRunner.RunAsync("ab", "--data", TestData.MovieLensPath, "--arms", "popularity,e2e-reward-rerank", "--e2e-path", stage1, "--max-users", "5", "--out", folder.File("ab2"));
        Assert.Equal(2, noReward.ExitCode);
        Assert.Contains("--reward-path", noReward.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_or_wrong_folders_are_refused_with_one_line()
    {
        using var folder = TestData.TempFolder();
        var noModel = await CliRunner.RunAsync("train", "align", "--data", TestData.MovieLensPath, "--model-path", folder.File("none"), "--reward-path", folder.File("none"), "--out", folder.File("out"));
        var noAligned = await CliRunner.RunAsync("ab", "--data", TestData.MovieLensPath, "--arms", "popularity,gen-aligned-replace", "--max-users", "5", "--out", folder.File("ab"));

        Assert.Equal(2, noModel.ExitCode);
        Assert.Contains("does not exist", noModel.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, noAligned.ExitCode);
        Assert.Contains("--aligned-path", noAligned.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", noModel.Stderr + noAligned.Stderr, StringComparison.Ordinal);
    }
}
