using System.Text.RegularExpressions;
using GenRec.TestSupport;

namespace GenRec.Cli.Tests;

public sealed partial class TokenizeCommandTests
{
    [Fact]
    public async Task Tokenize_writes_an_index_that_inspect_round_trips()
    {
        using var folder = TestData.TempFolder();
        var index = folder.File("collab.sid");

        var run = await CliRunner.RunAsync(
            "tokenize", "--data", TestData.MovieLensPath, "--embedding", "collaborative", "--method", "rqkmeans", "--levels", "2", "--codes", "32", "--item2vec-epochs", "1", "--out", index);

        Assert.True(run.ExitCode == 0, run.Stderr);
        var json = run.LastJson();
        Assert.Equal(9_066, json.GetProperty("items").GetInt32());
        Assert.Equal(0, json.GetProperty("collision_rate_after").GetDouble());
        Assert.True(json.GetProperty("collision_rate_before").GetDouble() > 0);
        Assert.Equal(2, json.GetProperty("utilization").GetArrayLength());
        Assert.All(json.GetProperty("utilization").EnumerateArray(), u => Assert.True(u.GetDouble() > 0.9));
        Assert.True(json.GetProperty("reconstruction_mse").GetDouble() > 0);
        Assert.Contains("item2vec epoch 1/1", run.Stderr, StringComparison.Ordinal); // progress, with the epochs asked for

        var spec = folder.File("spec/index.json");
        var inspect = await CliRunner.RunAsync("index", "inspect", index, "--item", "260", "--data", TestData.MovieLensPath, "--spec", spec);
        Assert.True(inspect.ExitCode == 0, inspect.Stderr);

        // What a PyTorch exporter reads: the fingerprint and every item's codes, as the index holds them.
        var loaded = GenRec.SemanticIds.SemanticIdIndex.Load(index);
        using var written = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(spec, TestContext.Current.CancellationToken));
        Assert.Equal(loaded.Fingerprint, written.RootElement.GetProperty("indexFingerprint").GetString());
        Assert.Equal(loaded.VocabularySizes, written.RootElement.GetProperty("vocabularySizes").EnumerateArray().Select(v => v.GetInt32()));
        var ids = written.RootElement.GetProperty("itemIds").EnumerateArray().Select(v => new ItemId(v.GetInt64())).ToArray();
        var codes = written.RootElement.GetProperty("items").EnumerateArray().Select(c => c.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        Assert.Equal(loaded.Items, ids);
        Assert.All(ids.Zip(codes), p => Assert.Equal(loaded[p.First].ToArray(), p.Second));
        Assert.Contains("semantic-ID index version 1", inspect.Stdout, StringComparison.Ordinal);
        var line = inspect.Stdout.Split('\n').Single(l => l.Contains("item 260 ", StringComparison.Ordinal));
        Assert.Contains("Star Wars", line, StringComparison.Ordinal);
        Assert.Contains("round-trips", line, StringComparison.Ordinal);

        var tuple = TupleText().Match(line).Groups[1].Value;
        var byId = await CliRunner.RunAsync("index", "inspect", index, "--id", tuple);
        Assert.True(byId.ExitCode == 0, byId.Stderr);
        Assert.Contains("item 260 →", byId.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_index_files_and_unknown_items_give_clear_errors()
    {
        using var folder = TestData.TempFolder();
        var path = folder.File("bad.sid");
        await File.WriteAllTextAsync(path, "not an index");

        var foreign = await CliRunner.RunAsync("index", "inspect", path);
        var missing = await CliRunner.RunAsync("index", "inspect", folder.File("none.sid"));
        var zero = await CliRunner.RunAsync("tokenize", "--data", TestData.MovieLensPath, "--codes", "0", "--out", path);

        Assert.Equal(2, foreign.ExitCode);
        Assert.Contains("is not a GenRec semantic-ID index", foreign.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("does not exist", missing.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, zero.ExitCode);
        Assert.Contains("--codes is 0", zero.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", foreign.Stderr + missing.Stderr + zero.Stderr, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"→ <([0-9, ]+)> →")]
    private static partial Regex TupleText();
}
