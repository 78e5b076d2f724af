using GenRec.TestSupport;

namespace GenRec.Cli.Tests;

/// <summary>The cascade with generative signals fused in, from the command line (small HSTU settings, so it stays fast).</summary>
public sealed class FusedCommandTests
{
    [Fact]
    public async Task The_fused_and_blended_cascade_chooses_its_weight_on_validation_and_writes_lists_the_scorer_agrees_with()
    {
        using var folder = TestData.TempFolder();
        var recs = folder.File("fused.tsv");

        var run = await CliRunner.RunAsync(
            "eval", "--data", TestData.MovieLensPath, "--model", "dlrm-fused-hstu-blend", "--target", "valid", "--top", "100", "--recs-out", recs,
            "--fuse-hstu-epochs", "1", "--hstu-epochs", "1", "--hstu-dim", "16", "--hstu-max-history", "20", "--dlrm-grid", "single");

        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("fused: features hstu_next_logprob, hstu_next_log_rank, hstu_interacts, hstu_rates", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("dlrm-fused-hstu-blend: chosen hstu weight", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("fused: grid leaves=15 rounds=150", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("fused: grid leaves=31", run.Stderr, StringComparison.Ordinal); // --dlrm-grid single: one setting
        var printed = run.LastJson();
        Assert.Equal(671, printed.GetProperty("users").GetInt32());

        var shared = TestData.SharedEval;
        Assert.SkipWhen(shared is null, "shared/eval/score.py is not beside this checkout");
        var scored = (await CliRunner.RunProcessAsync("python3", [Path.Combine(shared!, "score.py"), recs, "--target", "valid"])).LastJson();
        foreach (var key in new[] { "HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10" })
        {
            Assert.Equal(scored.GetProperty(key).GetDouble(), printed.GetProperty(key).GetDouble(), 4);
        }

        Assert.Equal(0, scored.GetProperty("history_violation_users").GetInt32());
    }

    [Theory]
    [InlineData("--fuse-channel", "sideways", "--fuse-channel is 'sideways'")]
    [InlineData("--fuse-features", "hstu,magic", "--fuse-features names magic")]
    [InlineData("--fuse-features", "tiger", "need --fuse-tiger")]
    public async Task Bad_fusion_options_are_refused_with_what_is_wrong(string option, string value, string message)
    {
        var run = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "dlrm-fused", option, value);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr, StringComparison.Ordinal);
    }
}
