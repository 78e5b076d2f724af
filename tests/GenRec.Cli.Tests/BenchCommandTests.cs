namespace GenRec.Cli.Tests;

public sealed class BenchCommandTests
{
    [Fact]
    public async Task Bench_dense_measures_every_probe_count_and_probing_every_partition_is_exact_search()
    {
        var run = await CliRunner.RunAsync(
            "bench", "dense", "--items", "3000", "--dimension", "16", "--codes", "8", "--fit-sample", "1000", "--queries", "30", "--top", "20", "--probes", "1,8");

        Assert.True(run.ExitCode == 0, run.Stderr);
        var json = run.LastJson();
        var rows = json.GetProperty("rows").EnumerateArray().ToArray();
        Assert.Equal(["exact", "partitioned", "partitioned"], rows.Select(r => r.GetProperty("index").GetString()));
        Assert.Equal(1.0, rows[0].GetProperty("recall").GetDouble());
        Assert.Equal(1.0, rows[2].GetProperty("recall").GetDouble()); // 8 probes of 8 partitions scan everything
        Assert.InRange(rows[1].GetProperty("recall").GetDouble(), 0.0, 1.0);
        Assert.Contains("| partitioned | 8 | 1.0000 |", run.Stdout, StringComparison.Ordinal); // the table a person reads
        Assert.Contains("partitioned search, 8 probes", run.Stderr, StringComparison.Ordinal); // progress

        var bad = await CliRunner.RunAsync("bench", "dense", "--items", "100", "--probes", "1,x");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--probes takes positive integers", bad.Stderr, StringComparison.Ordinal);
    }
}
