using GenRec.TestSupport;

namespace GenRec.Cli.Tests;

/// <summary>The dense retriever from the command line, on the cold-start split (small settings, one epoch).</summary>
public sealed class DenseCommandTests
{
    [Fact]
    public async Task Train_on_the_cold_start_split_then_evaluate_on_cold_target_users_then_export_with_parity()
    {
        using var folder = TestData.TempFolder();
        var model = folder.File("dense");
        var train = await CliRunner.RunAsync(
            "train", "dense", "--data", TestData.MovieLensPath, "--out", model, "--cold-start", "0.2",
            "--dense-epochs", "1", "--dense-dim", "16", "--dense-max-history", "10", "--dense-eval-users", "50");
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("cold-start split: 1813 of 9066 items cold", train.Stderr, StringComparison.Ordinal);
        Assert.Contains("dense epoch 1/1", train.Stderr, StringComparison.Ordinal);
        var trained = train.LastJson();
        Assert.Equal(9066, trained.GetProperty("items").GetInt32());
        Assert.True(trained.GetProperty("trained_items").GetInt32() < 9066 - 1800, "cold items have no ID embedding");
        Assert.False(trained.GetProperty("reads_actions").GetBoolean()); // every MovieLens event is a rating

        var coldUsers = folder.File("cold-users.txt");
        var eval = await CliRunner.RunAsync(
            "eval", "--data", TestData.MovieLensPath, "--model", "dense", "--dense-path", model, "--cold-start", "0.2", "--cold-users-out", coldUsers, "--recs-out", folder.File("dense.tsv"));
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        var printed = eval.LastJson();
        var cold = printed.GetProperty("cold_users");
        Assert.Equal(File.ReadAllLines(coldUsers).Length, cold.GetProperty("users").GetInt32());
        Assert.InRange(cold.GetProperty("users").GetInt32(), 1, printed.GetProperty("users").GetInt32() - 1);
        Assert.InRange(cold.GetProperty("HR@50").GetDouble(), 0, 1);

        var export = await CliRunner.RunAsync("export", "--kind", "dense", "--model-path", model, "--out", folder.File("onnx"), "--data", TestData.MovieLensPath, "--check-users", "10", "--provider", "Cpu");
        Assert.True(export.ExitCode == 0, export.Stderr);
        var exported = export.LastJson();
        Assert.InRange(exported.GetProperty("parity_max_abs_diff").GetDouble(), 0, 1e-4);
        Assert.Equal(10, exported.GetProperty("parity_same_lists").GetInt32());

        // COBRA's dense head on the same split, for a semantic-ID index; exported beside the towers with parity.
        var index = folder.File("ids.sid");
        var tokenize = await CliRunner.RunAsync("tokenize", "--data", TestData.MovieLensPath, "--embedding", "collaborative", "--item2vec-epochs", "1", "--levels", "2", "--codes", "16", "--out", index);
        Assert.True(tokenize.ExitCode == 0, tokenize.Stderr);
        var withHead = folder.File("dense-head");
        var head = await CliRunner.RunAsync(
            "train", "dense-head", "--data", TestData.MovieLensPath, "--cold-start", "0.2", "--dense-path", model, "--index", index, "--out", withHead, "--head-epochs", "1");
        Assert.True(head.ExitCode == 0, head.Stderr);
        Assert.Contains("dense head epoch 1/1", head.Stderr, StringComparison.Ordinal);
        var headJson = head.LastJson();
        Assert.Equal(1, headJson.GetProperty("levels").GetInt32());
        Assert.Equal(16, headJson.GetProperty("index").GetString()!.Length);
        Assert.True(headJson.GetProperty("valid_within_prefix_NDCG@10").GetDouble() >= headJson.GetProperty("valid_within_prefix_NDCG@10_unconditioned").GetDouble());
        var headExport = await CliRunner.RunAsync("export", "--kind", "dense", "--model-path", withHead, "--out", folder.File("onnx-head"), "--data", TestData.MovieLensPath, "--check-users", "5", "--provider", "Cpu");
        Assert.True(headExport.ExitCode == 0, headExport.Stderr);
        Assert.InRange(headExport.LastJson().GetProperty("parity_head_max_abs_diff").GetDouble(), 0, 1e-4);
        var tooLong = await CliRunner.RunAsync("train", "dense-head", "--data", TestData.MovieLensPath, "--dense-path", model, "--index", index, "--out", folder.File("x"), "--head-levels", "3");
        Assert.Equal(2, tooLong.ExitCode);
        Assert.Contains("disambiguation", tooLong.Stderr, StringComparison.Ordinal);
        var noEpochs = await CliRunner.RunAsync("train", "dense-head", "--data", TestData.MovieLensPath, "--dense-path", model, "--index", index, "--out", folder.File("x"), "--head-epochs", "0");
        Assert.Equal(2, noEpochs.ExitCode);

        var noPath = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "hybrid-rrf", "--dense-path", model);
        Assert.Equal(2, noPath.ExitCode);
        Assert.Contains("needs --model-path", noPath.Stderr, StringComparison.Ordinal);
        var fusionNoPath = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "beam-fusion", "--dense-path", model);
        Assert.Equal(2, fusionNoPath.ExitCode);
        Assert.Contains("needs --model-path", fusionNoPath.Stderr, StringComparison.Ordinal);
        var badWeight = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "beam-fusion", "--beam-fusion-weight", "-1");
        Assert.Equal(2, badWeight.ExitCode);
        Assert.Contains("--beam-fusion-weight is -1", badWeight.Stderr, StringComparison.Ordinal);
        var badShare = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "popularity", "--cold-start", "1.5");
        Assert.Equal(2, badShare.ExitCode);
        Assert.Contains("--cold-start is 1.5", badShare.Stderr, StringComparison.Ordinal);
    }
}
