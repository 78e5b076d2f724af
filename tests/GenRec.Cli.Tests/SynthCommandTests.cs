using GenRec.Data;
using GenRec.TestSupport;

namespace GenRec.Cli.Tests;

public sealed class SynthCommandTests
{
    /// <summary>
    /// The simulator plants structure that sequences reveal (users' interests); a model that reads co-occurrence must
    /// find it where popularity cannot: item-based CF beats popularity by a wide margin on a small simulated log, through
    /// the same commands a team runs on its own files.
    /// </summary>
    [Fact]
    public async Task A_simulated_log_runs_through_eval_and_itemcf_recovers_what_popularity_cannot()
    {
        using var folder = TestData.TempFolder();
        var data = await SynthesizeAsync(folder, 60_000, "csv", seed: 3);
        var popularity = await CliRunner.RunAsync(["eval", .. data, "--model", "popularity"]);
        var itemcf = await CliRunner.RunAsync(["eval", .. data, "--model", "itemcf"]);

        Assert.True(popularity.ExitCode == 0, popularity.Stderr);
        Assert.True(itemcf.ExitCode == 0, itemcf.Stderr);
        var (p, c) = (popularity.LastJson().GetProperty("NDCG@10").GetDouble(), itemcf.LastJson().GetProperty("NDCG@10").GetDouble());
        Assert.True(c > 1.3 * p, $"itemcf NDCG@10 {c} against popularity {p}");
    }

    [Fact]
    public async Task A_dense_retriever_trained_on_a_log_of_several_actions_reads_them_served_too()
    {
        using var folder = TestData.TempFolder();
        var data = await SynthesizeAsync(folder, 20_000, "parquet", seed: 9);
        string[] small = ["--dense-epochs", "1", "--dense-dim", "16", "--dense-max-history", "10", "--dense-eval-users", "50", "--dense-negatives", "64"];
        var train = await CliRunner.RunAsync(["train", "dense", .. data, "--target-actions", "Click,Purchase", "--out", folder.File("dense"), "--dense-actions", "auto", .. small]);
        var blind = await CliRunner.RunAsync(["train", "dense", .. data, "--out", folder.File("blind"), .. small]); // off by default
        var bad = await CliRunner.RunAsync(["train", "dense", .. data, "--out", folder.File("x"), "--dense-actions", "sometimes"]);

        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.True(train.LastJson().GetProperty("reads_actions").GetBoolean());
        Assert.True(blind.ExitCode == 0, blind.Stderr);
        Assert.False(blind.LastJson().GetProperty("reads_actions").GetBoolean());
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("'sometimes' not recognized", bad.Stderr, StringComparison.Ordinal);

        // Exported, the user tower takes the actions too, and serves the TorchSharp model's queries and lists.
        var export = await CliRunner.RunAsync(["export", "--kind", "dense", "--model-path", folder.File("dense"), "--out", folder.File("onnx"), .. data, "--target-actions", "Click,Purchase", "--check-users", "10", "--provider", "Cpu"]);
        Assert.True(export.ExitCode == 0, export.Stderr);
        Assert.InRange(export.LastJson().GetProperty("parity_max_abs_diff").GetDouble(), 0, 1e-4);
        Assert.Equal(10, export.LastJson().GetProperty("parity_same_lists").GetInt32());
        Assert.True(GenRec.Models.DenseOnnxManifest.Load(folder.File("onnx")).ReadsActions);
    }

    [Fact]
    public async Task Target_actions_evaluate_on_purchases_with_every_earlier_event_as_context()
    {
        using var folder = TestData.TempFolder();
        var data = await SynthesizeAsync(folder, 40_000, "parquet", seed: 5);
        var log = EventLogReader.Read(data[1], EventLogSchema.Load(data[5]), data[3]);
        var expected = LeaveOneOutSplit.Create(log.Dataset, new HashSet<ActionType> { ActionType.Click, ActionType.Purchase }).UsersWithTarget(SplitTarget.Test).Count;

        var run = await CliRunner.RunAsync(["eval", .. data, "--model", "itemcf", "--target-actions", "click,Purchase"]);
        var bad = await CliRunner.RunAsync(["eval", .. data, "--model", "itemcf", "--target-actions", "Wishlist"]);

        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Equal(expected, run.LastJson().GetProperty("users").GetInt32());
        Assert.True(expected < log.Dataset.Users.Count); // users with fewer than two clicks or purchases have no target
        Assert.Equal(2, bad.ExitCode);

        // The A/B harness replays the same held-out users and leaves out only the items of the target actions.
        var ab = await CliRunner.RunAsync(["ab", .. data, "--arms", "itemcf,popularity", "--target-actions", "Click,Purchase", "--out", folder.File("ab")]);
        Assert.True(ab.ExitCode == 0, ab.Stderr);
        using var report = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(folder.File("ab"), "report.json")));
        Assert.Equal(expected, report.RootElement.GetProperty("users").GetInt32());
        Assert.Contains("--target-actions: 'Wishlist' is not an action", bad.Stderr, StringComparison.Ordinal);

        // Learning from clicks and purchases only (impressions left out of what models read): the same targets.
        var (recs, splitFolder) = (folder.File("context.tsv"), folder.File("split"));
        var context = await CliRunner.RunAsync(["eval", .. data, "--model", "itemcf", "--target-actions", "click,Purchase", "--context-actions", "Click,Purchase", "--recs-out", recs, "--split-out", splitFolder]);
        var badContext = await CliRunner.RunAsync(["eval", .. data, "--model", "itemcf", "--context-actions", "Glance"]);
        var cold = await CliRunner.RunAsync(["eval", .. data, "--model", "itemcf", "--target-actions", "click,Purchase", "--context-actions", "Click,Purchase", "--cold-start", "0.2"]);
        Assert.True(context.ExitCode == 0, context.Stderr);
        Assert.Equal(expected, context.LastJson().GetProperty("users").GetInt32());
        Assert.Contains("context Click, Purchase split", context.Stderr, StringComparison.Ordinal);
        Assert.NotEqual(run.LastJson().GetProperty("NDCG@10").GetDouble(), context.LastJson().GetProperty("NDCG@10").GetDouble());
        if (TestData.SharedEval is { } shared)
        {
            // The independent scorer, pointed at the split genrec wrote, scores the lists as genrec did.
            var scorer = await CliRunner.RunProcessAsync("python3", [Path.Combine(shared, "score.py"), recs, "--split", splitFolder]);
            Assert.True(scorer.ExitCode == 0, scorer.Stderr);
            Assert.Equal(scorer.LastJson().GetProperty("NDCG@10").GetDouble(), context.LastJson().GetProperty("NDCG@10").GetDouble(), 4);
        }

        Assert.Equal(2, badContext.ExitCode);
        Assert.Contains("--context-actions: 'Glance' is not an action", badContext.Stderr, StringComparison.Ordinal);

        // The cold-start split on the same targets: the same users, cold items left out of what models learn from.
        Assert.True(cold.ExitCode == 0, cold.Stderr);
        Assert.Contains("cold-start on Click, Purchase (0.2 of the catalogue cold, seed 42), context Click, Purchase", cold.Stderr, StringComparison.Ordinal);
        Assert.Equal(expected, cold.LastJson().GetProperty("users").GetInt32());
        Assert.InRange(cold.LastJson().GetProperty("cold_users").GetProperty("users").GetInt32(), 1, expected - 1);
    }

    // genrec synth into the folder; the options that point a command at what it wrote.
    private static async Task<string[]> SynthesizeAsync(TempFolder folder, int size, string format, int seed)
    {
        var synth = await CliRunner.RunAsync("synth", "--out", folder.Path, "--size", size.ToString(System.Globalization.CultureInfo.InvariantCulture), "--format", format, "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(synth.ExitCode == 0, synth.Stderr);
        var written = synth.LastJson();
        Assert.Equal(size, written.GetProperty("event_count").GetInt64());
        return ["--events", written.GetProperty("events").GetString()!, "--items", written.GetProperty("items").GetString()!, "--schema", written.GetProperty("schema").GetString()!];
    }
}
