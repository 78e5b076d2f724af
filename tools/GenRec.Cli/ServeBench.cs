using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text;
using GenRec.Baselines;
using GenRec.Data;
using GenRec.Generative;
using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.Training.Onnx;
using GenRec.Training;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;

namespace GenRec.Cli;

/// <summary>
/// <c>genrec bench serve</c>: serving latency and throughput of the ONNX Runtime path for beam widths × history
/// lengths, alone and under concurrent load through the micro-batcher, side by side in one run with TorchSharp eager
/// decoding of the same model and with the DLRM cascade; achieved GFLOP/s against this machine's theoretical peak
/// (<see cref="HardwarePeak"/>: measured clock × measured FMA throughput).
/// </summary>
internal static class ServeBench
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static Command Create()
    {
        var data = CommonOptions.Data();
        var modelPath = new Option<string>("--model-path") { Description = "A trained model folder (genrec train tiger): its shape and index are benchmarked.", Required = true };
        var beams = new Option<string>("--beams") { Description = "Beam widths.", DefaultValueFactory = _ => "16,64,256" };
        var histories = new Option<string>("--histories") { Description = "History lengths in items.", DefaultValueFactory = _ => "20,50,200" };
        var concurrency = new Option<string>("--concurrency") { Description = "Concurrent callers through the micro-batcher.", DefaultValueFactory = _ => "8,32,128" };
        var single = new Option<int>("--single") { Description = "Requests timed one at a time per cell (batch 1).", DefaultValueFactory = _ => 40 };
        var requests = new Option<int>("--requests") { Description = "Requests per concurrent cell (at least twice the callers).", DefaultValueFactory = _ => 128 };
        var eager = new Option<int>("--eager") { Description = "Requests timed with TorchSharp eager decoding per cell (0: skip).", DefaultValueFactory = _ => 20 };
        var provider = new Option<ExecutionProviderPreference>("--provider") { Description = "ONNX Runtime execution provider: Auto, Cpu or Cuda.", DefaultValueFactory = _ => ExecutionProviderPreference.Auto };
        var output = new Option<string?>("--out") { Description = "Write every figure as JSON here." };
        var spin = new Option<bool>("--spin") { Description = "Let ONNX Runtime's CPU threads spin while idle (lower batch-1 latency, worse under load on few cores)." };
        var skipDlrm = new Option<bool>("--no-dlrm") { Description = "Skip the DLRM cascade comparison (it trains the cascade first, about 30 s)." };
        var command = new Command("serve", "Serving latency p50/p99 and throughput of the ONNX Runtime runtime vs TorchSharp eager and the DLRM cascade.")
        {
            data, modelPath, beams, histories, concurrency, single, requests, eager, provider, output, skipDlrm, spin,
        };
        command.SetAction(async (parse, ct) =>
        {
            var beamWidths = CommonOptions.PositiveInts(parse.GetValue(beams)!, "--beams");
            var lengths = CommonOptions.PositiveInts(parse.GetValue(histories)!, "--histories");
            var callers = CommonOptions.PositiveInts(parse.GetValue(concurrency)!, "--concurrency");
            var singles = parse.GetValue(single);
            var perCell = parse.GetValue(requests);
            var eagerCount = parse.GetValue(eager);
            CommonOptions.RequirePositive(singles, "--single");
            CommonOptions.RequirePositive(perCell, "--requests");
            // The peak first, before TorchSharp's and ONNX Runtime's thread pools exist to compete with its threads.
            var peak = HardwarePeak.Measure(ConsoleProgress.Status);
            var split = CommonOptions.LoadSplit(DataSource.Required(parse, data));
            var folder = parse.GetValue(modelPath)!;
            var index = SemanticIdIndex.Load(ModelFolderLayout.IndexPath(folder));
            TigerConfig shape;
            using (var trained = TigerModelArtifact.Load(folder, ComputeDevice.Cpu))
            {
                trained.EnsureIndex(index);
                shape = trained.Config with { MaxHistoryItems = lengths.Max() };
            }

            // Latency does not depend on the weights' values: the trained shape, read up to the longest history asked for.
            using var torchModel = TigerModelArtifact.CreateUntrained(shape, index);
            var exported = Path.Combine(Path.GetTempPath(), $"genrec-bench-{Environment.ProcessId}");
            TigerOnnxExporter.Export(torchModel, exported);
            using var onnx = OnnxGenerativeModel.Load(exported, new OnnxRuntimeOptions { ExecutionProvider = parse.GetValue(provider), AllowSpinning = parse.GetValue(spin) }, ConsoleLog.Instance);
            ConsoleProgress.Status($"model: {shape.Architecture}, d {shape.Dimension}, {shape.Layers} layers, {shape.Heads} heads, MLP {shape.MlpDimension}, codes [{string.Join(", ", shape.VocabularySizes)}], history up to {shape.MaxHistoryItems} items; ONNX Runtime on {onnx.ExecutionProvider}, TorchSharp on {torchModel.Device}; {Environment.ProcessorCount} cores");

            var flopChecks = CheckFlops(exported, split, index, torchModel, shape, lengths, beamWidths, parse.GetValue(provider));
            Directory.Delete(exported, recursive: true);

            var rows = new List<Row>();
            foreach (var h in lengths)
            {
                var inputs = Histories(split, index, torchModel, h);
                foreach (var k in beamWidths)
                {
                    var flops = Flops(shape, torchModel.Vocabulary, h, k);
                    BeamSearchState Search() => new(index.Trie, index.Length, k);
                    for (var w = 0; w < 3; w++)
                    {
                        onnx.Decode([new GenerativeDecodeRequest(inputs[w % inputs.Length], Search())]);
                    }

                    var alone = Time(singles, i => onnx.Decode([new GenerativeDecodeRequest(inputs[i % inputs.Length], Search())]));
                    rows.Add(Row.From("onnx", 1, h, k, alone, flops, peak.Peak));
                    ConsoleProgress.Status(rows[^1].ToString());
                    if (eagerCount > 0)
                    {
                        var byEager = Time(eagerCount, i =>
                        {
                            using var session = torchModel.Start(inputs[i % inputs.Length]);
                            ConstrainedBeamSearch.Search(session, index.Trie, index.Length, k);
                        });
                        rows.Add(Row.From("torchsharp-eager", 1, h, k, byEager, flops, peak.Peak));
                        ConsoleProgress.Status(rows[^1].ToString());
                    }

                    foreach (var c in callers)
                    {
                        var total = Math.Max(perCell, 2 * c);
                        var batcher = new GenerativeMicroBatcher(onnx, new MicroBatcherOptions { MaxBatchSize = c, MaxWait = TimeSpan.FromMilliseconds(2), QueueCapacity = Math.Max(c, 16) });
                        var loaded = await Load(batcher, inputs, Search, c, total, ct).ConfigureAwait(false);
                        await batcher.DisposeAsync().ConfigureAwait(false);
                        rows.Add(Row.From("onnx", c, h, k, loaded, flops, peak.Peak) with { MeanBatch = Math.Round(batcher.Requests / (double)Math.Max(1, batcher.Batches), 1) });
                        ConsoleProgress.Status(rows[^1].ToString());
                    }
                }
            }

            Measured? dlrm = null;
            if (!parse.GetValue(skipDlrm))
            {
                ConsoleProgress.Status("training the DLRM cascade for the comparison");
                var cascade = new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options { Seed = 42 }).Fit(split, ct).CreatePipeline();
                var cases = split.Cases(SplitTarget.Test).Take(200).Select(c => new RecommendationRequest(c.User, c.HistoryEvents(), 10, c.Target.Time)).ToArray();
                await cascade.RecommendAsync(cases[0], ct).ConfigureAwait(false);
                var latencies = new double[cases.Length];
                var clock = Stopwatch.StartNew();
                for (var i = 0; i < cases.Length; i++)
                {
                    var start = Stopwatch.GetTimestamp();
                    await cascade.RecommendAsync(cases[i], ct).ConfigureAwait(false);
                    latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }

                dlrm = new Measured(latencies, clock.Elapsed.TotalSeconds);
                ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"dlrm cascade (4 recall channels + LightGBM LambdaRank over 500 candidates), batch 1: p50 {dlrm.P50:0.00} ms, p99 {dlrm.P99:0.00} ms"));
            }

            Console.WriteLine(Table(rows, dlrm, peak));
            Console.WriteLine(FlopTable(flopChecks));
            if (parse.GetValue(output) is { } path)
            {
                var json = new
                {
                    machine = new { cores = Environment.ProcessorCount, onnx_provider = onnx.ExecutionProvider.ToString(), torch_device = torchModel.Device },
                    model = new { architecture = shape.Architecture.ToString(), shape.Dimension, shape.Layers, shape.Heads, shape.MlpDimension, codes = shape.VocabularySizes },
                    peak,
                    flop_checks = flopChecks,
                    dlrm = dlrm is null ? null : new { p50_ms = Math.Round(dlrm.P50, 3), p99_ms = Math.Round(dlrm.P99, 3) },
                    rows,
                };
                await File.WriteAllTextAsync(path, JsonSerializer.Serialize(json, Indented), ct).ConfigureAwait(false);
                ConsoleProgress.Status($"wrote {path}");
            }

            return 0;
        });
        return command;
    }

    /// <summary>Real histories of exactly <paramref name="length"/> items: the last events of test users who have that many, as the model reads them.</summary>
    private static int[][] Histories(DataSplit split, SemanticIdIndex index, TigerModelArtifact model, int length)
    {
        var histories = split.Cases(SplitTarget.Test)
            .Select(c => c.HistoryEvents().Where(e => index.TryGetSemanticId(e.Item, out _)).ToArray())
            .Where(events => events.Length >= length)
            .Select(events => model.EncodeHistory(events[^length..], index))
            .ToArray();
        return histories.Length > 0 ? histories : throw new UsageException($"no test user has {length} known history items.");
    }

    /// <summary>
    /// For each history × beam, one request decoded by a profiled copy of the served graphs: the matrix products'
    /// operations ONNX Runtime actually ran (<see cref="ProfiledFlops"/>) against <see cref="Flops"/>.
    /// </summary>
    private static List<FlopCheck> CheckFlops(string folder, DataSplit split, SemanticIdIndex index, TigerModelArtifact model, TigerConfig shape, int[] lengths, int[] beamWidths, ExecutionProviderPreference provider)
    {
        var checks = new List<FlopCheck>();
        var profiles = Path.Combine(Path.GetTempPath(), $"genrec-profile-{Environment.ProcessId}");
        Directory.CreateDirectory(profiles);
        try
        {
            // Loading runs a smoke test through both graphs, which the profile records too: measured once, subtracted.
            double smokeFlops;
            using (var loadedOnly = OnnxGenerativeModel.Load(folder, new OnnxRuntimeOptions { ExecutionProvider = provider, ProfilePrefix = Path.Combine(profiles, "load") }))
            {
                var (context, step) = loadedOnly.EndProfiling();
                smokeFlops = ProfiledFlops.Count(context).Flops + ProfiledFlops.Count(step).Flops;
            }

            foreach (var h in lengths)
            {
                var input = Histories(split, index, model, h)[0];
                foreach (var k in beamWidths)
                {
                    using var profiled = OnnxGenerativeModel.Load(folder, new OnnxRuntimeOptions { ExecutionProvider = provider, ProfilePrefix = Path.Combine(profiles, $"h{h}-k{k}") });
                    profiled.Decode([new GenerativeDecodeRequest(input, new BeamSearchState(index.Trie, index.Length, k))]);
                    var (context, step) = profiled.EndProfiling();
                    var (contextFlops, contextProducts) = ProfiledFlops.Count(context);
                    var (stepFlops, stepProducts) = ProfiledFlops.Count(step);
                    var derived = Flops(shape, model.Vocabulary, h, k);
                    var executed = contextFlops + stepFlops - smokeFlops;
                    checks.Add(new FlopCheck(h, k, derived, executed, contextProducts + stepProducts));
                    ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"FLOP count, history {h}, beam {k}: {derived / 1e6:0.0} MFLOP from the configuration, {executed / 1e6:0.0} MFLOP in the matrix products ONNX Runtime ran for the request (the load's smoke test, {smokeFlops / 1e6:0.00} MFLOP, subtracted)"));
                }
            }
        }
        finally
        {
            Directory.Delete(profiles, recursive: true);
        }

        return checks;
    }

    private static string FlopTable(IReadOnlyList<FlopCheck> checks)
    {
        var text = new StringBuilder();
        text.AppendLine("FLOP count per request: derived from the configuration (`ServeBench.Flops`, used for GFLOP/s) vs the matrix products ONNX Runtime ran for it (its profile's shapes, the load's smoke test subtracted)");
        text.AppendLine();
        text.AppendLine("| history | beam | derived MFLOP | executed MFLOP | executed ÷ derived | product nodes run (load included) |");
        text.AppendLine("|---:|---:|---:|---:|---:|---:|");
        foreach (var c in checks)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {c.History} | {c.Beam} | {c.Derived / 1e6:0.00} | {c.Executed / 1e6:0.00} | {c.Executed / c.Derived:0.000} | {c.Products} |");
        }

        return text.ToString();
    }

    private sealed record FlopCheck(int History, int Beam, double Derived, double Executed, int Products);

    private static Measured Time(int count, Action<int> run)
    {
        var latencies = new double[count];
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            run(i);
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        return new Measured(latencies, clock.Elapsed.TotalSeconds);
    }

    /// <summary><paramref name="callers"/> concurrent loops issue <paramref name="total"/> requests back to back through the batcher.</summary>
    private static Task<Measured> Load(GenerativeMicroBatcher batcher, int[][] inputs, Func<BeamSearchState> search, int callers, int total, CancellationToken ct) =>
        ClosedLoop.RunAsync(callers, total, async (i, token) => await batcher.SearchAsync(inputs[i % inputs.Length], search(), token).ConfigureAwait(false), ct);

    /// <summary>
    /// Multiply-adds ×2 of one request as the exported graphs compute it: the context pass over the history's tokens,
    /// then one step per code position over the beams (K rows after the first step), linear layers, attention and heads.
    /// </summary>
    internal static double Flops(TigerConfig shape, SemanticIdVocabulary vocabulary, int historyItems, int beams)
    {
        double d = shape.Dimension, m = shape.MlpDimension, layers = shape.Layers, v = vocabulary.Sizes.Max();
        var positions = vocabulary.Positions;
        // An end-to-end encoder reads a start slot and one slot per event; the others BOS and every event's codes (and its action token).
        double tokens = shape.Architecture == TigerArchitecture.EndToEnd ? 1 + historyItems : vocabulary.HistoryTokens(historyItems, shape.Actions);
        static double Linear(double n, double input, double output) => 2 * n * input * output;
        double Block(double n, double attended) => Linear(n, d, 3 * d) + (4 * n * attended * d) + Linear(n, d, d) + Linear(n, d, m) + Linear(n, m, d);
        double total;
        if (shape.Architecture == TigerArchitecture.DecoderOnly)
        {
            var context = tokens - 1;
            total = ((layers - 1) * Block(context, context)) + Linear(context, d, 2 * d);
            for (var s = 0; s < positions; s++)
            {
                double n = s == 0 ? 1 : beams;
                total += (layers * Block(n, context + s + 1)) + Linear(n, d, v);
            }
        }
        else
        {
            total = (layers * Block(tokens, tokens)) + (layers * Linear(tokens, d, 2 * d));
            for (var s = 0; s < positions; s++)
            {
                double n = s == 0 ? 1 : beams;
                total += (layers * (Block(n, s + 1) + Linear(n, d, d) + (4 * n * tokens * d) + Linear(n, d, d))) + Linear(n, d, v);
            }
        }

        return total;
    }

    private static string Table(IReadOnlyList<Row> rows, Measured? dlrm, HardwarePeak peak)
    {
        var text = new StringBuilder();
        text.AppendLine(peak.Table());
        if (dlrm is not null)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"DLRM cascade, batch 1: p50 {dlrm.P50:0.00} ms, p99 {dlrm.P99:0.00} ms");
        }

        text.AppendLine();
        text.AppendLine("| runtime | callers | history | beam | p50 ms | p99 ms | req/s | mean batch | GFLOP/s | % of peak | eager p50 / onnx p50 | p50 / dlrm p50 |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            var eager = r.Runtime == "onnx" && r.Callers == 1
                ? rows.FirstOrDefault(e => e.Runtime == "torchsharp-eager" && e.History == r.History && e.Beam == r.Beam)
                : null;
            var vsEager = eager is null ? "" : (eager.P50 / r.P50).ToString("0.0", CultureInfo.InvariantCulture) + "×";
            var vsDlrm = dlrm is null || r.Callers != 1 ? "" : (r.P50 / dlrm.P50).ToString("0.00", CultureInfo.InvariantCulture) + "×";
            text.AppendLine(CultureInfo.InvariantCulture, $"| {r.Runtime} | {r.Callers} | {r.History} | {r.Beam} | {r.P50:0.00} | {r.P99:0.00} | {r.RequestsPerSecond:0.0} | {(r.MeanBatch > 0 ? r.MeanBatch.ToString("0.0", CultureInfo.InvariantCulture) : "")} | {r.Gflops:0.0} | {r.PercentOfPeak:0.0} | {vsEager} | {vsDlrm} |");
        }

        return text.ToString();
    }

    private sealed record Row(string Runtime, int Callers, int History, int Beam, double P50, double P99, double RequestsPerSecond, double Gflops, double PercentOfPeak, double MeanBatch = 0)
    {
        public static Row From(string runtime, int callers, int history, int beam, Measured m, double flopsPerRequest, double peak)
        {
            var rate = m.Latencies.Length / m.Seconds;
            var gflops = flopsPerRequest * rate / 1e9;
            return new Row(runtime, callers, history, beam, Math.Round(m.P50, 3), Math.Round(m.P99, 3), Math.Round(rate, 1), Math.Round(gflops, 2), Math.Round(100 * gflops / peak, 1));
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Runtime}, {Callers} caller(s), history {History}, beam {Beam}: p50 {P50:0.00} ms, p99 {P99:0.00} ms, {RequestsPerSecond:0.0} req/s, {Gflops:0.0} GFLOP/s{(MeanBatch > 0 ? $", mean batch {MeanBatch:0.0}" : "")}");
    }
}
