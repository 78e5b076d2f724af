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
        var data = Common.Data();
        var modelPath = new Option<string>("--model-path") { Description = "The HSTU folder from genrec train hstu.", Required = true };
        var onnxPath = new Option<string>("--onnx-path") { Description = "Its export (genrec export --kind hstu).", Required = true };
        var users = new Option<int>("--users") { Description = "Requests per setting (test users, in order).", DefaultValueFactory = _ => 50 };
        var alone = new Option<int>("--alone-users") { Description = "Requests for the one-pass-per-candidate baseline (it is slow).", DefaultValueFactory = _ => 10 };
        var counts = new Option<int[]>("--candidates") { Description = "Candidate counts per request.", DefaultValueFactory = _ => [200, 1000], AllowMultipleArgumentsPerToken = true };
        var seed = Common.Seed();
        var command = new Command("hstu", "HSTU ranking latency: one pass for all candidates vs a pass per candidate, p50/p99 per request.")
        {
            data, modelPath, onnxPath, users, alone, counts, seed,
        };
        command.SetAction(parse =>
        {
            var split = Common.LoadSplit(parse.GetValue(data)!);
            Common.RequirePositive(parse.GetValue(users), "--users");
            Common.RequirePositive(parse.GetValue(alone), "--alone-users");
            using var model = HstuModel.Load(parse.GetValue(modelPath)!);
            ICandidateFeatures? features = null;
            if (model.CrossFeatureNames.Count > 0)
            {
                ConsoleProgress.Status("fitting the DLRM cascade for its cross features");
                features = ModelCatalog.CascadeForHstu(split, parse.GetValue(seed), keepQueries: false).CandidateFeatures;
            }

            using var onnx = HstuOnnxRanker.Load(parse.GetValue(onnxPath)!, features, new OnnxRuntimeOptions(), ConsoleLog.Instance);
            var cases = split.Cases(SplitTarget.Test);
            var random = new Random(parse.GetValue(seed));
            var catalogue = split.Dataset.Catalogue;
            var rows = new List<Dictionary<string, object>>();
            foreach (var m in parse.GetValue(counts)!)
            {
                Common.RequirePositive(m, "--candidates");
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
            }

            Console.Error.WriteLine();
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"candidates",10}  {"runtime",-10}  {"mode",-36}  {"requests",8}  {"p50 ms",9}  {"p99 ms",9}  ratio"));
            foreach (var r in rows)
            {
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r["candidates"],10}  {r["runtime"],-10}  {r["mode"],-36}  {r["requests"],8}  {r["p50_ms"],9}  {r["p99_ms"],9}  {(r.TryGetValue("ratio_to_one_pass", out var x) ? $"{x}×" : "")}"));
            }

            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["execution_provider"] = onnx.ExecutionProvider, ["rows"] = rows }));
            return 0;
        });
        return command;
    }
}
