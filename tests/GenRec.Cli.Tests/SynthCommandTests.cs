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
        var synth = await CliRunner.RunAsync("synth", "--out", folder.Path, "--size", "60000", "--format", "csv", "--seed", "3");
        Assert.True(synth.ExitCode == 0, synth.Stderr);
        var written = synth.LastJson();
        Assert.Equal(60_000, written.GetProperty("event_count").GetInt64());

        string[] data = ["--events", written.GetProperty("events").GetString()!, "--items", written.GetProperty("items").GetString()!, "--schema", written.GetProperty("schema").GetString()!];
        var popularity = await CliRunner.RunAsync(["eval", .. data, "--model", "popularity"]);
        var itemcf = await CliRunner.RunAsync(["eval", .. data, "--model", "itemcf"]);

        Assert.True(popularity.ExitCode == 0, popularity.Stderr);
        Assert.True(itemcf.ExitCode == 0, itemcf.Stderr);
        var (p, c) = (popularity.LastJson().GetProperty("NDCG@10").GetDouble(), itemcf.LastJson().GetProperty("NDCG@10").GetDouble());
        Assert.True(c > 1.3 * p, $"itemcf NDCG@10 {c} against popularity {p}");
    }
}
