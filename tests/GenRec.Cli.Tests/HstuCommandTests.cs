using GenRec.TestSupport;

namespace GenRec.Cli.Tests;

public sealed class HstuCommandTests
{
    [Fact]
    public async Task Train_then_retrieve_with_lists_the_scorer_agrees_with_then_serve_the_export_as_the_ranker()
    {
        using var folder = TestData.TempFolder();
        var model = folder.File("hstu");
        var onnx = folder.File("hstu-onnx");
        var train = await CliRunner.RunAsync("train", "hstu", "--data", TestData.MovieLensPath, "--out", model, "--hstu-epochs", "1", "--hstu-dim", "16", "--hstu-max-history", "20");
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("hstu epoch 1/1", train.Stderr, StringComparison.Ordinal);
        Assert.Equal(16, train.LastJson().GetProperty("cross_features").GetInt32());

        // As a retriever over the whole catalogue: lists the shared scorer agrees with.
        var recs = folder.File("hstu.tsv");
        var retrieval = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "hstu", "--model-path", model, "--top", "100", "--recs-out", recs);
        Assert.True(retrieval.ExitCode == 0, retrieval.Stderr);
        var printed = retrieval.LastJson();

        // Exported and served by ONNX Runtime as the cascade's ranker (parity with TorchSharp: GenRec.Training.Tests).
        var export = await CliRunner.RunAsync("export", "--kind", "hstu", "--model-path", model, "--out", onnx);
        Assert.True(export.ExitCode == 0, export.Stderr);
        var served = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "hstu-onnx-200", "--model-path", onnx, "--max-users", "40");
        Assert.True(served.ExitCode == 0, served.Stderr);
        Assert.Equal(40, served.LastJson().GetProperty("users").GetInt32());
        Assert.InRange(served.LastJson().GetProperty("HR@50").GetDouble(), 0.01, 1);

        // Recommend-after-append: the kept state extended by the new event scores as the history encoded again.
        var append = await CliRunner.RunAsync("bench", "append", "--data", TestData.MovieLensPath, "--onnx-path", onnx, "--histories", "5,15", "--users", "3", "--repeats", "2", "--candidates", "20");
        Assert.True(append.ExitCode == 0, append.Stderr);
        var rows = append.LastJson().GetProperty("rows").EnumerateArray().ToArray();
        Assert.Equal([5, 15], rows.Select(r => r.GetProperty("history").GetInt32()));
        Assert.All(rows, r =>
        {
            Assert.Equal(6, r.GetProperty("requests").GetInt32());
            Assert.Equal(0, r.GetProperty("refused").GetInt32());
            Assert.InRange(r.GetProperty("max_abs_score_difference").GetDouble(), 0, 1e-4);
        });
        Assert.Contains("history 15: 6/6", append.Stderr, StringComparison.Ordinal); // progress
        var tooLong = await CliRunner.RunAsync("bench", "append", "--data", TestData.MovieLensPath, "--onnx-path", onnx, "--histories", "20");
        Assert.Equal(2, tooLong.ExitCode);
        Assert.Contains("--hstu-max-history 21", tooLong.Stderr, StringComparison.Ordinal);

        var missing = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "hstu-onnx-200");
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("needs --model-path", missing.Stderr, StringComparison.Ordinal);

        var shared = TestData.SharedEval;
        Assert.SkipWhen(shared is null, "shared/eval/score.py is not beside this checkout");
        var scored = (await CliRunner.RunProcessAsync("python3", [Path.Combine(shared!, "score.py"), recs])).LastJson();
        foreach (var key in new[] { "HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10" })
        {
            Assert.Equal(scored.GetProperty(key).GetDouble(), printed.GetProperty(key).GetDouble(), 4);
        }

        Assert.Equal(0, scored.GetProperty("history_violation_users").GetInt32());
    }
}
