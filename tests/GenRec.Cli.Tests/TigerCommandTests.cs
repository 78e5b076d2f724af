using System.Text.Json;
using GenRec.TestSupport;

namespace GenRec.Cli.Tests;

public sealed class TigerCommandTests
{
    [Fact]
    public async Task Train_then_eval_writes_lists_the_shared_scorer_agrees_with()
    {
        using var folder = TestData.TempFolder();
        var index = folder.File("ids.sid");
        var tokenize = await CliRunner.RunAsync("tokenize", "--data", TestData.MovieLensPath, "--embedding", "collaborative", "--item2vec-epochs", "1", "--levels", "2", "--codes", "32", "--out", index);
        Assert.True(tokenize.ExitCode == 0, tokenize.Stderr);

        await TrainEvalExportAndScore(folder, index, "decoder-only");
    }

    [Fact]
    public async Task A_model_reading_actions_trains_evaluates_and_exports_from_the_command_line()
    {
        using var folder = TestData.TempFolder();
        var index = folder.File("ids.sid");
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        new GenRec.SemanticIds.RqKMeansTrainer(new GenRec.SemanticIds.RqKMeansTrainer.Options { Levels = 2, CodebookSize = 32, MaxIterations = 5 }).Fit(new GenRec.SemanticIds.ItemEmbeddings(items, values, d)).Save(index);

        var trained = await TrainEvalExportAndScore(folder, index, "decoder-only", "--actions", "on");

        Assert.True(trained.GetProperty("reads_actions").GetBoolean());
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder.File("model-onnx"), "manifest.json"))).RootElement;
        Assert.True(manifest.GetProperty("historyActions").GetBoolean());
        var refused = await CliRunner.RunAsync("train", "tiger", "--data", TestData.MovieLensPath, "--index", index, "--out", folder.File("x"), "--actions", "sometimes");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("sometimes", refused.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_end_to_end_model_trains_evaluates_and_exports_from_the_command_line()
    {
        using var folder = TestData.TempFolder();
        var index = folder.File("ids.sid");
        // A small index of the catalogue's cheap movie features (tokenize's own path is tested above).
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        new GenRec.SemanticIds.RqKMeansTrainer(new GenRec.SemanticIds.RqKMeansTrainer.Options { Levels = 2, CodebookSize = 32, MaxIterations = 5 }).Fit(new GenRec.SemanticIds.ItemEmbeddings(items, values, d)).Save(index);

        var trained = await TrainEvalExportAndScore(folder, index, "end-to-end");

        Assert.Equal("EndToEnd", trained.GetProperty("architecture").GetString());
        var noModel = await CliRunner.RunAsync("ab", "--data", TestData.MovieLensPath, "--arms", "popularity,e2e-replace", "--max-users", "5", "--out", folder.File("ab"));
        Assert.Equal(2, noModel.ExitCode);
        Assert.Contains("--e2e-path", noModel.Stderr, StringComparison.Ordinal);
        var badShare = await CliRunner.RunAsync("ab", "--data", TestData.MovieLensPath, "--arms", "popularity,e2e-blend", "--e2e-path", folder.File("model"), "--e2e-share", "1.5", "--out", folder.File("ab"));
        Assert.Equal(2, badShare.ExitCode);
        Assert.Contains("--e2e-share", badShare.Stderr, StringComparison.Ordinal);
        var badArm = await CliRunner.RunAsync("ab", "--data", TestData.MovieLensPath, "--arms", "popularity,e2e-blend:2", "--e2e-path", folder.File("model"), "--max-users", "5", "--out", folder.File("ab"));
        Assert.Equal(2, badArm.ExitCode);
        Assert.Contains("e2e-blend:2", badArm.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// Trains a small model of the architecture, evaluates it on test (lists kept), exports it to ONNX with the parity
    /// check, evaluates the served model (the same metrics) and checks the lists with the shared scorer.
    /// </summary>
    /// <returns>What train printed.</returns>
    private static async Task<System.Text.Json.JsonElement> TrainEvalExportAndScore(TempFolder folder, string index, string architecture, params string[] extra)
    {
        var model = folder.File("model");
        var recs = folder.File("model.tsv");
        var train = await CliRunner.RunAsync(
        [
            "train", "tiger", "--data", TestData.MovieLensPath, "--index", index, "--out", model, "--arch", architecture, "--targets-per-user", "4",
            "--epochs", "2", "--dim", "16", "--layers", "1", "--heads", "2", "--mlp", "32", "--max-history", "10", "--eval-users", "30", .. extra,
        ]);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("tiger epoch 2/2", train.Stderr, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(model, "manifest.json")) && File.Exists(Path.Combine(model, "index.sid")));

        var eval = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "tiger", "--model-path", model, "--target", "test", "--top", "100", "--recs-out", recs);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        var printed = eval.LastJson();
        var invalid = printed.GetProperty("invalid_rate_unconstrained").GetDouble();
        Assert.InRange(invalid, 0, 1);

        // The same model exported to ONNX and served by ONNX Runtime: parity on real histories, the same metrics.
        var onnx = folder.File("model-onnx");
        var export = await CliRunner.RunAsync("export", "--model-path", model, "--out", onnx, "--data", TestData.MovieLensPath, "--check-users", "20", "--provider", "Cpu");
        Assert.True(export.ExitCode == 0, export.Stderr);
        var exported = export.LastJson();
        Assert.InRange(exported.GetProperty("parity_max_abs_diff").GetDouble(), 0, 1e-4);
        Assert.Equal(20, exported.GetProperty("parity_same_results").GetInt32());
        var served = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "tiger-onnx", "--model-path", onnx, "--target", "test", "--top", "100", "--recs-out", folder.File("onnx.tsv"));
        Assert.True(served.ExitCode == 0, served.Stderr);
        foreach (var key in new[] { "HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10", "invalid_rate_unconstrained" })
        {
            Assert.Equal(printed.GetProperty(key).GetDouble(), served.LastJson().GetProperty(key).GetDouble(), 6);
        }

        // Parallel decoding beside step by step on the same model: step by step gives eval's lists; drafting makes every
        // list at least as probable, and eval with the same setting gives the same lists.
        var benchJson = folder.File("decode.json");
        var bench = await CliRunner.RunAsync("bench", "decode", "--data", TestData.MovieLensPath, "--model-path", model, "--target", "test", "--drafts", "0,4", "--callers", "2", "--requests", "8", "--provider", "Cpu", "--out", benchJson);
        Assert.True(bench.ExitCode == 0, bench.Stderr);
        Assert.Contains("| drafts per beam |", bench.Stdout, StringComparison.Ordinal);
        var rows = JsonDocument.Parse(File.ReadAllText(benchJson)).RootElement.GetProperty("rows").EnumerateArray().ToArray();
        Assert.Equal([0, 4], rows.Select(r => r.GetProperty("DraftsPerBeam").GetInt32()));
        Assert.Equal(printed.GetProperty("NDCG@10").GetDouble(), rows[0].GetProperty("Ndcg10").GetDouble(), 6);
        Assert.Equal(1.0, rows[0].GetProperty("SameTop10").GetDouble());
        Assert.True(rows[1].GetProperty("DeltaLogProbability").GetDouble() >= -1e-3, bench.Stdout);
        var drafted = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "tiger-onnx", "--model-path", onnx, "--target", "test", "--top", "100", "--drafts-per-beam", "4", "--invalid-check-users", "0");
        Assert.True(drafted.ExitCode == 0, drafted.Stderr);
        Assert.Equal(rows[1].GetProperty("Ndcg10").GetDouble(), drafted.LastJson().GetProperty("NDCG@10").GetDouble(), 6);
        Assert.False(drafted.LastJson().TryGetProperty("invalid_rate_unconstrained", out _), drafted.Stdout); // the check skipped
        Assert.DoesNotContain("without the trie constraint", drafted.Stderr, StringComparison.Ordinal);
        var negative = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "tiger", "--model-path", model, "--invalid-check-users", "-1");
        Assert.Equal(2, negative.ExitCode);
        Assert.Contains("--invalid-check-users is -1", negative.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("latency per request", negative.Stderr, StringComparison.Ordinal); // refused before evaluating
        Assert.Equal(2, (await CliRunner.RunAsync("bench", "decode", "--data", TestData.MovieLensPath, "--model-path", model, "--drafts", "4")).ExitCode);

        var shared = TestData.SharedEval;
        Assert.SkipWhen(shared is null, "shared/eval/score.py is not beside this checkout");
        var scored = (await CliRunner.RunProcessAsync("python3", [Path.Combine(shared!, "score.py"), recs])).LastJson();
        foreach (var key in new[] { "HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10" })
        {
            Assert.Equal(scored.GetProperty(key).GetDouble(), printed.GetProperty(key).GetDouble(), 4);
        }

        foreach (var problem in new[] { "missing_users", "short_lists", "history_violation_users", "users_with_duplicate_items", "unknown_items" })
        {
            Assert.Equal(0, scored.GetProperty(problem).GetInt32());
        }

        return train.LastJson();
    }

    [Fact]
    public async Task A_model_with_the_wrong_index_or_no_model_folder_is_refused_clearly()
    {
        using var folder = TestData.TempFolder();
        var a = folder.File("a.sid");
        var b = folder.File("b.sid");
        var model = folder.File("tiger");
        Assert.Equal(0, (await CliRunner.RunAsync("tokenize", "--data", TestData.MovieLensPath, "--embedding", "collaborative", "--item2vec-epochs", "1", "--levels", "1", "--codes", "16", "--out", a)).ExitCode);
        Assert.Equal(0, (await CliRunner.RunAsync("tokenize", "--data", TestData.MovieLensPath, "--embedding", "collaborative", "--item2vec-epochs", "1", "--levels", "1", "--codes", "16", "--seed", "7", "--out", b)).ExitCode);
        Assert.Equal(0, (await CliRunner.RunAsync("train", "tiger", "--data", TestData.MovieLensPath, "--index", a, "--out", model, "--epochs", "1", "--dim", "8", "--layers", "1", "--heads", "1", "--mlp", "8", "--max-history", "4", "--eval-users", "10")).ExitCode);

        var mismatch = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "tiger", "--model-path", model, "--index", b, "--max-users", "5");
        var missing = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "tiger", "--model-path", folder.File("none"));
        var noPath = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "tiger");
        var notExported = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "tiger-onnx", "--model-path", model, "--max-users", "5");
        Assert.Equal(2, notExported.ExitCode);
        Assert.Contains("genrec export", notExported.Stderr, StringComparison.Ordinal);

        Assert.Equal(2, mismatch.ExitCode);
        Assert.Contains("was trained on semantic-ID index", mismatch.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("does not exist", missing.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, noPath.ExitCode);
        Assert.Contains("needs --model-path", noPath.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", mismatch.Stderr + missing.Stderr + noPath.Stderr, StringComparison.Ordinal);
    }
}
