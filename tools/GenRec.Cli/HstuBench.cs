using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GenRec.Data;
using GenRec.Inference;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary>
/// <c>genrec bench hstu</c>: HSTU ranking speed on real histories — all candidates after the history in one pass
/// (M-FALCON, the history's keys/values reused by every candidate micro-batch) against one full pass per candidate,
/// measured side by side, per request, on ONNX Runtime and on TorchSharp.
/// </summary>
internal static class HstuBench
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
        var modelPath = new Option<string>("--model-path") { Description = "The HSTU folder from genrec train hstu.", Required = true };
        var onnxPath = new Option<string>("--onnx-path") { Description = "Its export (genrec export --kind hstu).", Required = true };
        var users = new Option<int>("--users") { Description = "Requests per setting (test users, in order).", DefaultValueFactory = _ => 50 };
        var alone = new Option<int>("--alone-users") { Description = "Requests for the one-pass-per-candidate baseline (it is slow).", DefaultValueFactory = _ => 10 };
        var counts = new Option<int[]>("--candidates") { Description = "Candidate counts per request.", DefaultValueFactory = _ => [200, 1000], AllowMultipleArgumentsPerToken = true };
        var callers = new Option<string>("--callers") { Description = "Concurrent callers, each with and without the micro-batcher (HstuMicroBatcher); empty: skip.", DefaultValueFactory = _ => "8,32,128" };
        var loadRequests = new Option<int>("--load-requests") { Description = "Requests per concurrent cell (at least twice the callers).", DefaultValueFactory = _ => 256 };
        var seed = CommonOptions.Seed();
        var command = new Command("hstu", "HSTU ranking latency: one pass for all candidates vs a pass per candidate, p50/p99 per request; concurrent callers with and without the micro-batcher.")
        {
            data, modelPath, onnxPath, users, alone, counts, callers, loadRequests, seed,
        };
        command.SetAction(async (parse, ct) =>
        {
            var callerCounts = string.IsNullOrWhiteSpace(parse.GetValue(callers)) ? [] : CommonOptions.PositiveInts(parse.GetValue(callers)!, "--callers");
            CommonOptions.RequirePositive(parse.GetValue(loadRequests), "--load-requests");
            var split = CommonOptions.LoadSplit(DataSource.Required(parse, data));
            CommonOptions.RequirePositive(parse.GetValue(users), "--users");
            CommonOptions.RequirePositive(parse.GetValue(alone), "--alone-users");
            using var model = HstuModel.Load(parse.GetValue(modelPath)!);
            ICandidateFeatures? features = null;
            if (model.CrossFeatureNames.Count > 0)
            {
                ConsoleProgress.Status("fitting the DLRM cascade for its cross features");
                features = ModelCatalog.CascadeForHstu(split, parse.GetValue(seed), keepQueries: false, ct).CandidateFeatures;
            }

            using var onnx = HstuOnnxRanker.Load(parse.GetValue(onnxPath)!, features, new OnnxRuntimeOptions(), ConsoleLog.Instance);
            var cases = split.Cases(SplitTarget.Test);
            var random = new Random(parse.GetValue(seed));
            var catalogue = split.Dataset.Catalogue;
            var rows = new List<Dictionary<string, object>>();
            foreach (var m in parse.GetValue(counts)!)
            {
                CommonOptions.RequirePositive(m, "--candidates");
                var requests = cases.Take(parse.GetValue(users)).Select(c => (
                    Request: new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time),
                    Candidates: (IReadOnlyList<Candidate>)[.. Enumerable.Range(0, m).Select(_ => new Candidate(catalogue[random.Next(catalogue.Count)], 0, "bench"))])).ToArray();

                // Warm up both runtimes once.
                onnx.Score(requests[0].Request, requests[0].Candidates);
                model.Score(requests[0].Request, requests[0].Candidates, features);
                // What a session grain keeps between requests: the history encoded once (encoding not timed).
                var states = requests.ToDictionary(r => r.Request, r => onnx.Encode(r.Request.History));
                var settings = new (string Runtime, string Mode, int Users, Func<RecommendationRequest, IReadOnlyList<Candidate>, double[]> Score)[]
                {
                    ("onnx", "one pass, micro-batches of 256", requests.Length, onnx.Score),
                    ("onnx", "history state kept (session grain)", requests.Length, (r, c) => onnx.Score(states[r], r, c)),
                    ("onnx", "one pass, one batch", requests.Length, (r, c) => onnx.Score(r, c, c.Count)),
                    ("torchsharp", "one pass", requests.Length, (r, c) => model.Score(r, c, features)),
                    ("onnx", "a pass per candidate", Math.Min(parse.GetValue(alone), requests.Length), (r, c) => [.. c.Select(x => onnx.Score(r, [x])[0])]),
                };
                var medians = new Dictionary<string, double>();
                foreach (var (runtime, mode, n, score) in settings)
                {
                    var times = new double[n];
                    for (var i = 0; i < n; i++)
                    {
                        var clock = Stopwatch.StartNew();
                        score(requests[i].Request, requests[i].Candidates);
                        times[i] = clock.Elapsed.TotalMilliseconds;
                        ConsoleProgress.Status($"{m} candidates, {runtime}, {mode}: {i + 1}/{n}");
                    }

                    Array.Sort(times);
                    var p50 = EvalCommand.Percentile(times, 0.5);
                    medians[$"{runtime}/{mode}"] = p50;
                    rows.Add(new Dictionary<string, object>
                    {
                        ["candidates"] = m,
                        ["runtime"] = runtime,
                        ["mode"] = mode,
                        ["requests"] = n,
                        ["p50_ms"] = Math.Round(p50, 3),
                        ["p99_ms"] = Math.Round(EvalCommand.Percentile(times, 0.99), 3),
                    });
                }

                // Several users in one run of each graph (what a GPU serving many users at once would do): time per request.
                const int Together = 8;
                var batched = requests.Chunk(Together).Where(c => c.Length == Together).Select(chunk =>
                {
                    var clock = Stopwatch.StartNew();
                    onnx.Score([.. chunk.Select(r => (r.Request, r.Candidates))]);
                    return clock.Elapsed.TotalMilliseconds / Together;
                }).Order().ToArray();
                rows.Insert(rows.Count - 1, new Dictionary<string, object>
                {
                    ["candidates"] = m,
                    ["runtime"] = "onnx",
                    ["mode"] = $"{Together} requests per run (time ÷ {Together})",
                    ["requests"] = batched.Length * Together,
                    ["p50_ms"] = Math.Round(EvalCommand.Percentile(batched, 0.5), 3),
                    ["p99_ms"] = Math.Round(EvalCommand.Percentile(batched, 0.99), 3),
                });

                var ratio = medians["onnx/a pass per candidate"] / medians["onnx/one pass, micro-batches of 256"];
                rows[^1]["ratio_to_one_pass"] = Math.Round(ratio, 1);

                // Concurrent callers (closed loops), each count twice side by side: every caller runs its own request on
                // ONNX Runtime (sessions are thread-safe), then the same through the micro-batcher.
                foreach (var c in callerCounts)
                {
                    var total = Math.Max(parse.GetValue(loadRequests), 2 * c);
                    var direct = await ClosedLoop.RunAsync(c, total, async (i, token) => await onnx.RankAsync(requests[i % requests.Length].Request, requests[i % requests.Length].Candidates, token).ConfigureAwait(false), ct).ConfigureAwait(false);
                    var batcher = new HstuMicroBatcher(onnx, new HstuBatcherOptions { MaxBatchSize = c });
                    await using var stopBatcher = batcher.ConfigureAwait(false);
                    var merged = await ClosedLoop.RunAsync(c, total, async (i, token) => await batcher.RankAsync(requests[i % requests.Length].Request, requests[i % requests.Length].Candidates, token).ConfigureAwait(false), ct).ConfigureAwait(false);
                    foreach (var (mode, measured, meanBatch) in new[] { ("concurrent, each alone", direct, 0.0), ("concurrent, micro-batcher", merged, batcher.Requests / (double)Math.Max(1, batcher.Batches)) })
                    {
                        var row = new Dictionary<string, object>
                        {
                            ["candidates"] = m,
                            ["runtime"] = "onnx",
                            ["mode"] = $"{c} callers, {mode}",
                            ["requests"] = total,
                            ["p50_ms"] = Math.Round(measured.P50, 3),
                            ["p99_ms"] = Math.Round(measured.P99, 3),
                            ["requests_per_second"] = Math.Round(measured.RequestsPerSecond, 1),
                        };
                        if (meanBatch > 0)
                        {
                            row["mean_batch"] = Math.Round(meanBatch, 1);
                            row["throughput_vs_alone"] = Math.Round(merged.RequestsPerSecond / direct.RequestsPerSecond, 2);
                        }

                        rows.Add(row);
                    }

                    ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"{m} candidates, {c} callers: {direct.RequestsPerSecond:0} req/s each alone (p99 {direct.P99:0.0} ms), {merged.RequestsPerSecond:0} req/s through the batcher (p99 {merged.P99:0.0} ms, mean batch {batcher.Requests / (double)Math.Max(1, batcher.Batches):0.0})"));
                }
            }

            Console.Error.WriteLine();
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"candidates",10}  {"runtime",-10}  {"mode",-40}  {"requests",8}  {"p50 ms",9}  {"p99 ms",9}  {"req/s",8}  ratio"));
            foreach (var r in rows)
            {
                var ratio = r.TryGetValue("ratio_to_one_pass", out var x) ? $"{x}×" : r.TryGetValue("throughput_vs_alone", out var t) ? $"{t}× throughput, mean batch {r["mean_batch"]}" : "";
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r["candidates"],10}  {r["runtime"],-10}  {r["mode"],-40}  {r["requests"],8}  {r["p50_ms"],9}  {r["p99_ms"],9}  {(r.TryGetValue("requests_per_second", out var q) ? q : ""),8}  {ratio}"));
            }

            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["execution_provider"] = onnx.ExecutionProvider.ToString(), ["rows"] = rows }));
            return 0;
        });
        return command;
    }
}
