using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GenRec.Data;
using GenRec.Inference;
using GenRec.Models;

namespace GenRec.Cli;

/// <summary>
/// <c>genrec bench append</c>: what a session pays when a user acts and then asks again — the kept HSTU state extended
/// by the new event's tokens (<see cref="HstuOnnxRanker.TryExtend"/>) against the whole history encoded again — at
/// several history lengths, on real users' train sequences, measured side by side (the two paths alternate per
/// request), with the largest score difference between them.
/// </summary>
internal static class AppendBench
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
        var onnxPath = new Option<string>("--onnx-path") { Description = "An exported HSTU (genrec export --kind hstu) whose window holds the longest history plus the appended events.", Required = true };
        var histories = new Option<string>("--histories") { Description = "History lengths (events) before the append; the model's window must hold each plus the appended events.", DefaultValueFactory = _ => "50,200" };
        var appended = new Option<int>("--appended") { Description = "Events appended before the next request.", DefaultValueFactory = _ => 1 };
        var users = new Option<int>("--users") { Description = "Users per history length at most (train sequences long enough, in order).", DefaultValueFactory = _ => 20 };
        var repeats = new Option<int>("--repeats") { Description = "Timed requests per user and path.", DefaultValueFactory = _ => 10 };
        var candidates = new Option<int>("--candidates") { Description = "Candidates scored after the update.", DefaultValueFactory = _ => 200 };
        var seed = CommonOptions.Seed();
        var command = new Command("append", "Recommend-after-append: the HSTU session state extended by the new events against the history encoded again, p50/p99 per history length.")
        {
            data, onnxPath, histories, appended, users, repeats, candidates, seed,
        };
        command.SetAction((parse, ct) =>
        {
            var lengths = CommonOptions.PositiveInts(parse.GetValue(histories)!, "--histories");
            var added = parse.GetValue(appended);
            CommonOptions.RequirePositive(added, "--appended");
            CommonOptions.RequirePositive(parse.GetValue(users), "--users");
            CommonOptions.RequirePositive(parse.GetValue(repeats), "--repeats");
            CommonOptions.RequirePositive(parse.GetValue(candidates), "--candidates");
            var split = CommonOptions.LoadSplit(DataSource.Required(parse, data));
            ICandidateFeatures? features = null;
            var manifest = HstuOnnxManifest.Load(parse.GetValue(onnxPath)!);
            if (lengths.Max() + added > manifest.MaxHistory)
            {
                throw new UsageException($"The model's window holds {manifest.MaxHistory} events; a history of {lengths.Max()} plus {added} appended does not fit (train one with --hstu-max-history {lengths.Max() + added} or more).");
            }

            if (manifest.CrossFeatures.Length > 0)
            {
                ConsoleProgress.Status("fitting the DLRM cascade for its cross features");
                features = ModelCatalog.CascadeForHstu(split, parse.GetValue(seed), keepQueries: false, ct).CandidateFeatures;
            }

            using var onnx = HstuOnnxRanker.Load(parse.GetValue(onnxPath)!, features, new OnnxRuntimeOptions(), ConsoleLog.Instance);
            var random = new Random(parse.GetValue(seed));
            var catalogue = split.Dataset.Catalogue;
            var rows = new List<Dictionary<string, object>>();
            foreach (var h in lengths)
            {
                var sequences = split.Train.Where(s => s.Interactions.Count >= h + added).Take(parse.GetValue(users)).ToArray();
                if (sequences.Length == 0)
                {
                    throw new UsageException($"No train sequence has {h + added} events.");
                }

                var work = sequences.Select(s =>
                {
                    var events = s.Interactions.Take(h + added).Select(i => i.ToEvent()).ToArray();
                    var request = new RecommendationRequest(s.User, events, 10, events[^1].Timestamp.AddMinutes(1));
                    Candidate[] scored = [.. Enumerable.Range(0, parse.GetValue(candidates)).Select(_ => new Candidate(catalogue[random.Next(catalogue.Count)], 0, "bench"))];
                    return (Request: request, Base: events[..h], New: events[h..], Kept: onnx.Encode(events[..h]), Candidates: scored);
                }).ToArray();

                // Warm up both paths once.
                var first = work[0];
                onnx.Score(onnx.Encode(first.Request.History), first.Request, first.Candidates);
                _ = onnx.TryExtend(first.Kept, first.New, out _);

                var timings = new Dictionary<string, List<double>> { ["recompute/update"] = [], ["recompute/total"] = [], ["extend/update"] = [], ["extend/total"] = [] };
                var worst = 0.0;
                var refused = 0;
                for (var r = 0; r < parse.GetValue(repeats); r++)
                {
                    for (var u = 0; u < work.Length; u++)
                    {
                        var w = work[u];
                        double[]? recomputed = null, extended = null;
                        void Recompute()
                        {
                            var clock = Stopwatch.StartNew();
                            var state = onnx.Encode(w.Request.History);
                            timings["recompute/update"].Add(clock.Elapsed.TotalMilliseconds);
                            recomputed = onnx.Score(state, w.Request, w.Candidates);
                            timings["recompute/total"].Add(clock.Elapsed.TotalMilliseconds);
                        }

                        void Extend()
                        {
                            var clock = Stopwatch.StartNew();
                            if (!onnx.TryExtend(w.Kept, w.New, out var state))
                            {
                                refused++;
                                state = onnx.Encode(w.Request.History);
                            }

                            timings["extend/update"].Add(clock.Elapsed.TotalMilliseconds);
                            extended = onnx.Score(state, w.Request, w.Candidates);
                            timings["extend/total"].Add(clock.Elapsed.TotalMilliseconds);
                        }

                        // Side by side: the order alternates so neither path always runs second.
                        if ((u + r) % 2 == 0)
                        {
                            Recompute();
                            Extend();
                        }
                        else
                        {
                            Extend();
                            Recompute();
                        }

                        worst = Math.Max(worst, recomputed!.Zip(extended!).Max(p => Math.Abs(p.First - p.Second)));
                        ConsoleProgress.Status($"history {h}: {(r * work.Length) + u + 1}/{work.Length * parse.GetValue(repeats)}");
                    }
                }

                double P(string key, double q)
                {
                    var sorted = timings[key].Order().ToArray();
                    return EvalCommand.Percentile(sorted, q);
                }

                rows.Add(new Dictionary<string, object>
                {
                    ["history"] = h,
                    ["appended"] = added,
                    ["users"] = work.Length,
                    ["requests"] = timings["extend/total"].Count,
                    ["candidates"] = parse.GetValue(candidates),
                    ["recompute_update_p50_ms"] = Math.Round(P("recompute/update", 0.5), 3),
                    ["extend_update_p50_ms"] = Math.Round(P("extend/update", 0.5), 3),
                    ["update_ratio"] = Math.Round(P("recompute/update", 0.5) / P("extend/update", 0.5), 1),
                    ["recompute_p50_ms"] = Math.Round(P("recompute/total", 0.5), 3),
                    ["recompute_p99_ms"] = Math.Round(P("recompute/total", 0.99), 3),
                    ["extend_p50_ms"] = Math.Round(P("extend/total", 0.5), 3),
                    ["extend_p99_ms"] = Math.Round(P("extend/total", 0.99), 3),
                    ["ratio"] = Math.Round(P("recompute/total", 0.5) / P("extend/total", 0.5), 1),
                    ["max_abs_score_difference"] = worst,
                    ["refused"] = refused,
                });
            }

            Console.Error.WriteLine();
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"history",7}  {"requests",8}  {"encode ms",9}  {"extend ms",9}  {"×",5}  {"recompute+score p50/p99",24}  {"extend+score p50/p99",21}  {"×",5}  max |Δ score|"));
            foreach (var r in rows)
            {
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{r["history"],7}  {r["requests"],8}  {r["recompute_update_p50_ms"],9}  {r["extend_update_p50_ms"],9}  {r["update_ratio"],5}  {$"{r["recompute_p50_ms"]} / {r["recompute_p99_ms"]}",24}  {$"{r["extend_p50_ms"]} / {r["extend_p99_ms"]}",21}  {r["ratio"],5}  {(double)r["max_abs_score_difference"]:0.0e+0}"));
            }

            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["execution_provider"] = onnx.ExecutionProvider.ToString(), ["max_history"] = manifest.MaxHistory, ["rows"] = rows }));
            return Task.FromResult(0);
        });
        return command;
    }
}
