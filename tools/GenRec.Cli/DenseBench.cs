using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GenRec.SemanticIds;

namespace GenRec.Cli;

/// <summary>
/// <c>genrec bench dense</c>: the dense item index at scale on synthetic vectors — build time, memory per item, query
/// p50/p99 and recall@k against exact search for the exact index and the index partitioned by the first semantic-ID
/// code at several probe counts, measured side by side on the same queries in one run.
/// </summary>
internal static class DenseBench
{
    public static Command Create()
    {
        var items = new Option<int>("--items") { Description = "Synthetic items.", DefaultValueFactory = _ => 1_000_000 };
        var dimension = new Option<int>("--dimension") { Description = "Vector width.", DefaultValueFactory = _ => 64 };
        var codes = new Option<int>("--codes") { Description = "Codes per level of the semantic IDs (= partitions).", DefaultValueFactory = _ => 256 };
        var fitSample = new Option<int>("--fit-sample") { Description = "Items the tokenizer is fitted on; the rest are assigned with AddItems.", DefaultValueFactory = _ => 100_000 };
        var queries = new Option<int>("--queries") { Description = "Timed queries per index setting.", DefaultValueFactory = _ => 1_000 };
        var top = new Option<int>("--top") { Description = "Items per query (recall@top is measured).", DefaultValueFactory = _ => 100 };
        var probes = new Option<string>("--probes") { Description = "Probe counts of the partitioned index, comma-separated.", DefaultValueFactory = _ => "1,4,16,32,64" };
        var seed = CommonOptions.Seed();
        var command = new Command("dense", "Build the exact and the partitioned dense item index on synthetic clustered vectors; time queries and measure recall against exact search.")
        {
            items, dimension, codes, fitSample, queries, top, probes, seed,
        };
        command.SetAction(parse =>
        {
            var n = parse.GetValue(items);
            var d = parse.GetValue(dimension);
            var q = parse.GetValue(queries);
            var k = parse.GetValue(top);
            var sample = Math.Min(parse.GetValue(fitSample), n);
            CommonOptions.RequirePositive(n, "--items");
            CommonOptions.RequirePositive(d, "--dimension");
            CommonOptions.RequirePositive(q, "--queries");
            CommonOptions.RequirePositive(k, "--top");
            CommonOptions.RequirePositive(sample, "--fit-sample");
            var probeCounts = CommonOptions.PositiveInts(parse.GetValue(probes)!, "--probes");
            var results = new Dictionary<string, object> { ["items"] = n, ["dimension"] = d, ["codes"] = parse.GetValue(codes), ["queries"] = q, ["top"] = k };

            ConsoleProgress.Status($"generating {n:N0} × {d} clustered vectors and {q:N0} queries");
            // Queries are drawn like the items (around the same centres), as a user's state lies near the items they like.
            var drawn = BenchCommand.Synthetic(n + q, d, parse.GetValue(seed), idOffset: 0);
            var vectors = drawn.Subset([.. drawn.Items.Take(n)]);
            var queryVectors = drawn.Subset([.. drawn.Items.Skip(n)]);
            drawn = null;

            ConsoleProgress.Status($"semantic IDs: RQ-KMeans fitted on {sample:N0} items, the other {n - sample:N0} assigned");
            var clock = Stopwatch.StartNew();
            var fitted = new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 3, CodebookSize = parse.GetValue(codes), Seed = parse.GetValue(seed) })
                .Fit(vectors.Subset([.. vectors.Items.Take(sample)]));
            var ids = sample < n ? fitted.AddItems(vectors.Subset([.. vectors.Items.Skip(sample)])) : fitted;
            results["semantic_ids_seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1);

            ConsoleProgress.Status("building the exact index");
            var before = BenchCommand.Memory();
            clock.Restart();
            var exact = ItemVectorIndex.Exact(vectors);
            results["exact_build_seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 2);
            results["exact_bytes_per_item"] = Math.Round((BenchCommand.Memory() - before) / (double)n, 1);

            ConsoleProgress.Status("building the partitioned index");
            before = BenchCommand.Memory();
            clock.Restart();
            var partitioned = ItemVectorIndex.Partitioned(vectors, ids, probes: Math.Min(probeCounts.Max(), ids.Quantizer.CodebookSize));
            results["partitioned_build_seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 2);
            results["partitioned_bytes_per_item"] = Math.Round((BenchCommand.Memory() - before) / (double)n, 1);
            var sizes = partitioned.PartitionSizes.Order().ToArray();
            results["partition_size_min_median_max"] = new[] { sizes[0], sizes[sizes.Length / 2], sizes[^1] };
            GC.KeepAlive(vectors);

            var rows = new List<Row>();
            ConsoleProgress.Status($"exact search: {q:N0} queries");
            var (exactLatencies, truth) = Time(exact, queryVectors, k, null);
            rows.Add(new Row("exact", exact.PartitionCount, 1.0, Summary.Of(exactLatencies)));
            foreach (var p in probeCounts.Where(p => p <= partitioned.PartitionCount))
            {
                ConsoleProgress.Status($"partitioned search, {p} probes: {q:N0} queries");
                var (latencies, found) = Time(partitioned, queryVectors, k, p);
                var recall = found.Zip(truth, (f, t) => f.Count(t.Contains) / (double)t.Count).Average();
                rows.Add(new Row("partitioned", p, recall, Summary.Of(latencies)));
            }

            Console.WriteLine(Table(rows, n, d, k));
            results["rows"] = rows.Select(r => new Dictionary<string, object>
            {
                ["index"] = r.Index, ["probes"] = r.Probes, ["recall"] = Math.Round(r.Recall, 4),
                ["p50_ms"] = Math.Round(r.Latency.P50, 3), ["p99_ms"] = Math.Round(r.Latency.P99, 3),
            }).ToArray();
            Console.WriteLine(JsonSerializer.Serialize(results));
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>One query at a time on one thread, after a warm-up pass over the first tenth of the queries.</summary>
    private static (double[] Milliseconds, HashSet<ItemId>[] Found) Time(ItemVectorIndex index, ItemEmbeddings queries, int top, int? probes)
    {
        var options = new ItemVectorSearchOptions { Probes = probes };
        for (var i = 0; i < Math.Max(1, queries.Count / 10); i++)
        {
            index.Search(queries.Row(i), top, options);
        }

        var latencies = new double[queries.Count];
        var found = new HashSet<ItemId>[queries.Count];
        for (var i = 0; i < queries.Count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var matches = index.Search(queries.Row(i), top, options);
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            found[i] = [.. matches.Select(m => m.Item)];
        }

        return (latencies, found);
    }

    private static string Table(List<Row> rows, int items, int dimension, int top)
    {
        var text = new StringBuilder();
        var exact = rows[0].Latency.P50;
        text.AppendLine(CultureInfo.InvariantCulture, $"{items:N0} items × {dimension}, top {top}, one query at a time on one thread");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"| index | probes | recall@{top} vs exact | p50 ms | p99 ms | exact p50 / p50 |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Index} | {r.Probes} | {r.Recall:0.0000} | {r.Latency.P50:0.000} | {r.Latency.P99:0.000} | {exact / r.Latency.P50:0.0}× |");
        }

        return text.ToString();
    }

    private sealed record Row(string Index, int Probes, double Recall, Summary Latency);

    private sealed record Summary(double P50, double P99)
    {
        public static Summary Of(double[] latencies)
        {
            var sorted = latencies.Order().ToArray();
            return new Summary(EvalCommand.Percentile(sorted, 0.5), EvalCommand.Percentile(sorted, 0.99));
        }
    }
}
