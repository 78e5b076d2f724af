using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text;
using GenRec.Data;
using GenRec.Evaluation;
using GenRec.Generative;
using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.Training.Onnx;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary>
/// <c>genrec bench decode</c>: parallel decoding (<see cref="OnnxRuntimeOptions.DraftsPerBeam"/>: the draft graph
/// scores every item the beam search can still reach in one run) against step-by-step beam search on the same trained
/// model, side by side in one run: the lists' quality on a target (NDCG@10, HR@10, HR@50, the paired difference to
/// step-by-step with a 95 % interval), how much more probable under the model the lists are, batch-1 latency p50/p99,
/// and throughput with concurrent callers through the micro-batcher.
/// </summary>
internal static class DecodeBench
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Create()
    {
        var data = CommonOptions.Data();
        var modelPath = new Option<string>("--model-path") { Description = "A trained model folder (genrec train tiger); it is exported (with its draft graph) to a temporary folder.", Required = true };
        var target = new Option<string>("--target") { Description = "valid (to choose a setting) or test (to report it).", DefaultValueFactory = _ => "valid" };
        target.AcceptOnlyFromAmong("valid", "test");
        var beam = new Option<int>("--beam") { Description = "Beam width (as genrec eval: widened to --top when smaller).", DefaultValueFactory = _ => 100 };
        var top = new Option<int>("--top") { Description = "Items per list.", DefaultValueFactory = _ => 100 };
        var drafts = new Option<string>("--drafts") { Description = "Drafts per beam to compare; 0 is step-by-step decoding.", DefaultValueFactory = _ => "0,1,2,4,16" };
        var callers = new Option<int>("--callers") { Description = "Concurrent callers through the micro-batcher for the throughput column.", DefaultValueFactory = _ => 32 };
        var requests = new Option<int>("--requests") { Description = "The most requests of a throughput run: each setting runs about 10 s of its batch-1 time's worth, at least twice the callers.", DefaultValueFactory = _ => 2000 };
        var maxUsers = new Option<int?>("--max-users") { Description = "Only the first N users of the target (a quick look)." };
        var provider = new Option<ExecutionProviderPreference>("--provider") { Description = "ONNX Runtime execution provider: Auto, Cpu or Cuda.", DefaultValueFactory = _ => ExecutionProviderPreference.Auto };
        var output = new Option<string?>("--out") { Description = "Write every figure as JSON here." };
        var command = new Command("decode", "Parallel decoding (drafts verified in one run) vs step-by-step beam search on one trained model: quality, latency and throughput side by side.")
        {
            data, modelPath, target, beam, top, drafts, callers, requests, maxUsers, provider, output,
        };
        command.SetAction(async (parse, ct) =>
        {
            var budgets = ParseBudgets(parse.GetValue(drafts)!);
            var k = parse.GetValue(top);
            CommonOptions.RequirePositive(k, "--top");
            CommonOptions.RequirePositive(parse.GetValue(beam), "--beam");
            var c = parse.GetValue(callers);
            CommonOptions.RequirePositive(c, "--callers");
            var most = parse.GetValue(requests);
            CommonOptions.RequirePositive(most, "--requests");
            var width = Math.Max(parse.GetValue(beam), k);
            var split = CommonOptions.LoadSplit(DataSource.Required(parse, data));
            var splitTarget = parse.GetValue(target) == "test" ? SplitTarget.Test : SplitTarget.Valid;
            var folder = parse.GetValue(modelPath)!;
            var index = SemanticIdIndex.Load(ModelFolderLayout.IndexPath(folder));
            var exported = Path.Combine(Path.GetTempPath(), $"genrec-decode-{Environment.ProcessId}");
            using (var trained = TigerModelArtifact.Load(folder, ComputeDevice.Cpu))
            {
                trained.EnsureIndex(index);
                TigerOnnxExporter.Export(trained, exported);
            }

            try
            {
                var cases = split.Cases(splitTarget).Take(parse.GetValue(maxUsers) ?? int.MaxValue).ToArray();
                var rows = new List<Row>();
                Lists? stepped = null;
                foreach (var budget in budgets)
                {
                    using var model = OnnxGenerativeModel.Load(exported, new OnnxRuntimeOptions { ExecutionProvider = parse.GetValue(provider), DraftsPerBeam = budget }, ConsoleLog.Instance);
                    var inputs = cases.Select(x => (Tokens: model.EncodeHistory(x.HistoryEvents(), index), Excluded: Excluded(x, index))).ToArray();
                    BeamSearchState Search(int i) => new(index.Trie, index.Length, width, inputs[i].Excluded);
                    // Each setting loads its own sessions: warm them (ONNX Runtime's arenas, the JIT) before timing anything.
                    for (var w = 0; w < 20; w++)
                    {
                        model.Decode([new GenerativeDecodeRequest(inputs[w % inputs.Length].Tokens, Search(w % inputs.Length))]);
                    }

                    // Batch 1, every user of the target in turn: the lists for the quality columns and the latencies.
                    var (draftedBefore, scoredBefore) = (model.SearchesDrafted, model.DraftsScored);
                    var latencies = new double[cases.Length];
                    var decoded = new IReadOnlyList<DecodedId>[cases.Length];
                    var clock = Stopwatch.StartNew();
                    for (var i = 0; i < cases.Length; i++)
                    {
                        var start = Stopwatch.GetTimestamp();
                        decoded[i] = model.Decode([new GenerativeDecodeRequest(inputs[i].Tokens, Search(i))])[0];
                        latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                        if (i % 100 == 99)
                        {
                            ConsoleProgress.Status($"drafts per beam {budget}: {i + 1}/{cases.Length} users");
                        }
                    }

                    var alone = new Measured(latencies, clock.Elapsed.TotalSeconds);
                    var drafted = new Drafting((model.SearchesDrafted - draftedBefore) / (double)cases.Length, (model.DraftsScored - scoredBefore) / (double)Math.Max(1, model.SearchesDrafted - draftedBefore));
                    var lists = Lists.From(decoded, cases, index, k);
                    stepped ??= budget == 0 ? lists : null;

                    var total = Math.Max(2 * c, Math.Min(most, (int)(10_000 / Math.Max(0.01, alone.P50))));
                    var batcher = new GenerativeMicroBatcher(model, new MicroBatcherOptions { MaxBatchSize = c, MaxWait = TimeSpan.FromMilliseconds(2), QueueCapacity = Math.Max(c, 16) });
                    var loaded = await ClosedLoop.RunAsync(c, total, async (i, token) => await batcher.SearchAsync(inputs[i % inputs.Length].Tokens, Search(i % inputs.Length), token).ConfigureAwait(false), ct).ConfigureAwait(false);
                    await batcher.DisposeAsync().ConfigureAwait(false);
                    rows.Add(Row.From(budget, drafted, lists, stepped, alone, loaded));
                    ConsoleProgress.Status(rows[^1].ToString());
                }

                Console.WriteLine(Table(rows, splitTarget, cases.Length, width, k, c));
                if (parse.GetValue(output) is { } path)
                {
                    var json = new { machine = new { cores = Environment.ProcessorCount }, target = splitTarget.ToString(), users = cases.Length, beam = width, top = k, callers = c, rows };
                    await File.WriteAllTextAsync(path, JsonSerializer.Serialize(json, Indented), ct).ConfigureAwait(false);
                    ConsoleProgress.Status($"wrote {path}");
                }
            }
            finally
            {
                Directory.Delete(exported, recursive: true);
            }

            return 0;
        });
        return command;
    }

    private static int[] ParseBudgets(string text)
    {
        var values = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new UsageException($"--drafts: '{v}' is not a whole number ≥ 0."))
            .Distinct()
            .Order()
            .ToArray();
        return values.Length > 0 && values[0] == 0
            ? values
            : throw new UsageException("--drafts must include 0 (step-by-step decoding, what every other setting is compared with).");
    }

    /// <summary>The request's history items as semantic IDs: what genrec eval's lists exclude.</summary>
    private static SemanticId[] Excluded(EvaluationCase c, SemanticIdIndex index) =>
        [.. c.HistoryEvents().Select(e => index.TryGetSemanticId(e.Item, out var id) ? id : default).Where(id => id.Length > 0)];

    private static string Table(IReadOnlyList<Row> rows, SplitTarget target, int users, int beam, int top, int callers)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{target} target, {users} users, beam {beam}, lists of {top}; batch 1 one request at a time, then {callers} callers through the micro-batcher");
        text.AppendLine();
        text.AppendLine("| drafts per beam | searches drafted | drafts each | NDCG@10 | Δ NDCG@10 vs step-by-step (95 % CI) | HR@10 | HR@50 | same top 10 | mean Δ log-prob of the top 10 | batch 1 p50 / p99 ms | p50 speed-up | req/s, " + callers.ToString(CultureInfo.InvariantCulture) + " callers | throughput ratio |");
        text.AppendLine("|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|");
        var baseline = rows[0];
        foreach (var r in rows)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {(r.DraftsPerBeam == 0 ? "0 (step by step)" : r.DraftsPerBeam.ToString(CultureInfo.InvariantCulture))} | {r.DraftedShare:P0} | {(r.DraftedShare > 0 ? r.DraftsPerSearch.ToString("0", CultureInfo.InvariantCulture) : "")} | {r.Ndcg10:0.0000} | {r.DeltaNdcg10:+0.0000;-0.0000;0.0000} ± {r.DeltaNdcg10Ci:0.0000} | {r.Hr10:0.0000} | {r.Hr50:0.0000} | {r.SameTop10:P1} | {r.DeltaLogProbability:+0.000;-0.000;0.000} | {r.P50:0.00} / {r.P99:0.00} | {baseline.P50 / r.P50:0.00}× | {r.RequestsPerSecond:0.0} | {r.RequestsPerSecond / baseline.RequestsPerSecond:0.00}× |");
        }

        return text.ToString();
    }

    /// <summary>The lists of one setting: items, per-user NDCG@10, and the log-probabilities of the top 10.</summary>
    private sealed record Lists(ItemId[][] Items, double[] Ndcg10, double[] Hr10, double[] Hr50, double[] TopLogProbability)
    {
        public static Lists From(IReadOnlyList<DecodedId>[] decoded, EvaluationCase[] cases, SemanticIdIndex index, int top)
        {
            var items = decoded.Select(d => d.Take(top).Select(x => index[x.Id]).ToArray()).ToArray();
            var ranks = items.Select((list, i) => RankingMetrics.RankOf(list, cases[i].Target.Item)).ToArray();
            return new Lists(
                items,
                [.. ranks.Select(r => RankingMetrics.Ndcg(r, 10))],
                [.. ranks.Select(r => RankingMetrics.HitRate(r, 10))],
                [.. ranks.Select(r => RankingMetrics.HitRate(r, 50))],
                [.. decoded.Select(d => d.Take(10).Sum(x => x.LogProbability))]);
        }
    }

    /// <summary>How many batch-1 searches drafts finished, and how many drafts each scored.</summary>
    private sealed record Drafting(double Share, double DraftsPerSearch);

    private sealed record Row(int DraftsPerBeam, double DraftedShare, double DraftsPerSearch, double Ndcg10, double DeltaNdcg10, double DeltaNdcg10Ci, double Hr10, double Hr50, double SameTop10, double DeltaLogProbability, double P50, double P99, double RequestsPerSecond, double LoadedP50, double LoadedP99)
    {
        public static Row From(int budget, Drafting drafting, Lists lists, Lists? stepped, Measured alone, Measured loaded)
        {
            var baseline = stepped ?? lists;
            var n = lists.Ndcg10.Length;
            var deltas = lists.Ndcg10.Zip(baseline.Ndcg10, (a, b) => a - b).ToArray();
            var mean = deltas.Average();
            var sd = n > 1 ? Math.Sqrt(deltas.Sum(d => (d - mean) * (d - mean)) / (n - 1)) : 0;
            var same = Enumerable.Range(0, n).Count(i => lists.Items[i].Take(10).SequenceEqual(baseline.Items[i].Take(10))) / (double)Math.Max(1, n);
            var gain = Enumerable.Range(0, n).Average(i => lists.TopLogProbability[i] - baseline.TopLogProbability[i]);
            return new Row(
                budget,
                Math.Round(drafting.Share, 4),
                Math.Round(drafting.DraftsPerSearch, 1),
                Math.Round(lists.Ndcg10.Average(), 6),
                Math.Round(mean, 6),
                Math.Round(1.96 * sd / Math.Sqrt(Math.Max(1, n)), 6),
                Math.Round(lists.Hr10.Average(), 6),
                Math.Round(lists.Hr50.Average(), 6),
                Math.Round(same, 4),
                Math.Round(gain, 4),
                Math.Round(alone.P50, 3),
                Math.Round(alone.P99, 3),
                Math.Round(loaded.RequestsPerSecond, 1),
                Math.Round(loaded.P50, 3),
                Math.Round(loaded.P99, 3));
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"drafts per beam {DraftsPerBeam}: {DraftedShare:P0} of searches drafted, NDCG@10 {Ndcg10:0.0000} ({DeltaNdcg10:+0.0000;-0.0000;0.0000} ± {DeltaNdcg10Ci:0.0000} vs step by step), same top 10 {SameTop10:P1}, batch 1 p50 {P50:0.00} ms, p99 {P99:0.00} ms, {RequestsPerSecond:0.0} req/s under load");
    }
}
