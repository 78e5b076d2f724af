using System.Text.Json;
using GenRec.TestSupport;

namespace GenRec.Cli.Tests;

public sealed class EvalCommandTests
{
    private static readonly string[] Keys = ["HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "coverage@10"];

    /// <summary>
    /// The figures <c>genrec eval</c> prints must be the ones the independent scorer computes from the file it
    /// wrote, and the file must be clean (no history item, duplicate, unknown item or short list).
    /// </summary>
    [Theory]
    [InlineData("popularity", "test")]
    [InlineData("itemcf", "valid")]
    [InlineData("dlrm", "test")]
    public async Task Printed_metrics_equal_the_shared_scorers_on_the_written_file(string model, string target)
    {
        var shared = TestData.SharedEval;
        Assert.SkipWhen(shared is null, "shared/eval/score.py is not beside this checkout");
        using var folder = TestData.TempFolder();
        var recs = folder.File($"{model}.tsv");

        // One LambdaRank setting for the DLRM cascade keeps this quick; the lists and the scorer's check are the same.
        var run = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", model, "--target", target, "--top", "100", "--recs-out", recs, "--dlrm-grid", "single");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var printed = run.LastJson();
        var scorer = await CliRunner.RunProcessAsync("python3", [Path.Combine(shared!, "score.py"), recs, "--target", target]);
        Assert.True(scorer.ExitCode == 0, scorer.Stderr);
        var scored = scorer.LastJson();

        foreach (var key in Keys)
        {
            Assert.Equal(scored.GetProperty(key).GetDouble(), printed.GetProperty(key).GetDouble(), 4);
        }

        foreach (var problem in new[] { "missing_users", "short_lists", "history_violation_users", "users_with_duplicate_items", "unknown_items" })
        {
            Assert.Equal(0, scored.GetProperty(problem).GetInt32());
        }

        Assert.Contains("eval " + model, run.Stderr, StringComparison.Ordinal); // progress went to stderr
    }

    [Fact]
    public async Task Popularity_reproduces_the_scorers_reference_baseline()
    {
        // shared/eval/README.md: popularity (train counts, ties by movieId) HR@10 0.0432, NDCG@10 0.0197, MRR 0.0167.
        var run = await CliRunner.RunAsync("eval", "--data", TestData.MovieLensPath, "--model", "popularity");

        Assert.True(run.ExitCode == 0, run.Stderr);
        var json = run.LastJson();
        Assert.Equal(0.0432, json.GetProperty("HR@10").GetDouble(), 4);
        Assert.Equal(0.0197, json.GetProperty("NDCG@10").GetDouble(), 4);
        Assert.Equal(0.0167, json.GetProperty("MRR").GetDouble(), 4);
        Assert.Equal(671, json.GetProperty("users").GetInt32());
    }

    [Theory]
    [InlineData("the file is missing", "eval --data /no/such/ratings.csv --model popularity", "does not exist")]
    [InlineData("K is zero", "eval --data {data} --model popularity --top 0", "--top is 0; it must be 1 or more")]
    [InlineData("the model is unknown", "eval --data {data} --model sasrec", "unknown model 'sasrec'")]
    [InlineData("the user is unknown", "recommend --data {data} --model popularity --user 9999", "user 9999 is not in the data")]
    [InlineData("a row is malformed", "eval --data {bad} --model popularity", "bad.csv line 3, column 'timestamp': 'yesterday' is not an integer time in seconds since 1970")]
    public async Task Bad_input_gives_one_clear_error_and_exit_code_2(string why, string command, string expected)
    {
        using var folder = TestData.TempFolder();
        var bad = folder.File("bad.csv");
        await File.WriteAllTextAsync(bad, "userId,movieId,timestamp\n1,2,3\n1,3,yesterday\n");
        var args = command.Replace("{data}", TestData.MovieLensPath, StringComparison.Ordinal).Replace("{bad}", bad, StringComparison.Ordinal).Split(' ');

        var run = await CliRunner.RunAsync(args);

        Assert.True(run.ExitCode == 2, $"{why}: exit {run.ExitCode}, stderr: {run.Stderr}");
        Assert.Contains(expected, run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal); // no stack trace
    }

    [Fact]
    public async Task Recommend_shows_titles_and_excludes_the_users_history()
    {
        var run = await CliRunner.RunAsync("recommend", "--data", TestData.MovieLensPath, "--model", "itemcf", "--user", "1", "--top", "5");

        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("user 1: 19 items of history", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("top 5 by itemcf", run.Stdout, StringComparison.Ordinal);
        Assert.Equal(5, run.Stdout.Split('\n').Count(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\s+\d\. ")));
    }
}
