using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GenRec.Data;
using GenRec.Generative;
using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.Training.Onnx;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary><c>genrec export</c>: a trained TIGER folder → an ONNX model folder the runtime serves, checked against TorchSharp.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var modelPath = new Option<string>("--model-path") { Description = "The trained model folder (from genrec train tiger).", Required = true };
        var output = new Option<string>("--out") { Description = "The ONNX model folder to write (manifest.json, context.onnx, step.onnx, index.sid).", Required = true };
        var data = new Option<string?>("--data") { Description = "Ratings file: when given, TorchSharp and ONNX Runtime are compared on real test histories." };
        var users = new Option<int>("--check-users") { Description = "Users whose beam search is compared step by step.", DefaultValueFactory = _ => 50 };
        var beam = new Option<int>("--beam") { Description = "Beam width of the comparison.", DefaultValueFactory = _ => 16 };
        var provider = new Option<ExecutionProviderPreference>("--provider") { Description = "ONNX Runtime execution provider for the check: Auto, Cpu or Cuda.", DefaultValueFactory = _ => ExecutionProviderPreference.Auto };
        var kind = new Option<string>("--kind") { Description = "tiger (a folder from genrec train tiger), hstu (from genrec train hstu) or dense (from genrec train dense).", DefaultValueFactory = _ => "tiger" };
        kind.AcceptOnlyFromAmong("tiger", "hstu", "dense");
        var command = new Command("export", "Export a trained model to ONNX graphs (the serving contract), then load them with ONNX Runtime and compare with TorchSharp.")
        {
            modelPath, output, kind, data, users, beam, provider,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(kind) == "hstu")
            {
                return ExportHstu(parse.GetValue(modelPath)!, parse.GetValue(output)!);
            }

            if (parse.GetValue(kind) == "dense")
            {
                CommonOptions.RequirePositive(parse.GetValue(users), "--check-users");
                return ExportDense(parse.GetValue(modelPath)!, parse.GetValue(output)!, DataSource.Optional(parse, data), parse.GetValue(users), parse.GetValue(provider));
            }

            var source = parse.GetValue(modelPath)!;
            var target = parse.GetValue(output)!;
            CommonOptions.RequirePositive(parse.GetValue(users), "--check-users");
            CommonOptions.RequirePositive(parse.GetValue(beam), "--beam");
            using var model = TigerModelArtifact.Load(source, ComputeDevice.Cpu);
            var index = SemanticIdIndex.Load(ModelFolderLayout.IndexPath(source));
            model.EnsureIndex(index);
            var clock = Stopwatch.StartNew();
            var manifest = TigerOnnxExporter.Export(model, target);
            File.Copy(ModelFolderLayout.IndexPath(source), ModelFolderLayout.IndexPath(target), overwrite: true);
            var exportSeconds = clock.Elapsed.TotalSeconds;
            ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"exported {manifest.Architecture} ({manifest.Layers} layers, {manifest.Heads} heads × {manifest.HeadDimension}) to {target} in {exportSeconds:0.0} s"));

            using var onnx = OnnxGenerativeModel.Load(target, new OnnxRuntimeOptions { ExecutionProvider = parse.GetValue(provider) }, ConsoleLog.Instance);
            var result = new Dictionary<string, object>
            {
                ["out"] = target,
                ["architecture"] = manifest.Architecture,
                ["execution_provider"] = onnx.ExecutionProvider.ToString(),
                ["context_bytes"] = new FileInfo(Path.Combine(target, manifest.Context.File)).Length,
                ["step_bytes"] = new FileInfo(Path.Combine(target, manifest.Step.File)).Length,
                ["export_seconds"] = Math.Round(exportSeconds, 2),
            };
            if (DataSource.Optional(parse, data) is { } dataSource)
            {
                var split = CommonOptions.LoadSplit(dataSource);
                var (maxDiff, values, sameIds, searched) = Compare(model, onnx, index, split, parse.GetValue(users), parse.GetValue(beam));
                ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"parity on {searched} real histories: max |Δ log-prob| {maxDiff:E2} over {values:N0} values; same beam-search result for {sameIds} of {searched}"));
                result["parity_max_abs_diff"] = maxDiff;
                result["parity_values"] = values;
                result["parity_same_results"] = sameIds;
                result["parity_users"] = searched;
            }

            Console.WriteLine(JsonSerializer.Serialize(result));
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Exports a dense retriever (<c>genrec train dense</c>) to the dense graph contract, loads it with ONNX Runtime and,
    /// with --data, compares query vectors and top-100 lists with TorchSharp on real test histories.
    /// </summary>
    private static int ExportDense(string source, string target, DataSource? data, int checkUsers, ExecutionProviderPreference provider)
    {
        using var model = DenseRetrievalModel.Load(source, ComputeDevice.Cpu);
        var clock = Stopwatch.StartNew();
        DenseOnnxExporter.Export(model, target);
        var exportSeconds = clock.Elapsed.TotalSeconds;
        using var served = OnnxDenseRetriever.Load(target, new OnnxRuntimeOptions { ExecutionProvider = provider }, ConsoleLog.Instance);
        ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"exported the dense retriever ({served.Catalogue.Vectors.Count} items × {served.Manifest.Dimension}) to {target} in {exportSeconds:0.0} s; ONNX Runtime {served.ExecutionProvider}"));
        var result = new Dictionary<string, object>
        {
            ["out"] = target,
            ["kind"] = "dense",
            ["execution_provider"] = served.ExecutionProvider.ToString(),
            ["export_seconds"] = Math.Round(exportSeconds, 2),
        };
        if (data is not null)
        {
            // Parity on real histories: the query vectors' largest difference and whether the top 100 is the same list.
            var split = CommonOptions.LoadSplit(data);
            double maxDiff = 0;
            var same = 0;
            var cases = split.Cases(SplitTarget.Test).Take(checkUsers).ToArray();
            foreach (var c in cases)
            {
                var request = new RecommendationRequest(c.User, c.HistoryEvents(), 100, c.Target.Time);
                var expected = model.UserVector(request.History);
                var actual = served.UserVector(request.History);
                maxDiff = Math.Max(maxDiff, expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second)));
                var a = model.Catalogue.Recall(request, expected, 100, "t").Select(x => x.Item);
                var b = served.Catalogue.Recall(request, actual, 100, "o").Select(x => x.Item);
                same += a.SequenceEqual(b) ? 1 : 0;
            }

            ConsoleProgress.Status($"parity on {cases.Length} test histories: query vectors differ by at most {maxDiff:0.0e+0}; {same} of {cases.Length} top-100 lists identical");
            if (cases.Length > 0 && model.PrefixHead is { } head && served.Manifest.PrefixHead is { } servedHead)
            {
                // The head's queries for every first-level code (later levels 0), from both runtimes' user vectors alike.
                SemanticId[] prefixes = [.. Enumerable.Range(0, servedHead.Vocabulary[0]).Select(code => new SemanticId([code, .. new int[head.Levels - 1]]))];
                var headDiff = cases.Select(c => model.UserVector(c.HistoryEvents()))
                    .Max(user => model.ConditionedQueries(user, prefixes).Zip(served.ConditionedQueries(user, prefixes)).Max(p => Math.Abs(p.First - p.Second)));
                ConsoleProgress.Status($"prefix head parity: queries of {prefixes.Length} prefixes differ by at most {headDiff:0.0e+0}");
                result["parity_head_max_abs_diff"] = headDiff;
            }

            result["parity_max_abs_diff"] = maxDiff;
            result["parity_same_lists"] = same;
            result["parity_users"] = cases.Length;
        }

        Console.WriteLine(JsonSerializer.Serialize(result));
        return 0;
    }

    /// <summary>
    /// An HSTU folder → the history and candidates graphs; the manifest and hashes are checked by reading them back.
    /// Parity with TorchSharp is measured by <c>genrec eval --model hstu-onnx-200</c> against <c>--model hstu-rank</c>
    /// (both need the cascade's cross features, which only a fitted cascade computes).
    /// </summary>
    private static int ExportHstu(string source, string target)
    {
        using var model = HstuModel.Load(source, ComputeDevice.Cpu);
        var clock = Stopwatch.StartNew();
        HstuOnnxExporter.Export(model, target);
        var manifest = HstuOnnxManifest.Load(target);
        ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"exported HSTU ({manifest.Layers} layers, {manifest.Heads} heads × {manifest.HeadDimension}, {manifest.Items.Length} items, {manifest.CrossFeatures.Length} cross features) to {target} in {clock.Elapsed.TotalSeconds:0.0} s"));
        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["out"] = target,
            ["kind"] = "hstu",
            ["history_bytes"] = new FileInfo(Path.Combine(target, manifest.History.File)).Length,
            ["candidates_bytes"] = new FileInfo(Path.Combine(target, manifest.Candidates.File)).Length,
            ["cross_features"] = manifest.CrossFeatures.Length,
        }));
        return 0;
    }

    /// <summary>Both runtimes step the same beams (TorchSharp's choices) over real histories; the largest difference, and how often the whole search agrees.</summary>
    private static (double MaxDiff, long Values, int SameIds, int Users) Compare(TigerModelArtifact torch, OnnxGenerativeModel onnx, SemanticIdIndex index, DataSplit split, int users, int beam)
    {
        double maxDiff = 0;
        long values = 0;
        int same = 0, searched = 0;
        foreach (var c in split.Cases(SplitTarget.Test).Take(users))
        {
            var history = torch.EncodeHistory(c.HistoryEvents(), index);
            using var t = torch.Start(history);
            using var o = onnx.Start(history);
            var bySteps = new BeamSearchState(index.Trie, index.Length, beam);
            while (!bySteps.IsFinished)
            {
                var expected = t.NextLogProbabilities(bySteps.Beams);
                var actual = o.NextLogProbabilities(bySteps.Beams);
                for (var i = 0; i < expected.Length; i++)
                {
                    maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - actual[i]));
                }

                values += expected.Length;
                bySteps.Advance(expected);
            }

            var batched = onnx.Decode([new GenerativeDecodeRequest(history, new BeamSearchState(index.Trie, index.Length, beam))])[0];
            same += bySteps.Results.Select(d => d.Id).SequenceEqual(batched.Select(d => d.Id)) ? 1 : 0;
            searched++;
        }

        return (maxDiff, values, same, searched);
    }
}
