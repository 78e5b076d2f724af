using System.CommandLine;
using System.Text.Json;
using GenRec.SemanticIds;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary><c>genrec train tiger</c>: trains a generative retrieval model on the train part.</summary>
internal static class TrainCommand
{
    /// <summary>The index copy every model folder carries, so the folder alone serves.</summary>
    public const string IndexFileName = "index.sid";

    public static Command Create()
    {
        var data = Common.Data();
        var index = new Option<string>("--index") { Description = "The semantic-ID index (from genrec tokenize).", Required = true };
        var output = new Option<string>("--out") { Description = "The model folder to write.", Required = true };
        var epochs = new Option<int>("--epochs") { Description = "The most epochs (early stopping on the validation log-likelihood, or NDCG@10 with --select-by ndcg, may end sooner).", DefaultValueFactory = _ => 40 };
        var dimension = new Option<int>("--dim") { Description = "Model width.", DefaultValueFactory = _ => 64 };
        var layers = new Option<int>("--layers") { Description = "Transformer blocks.", DefaultValueFactory = _ => 2 };
        var heads = new Option<int>("--heads") { Description = "Attention heads.", DefaultValueFactory = _ => 2 };
        var mlp = new Option<int>("--mlp") { Description = "MLP width.", DefaultValueFactory = _ => 256 };
        var history = new Option<int>("--max-history") { Description = "History items the model reads.", DefaultValueFactory = _ => 50 };
        var batch = new Option<int>("--batch") { Description = "Windows per step.", DefaultValueFactory = _ => 64 };
        var rate = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 2e-3 };
        var patience = new Option<int>("--patience") { Description = "Epochs since the best validation before stopping.", DefaultValueFactory = _ => 6 };
        var minEpochs = new Option<int>("--min-epochs") { Description = "Never stop before this epoch (early validation peaks are noise).", DefaultValueFactory = _ => 10 };
        var selection = new Option<string>("--select-by") { Description = "What early stopping and the kept epoch read: log-likelihood (the validation targets' mean log-probability; every user counts) or ndcg (validation NDCG@10; noisy on small data).", DefaultValueFactory = _ => "log-likelihood" };
        selection.AcceptOnlyFromAmong("log-likelihood", "ndcg");
        var evalUsers = new Option<int?>("--eval-users") { Description = "Validate on the first N users only (faster)." };
        var architecture = new Option<string>("--arch") { Description = "decoder-only (every position learned in one pass) or encoder-decoder (TIGER's shape, sampled targets).", DefaultValueFactory = _ => "decoder-only" };
        architecture.AcceptOnlyFromAmong("decoder-only", "encoder-decoder");
        var targets = new Option<int>("--targets-per-user") { Description = "encoder-decoder: targets sampled per user and epoch.", DefaultValueFactory = _ => 16 };
        var holdOut = new Option<int>("--hold-out-last") { Description = "Train without each user's last N train interactions (3: the DLRM ranker's pseudo-targets, for a model whose scores that ranker reads).", DefaultValueFactory = _ => 0 };
        var seed = Common.Seed();
        var tiger = new Command("tiger", "Train a TIGER-style generative retrieval model (decoder-only transformer over semantic IDs) with early stopping on the validation targets' log-likelihood (validation NDCG@10 reported).")
        {
            data, index, output, architecture, targets, epochs, dimension, layers, heads, mlp, history, batch, rate, patience, minEpochs, selection, evalUsers, holdOut, seed,
        };
        tiger.SetAction((parse, ct) =>
        {
            var split = Common.LoadSplit(parse.GetValue(data)!);
            if (parse.GetValue(holdOut) is var last and not 0)
            {
                Common.RequirePositive(last, "--hold-out-last");
                split = split.HoldOutLastTrain(last);
                ConsoleProgress.Status($"held out each user's last {last} train interactions ({split.Name})");
            }

            var indexPath = parse.GetValue(index)!;
            var sid = SemanticIdIndex.Load(indexPath);
            var missing = split.Dataset.Catalogue.Count(i => !sid.TryGetSemanticId(i, out _));
            if (missing > 0)
            {
                throw new UsageException($"the index lacks {missing} of the data's {split.Dataset.Catalogue.Count} items; tokenize this data first.");
            }

            var options = new TigerTrainer.Options
            {
                Architecture = parse.GetValue(architecture) == "encoder-decoder" ? TigerArchitecture.EncoderDecoder : TigerArchitecture.DecoderOnly,
                TargetsPerUser = parse.GetValue(targets),
                Epochs = parse.GetValue(epochs),
                Dimension = parse.GetValue(dimension),
                Layers = parse.GetValue(layers),
                Heads = parse.GetValue(heads),
                MlpDimension = parse.GetValue(mlp),
                MaxHistoryItems = parse.GetValue(history),
                BatchSize = parse.GetValue(batch),
                LearningRate = parse.GetValue(rate),
                Patience = parse.GetValue(patience),
                MinEpochs = parse.GetValue(minEpochs),
                Selection = parse.GetValue(selection) == "ndcg" ? TigerModelSelection.ValidationNdcg10 : TigerModelSelection.ValidationLogLikelihood,
                EvaluationUsers = parse.GetValue(evalUsers),
                CheckpointDirectory = Path.Combine(parse.GetValue(output)!, "checkpoint"),
                Seed = parse.GetValue(seed),
                Progress = new SyncProgress<TigerTrainingProgress>(p => ConsoleProgress.Status(
                    $"tiger epoch {p.Epoch}/{p.Epochs}: loss {p.Loss:0.0000}{(p.ValidationNdcg10 is { } v ? $", validation NDCG@10 {v:0.0000}" : string.Empty)}{(p.ValidationLogLikelihood is { } l ? $", log-likelihood {l:0.0000}" : string.Empty)} ({p.Elapsed.TotalSeconds:0}s)")),
            };
            ConsoleProgress.Status($"training on {split.Train.Count} users' train sequences with semantic-ID index version {sid.Version} ({sid.Fingerprint})");
            using var model = new TigerTrainer(options).Fit(split, sid, ct);
            var folder = parse.GetValue(output)!;
            model.Save(folder);
            File.Copy(indexPath, Path.Combine(folder, IndexFileName), overwrite: true);
            var r = model.Report;
            ConsoleProgress.Status($"wrote {folder}: {r.Parameters:N0} parameters on {model.Device}, best epoch {r.BestEpoch} of {r.Epochs}");
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = "tiger",
                ["architecture"] = model.Config.Architecture.ToString(),
                ["parameters"] = r.Parameters,
                ["epochs"] = r.Epochs,
                ["best_epoch"] = r.BestEpoch,
                ["best_valid_NDCG@10"] = Math.Round(r.BestValidationNdcg10, 6),
                ["best_valid_log_likelihood"] = Math.Round(r.BestValidationLogLikelihood, 6),
                ["selected_by"] = options.Selection.ToString(),
                ["train_seconds"] = Math.Round(r.Seconds, 1),
                ["device"] = model.Device,
                ["held_out_last"] = parse.GetValue(holdOut),
            }));
            return Task.FromResult(0);
        });
        var command = new Command("train", "Train models.");
        command.Subcommands.Add(tiger);
        command.Subcommands.Add(Hstu());
        return command;
    }

    /// <summary><c>genrec train hstu</c>: the DLRM cascade (for its ranking queries and cross features), then HSTU on them.</summary>
    private static Command Hstu()
    {
        var data = Common.Data();
        var output = new Option<string>("--out") { Description = "The model folder to write.", Required = true };
        var hstu = HstuOptions.Create();
        var seed = Common.Seed();
        var command = new Command("hstu", "Train an HSTU generative ranker (and next-item retriever) on the train part, on the DLRM cascade's ranking queries and cross features.")
        {
            data, output, hstu.Epochs, hstu.RatingWeight, hstu.NoSide, hstu.NoCross, hstu.Dimension, hstu.MaxHistory, seed,
        };
        command.SetAction((parse, ct) =>
        {
            var split = Common.LoadSplit(parse.GetValue(data)!);
            var s = parse.GetValue(seed);
            var dlrm = ModelCatalog.CascadeForHstu(split, s, keepQueries: true, ct);
            var arguments = new ModelArguments(s) { Hstu = hstu.Read(parse), HstuCrossFeatures = !parse.GetValue(hstu.NoCross) };
            using var model = ModelCatalog.Hstu(split, arguments, dlrm);
            var folder = parse.GetValue(output)!;
            model.Save(folder);
            var r = model.Report;
            ConsoleProgress.Status($"wrote {folder}");
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = "hstu",
                ["parameters"] = r.Parameters,
                ["epochs"] = r.Epochs,
                ["ranking_queries"] = r.RankingQueries,
                ["cross_features"] = model.CrossFeatureNames.Count,
                ["side_features"] = model.SideFeatures,
                ["train_seconds"] = Math.Round(r.Seconds, 1),
                ["device"] = model.Device,
            }));
            return Task.FromResult(0);
        });
        return command;
    }
}
