using System.CommandLine;
using System.Text.Json;
using GenRec.Cascade;
using GenRec.Data;
using GenRec.Evaluation;
using GenRec.Experiments;
using GenRec.Generative;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary><c>genrec train tiger</c>: trains a generative retrieval model on the train part.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
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
        var architecture = new Option<string>("--arch") { Description = "decoder-only (every position learned in one pass), encoder-decoder (TIGER's shape, sampled targets) or end-to-end (the encoder-decoder reading item IDs, genres, years, actions and times: OneRec V2's input).", DefaultValueFactory = _ => "decoder-only" };
        architecture.AcceptOnlyFromAmong("decoder-only", "encoder-decoder", "end-to-end");
        var actions = new Option<string>("--actions")
        {
            Description = "decoder-only and encoder-decoder: whether the history carries each event's action (impression, click, purchase, a rating's value) as a token after the item's codes: on, off, or auto (on when the train part holds more than one action); choose it on --target valid. End to end always reads actions.",
            DefaultValueFactory = _ => "off",
        };
        actions.AcceptOnlyFromAmong("on", "off", "auto");
        var targets = new Option<int>("--targets-per-user") { Description = "encoder-decoder and end-to-end: targets sampled per user and epoch.", DefaultValueFactory = _ => 16 };
        var holdOut = new Option<int>("--hold-out-last") { Description = "Train without each user's last N train interactions (3: the DLRM ranker's pseudo-targets, for a model whose scores that ranker reads).", DefaultValueFactory = _ => 0 };
        var seed = CommonOptions.Seed();
        var coldStart = CommonOptions.ColdStart();
        var coldSeed = CommonOptions.ColdSeed();
        var coldTuning = CommonOptions.ColdTuning();
        var tiger = new Command("tiger", "Train a TIGER-style generative retrieval model (decoder-only transformer over semantic IDs) with early stopping on the validation targets' log-likelihood (validation NDCG@10 reported).")
        {
            data, index, output, architecture, actions, targets, epochs, dimension, layers, heads, mlp, history, batch, rate, patience, minEpochs, selection, evalUsers, holdOut, coldStart, coldSeed, coldTuning, seed,
        };
        tiger.SetAction((parse, ct) =>
        {
            var split = CommonOptions.Load(DataSource.Required(parse, data), null, parse.GetValue(coldStart), parse.GetValue(coldSeed), parse.GetValue(coldTuning)).Split;
            if (parse.GetValue(holdOut) is var last and not 0)
            {
                CommonOptions.RequirePositive(last, "--hold-out-last");
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
                Architecture = parse.GetValue(architecture) switch
                {
                    "encoder-decoder" => TigerArchitecture.EncoderDecoder,
                    "end-to-end" => TigerArchitecture.EndToEnd,
                    _ => TigerArchitecture.DecoderOnly,
                },
                ReadActions = parse.GetValue(actions) switch { "on" => true, "off" => false, _ => null },
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
                StepProgress = ConsoleProgress.Steps("tiger"),
            };
            ConsoleProgress.Status($"training on {split.Train.Count} users' train sequences with semantic-ID index version {sid.Version} ({sid.Fingerprint})");
            using var model = new TigerTrainer(options).Fit(split, sid, ct);
            var folder = parse.GetValue(output)!;
            model.Save(folder);
            File.Copy(indexPath, ModelFolderLayout.IndexPath(folder), overwrite: true);
            var r = model.Report;
            ConsoleProgress.Status($"wrote {folder}: {r.Parameters:N0} parameters on {model.Device}, best epoch {r.BestEpoch} of {r.Epochs}");
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = "tiger",
                ["architecture"] = model.Config.Architecture.ToString(),
                ["reads_actions"] = model.Config.Actions || model.Config.Architecture == TigerArchitecture.EndToEnd,
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
        command.Subcommands.Add(DenseCommand.Create());
        command.Subcommands.Add(DenseCommand.CreateHead());
        command.Subcommands.Add(Reward());
        command.Subcommands.Add(Align());
        return command;
    }

    /// <summary>
    /// <c>genrec train reward</c>: stage 2 of end-to-end generation, a reward model learned from the train part (HSTU on
    /// the history alone: its "rates ≥ 4" and "interacts" heads), with its AUCs on the held-out targets.
    /// </summary>
    private static Command Reward()
    {
        var data = CommonOptions.Data();
        var output = new Option<string>("--out") { Description = "The reward model folder to write (an HSTU folder).", Required = true };
        var ratingWeight = new Option<double>("--rating-weight") { Description = "Weight of P(rates >= 4) in the reward.", DefaultValueFactory = _ => 1 };
        var engagementWeight = new Option<double>("--engagement-weight") { Description = "Weight of the engagement score in the reward.", DefaultValueFactory = _ => 1 };
        var hstu = HstuOptions.Create();
        var seed = CommonOptions.Seed();
        var command = new Command("reward", "Train a reward model (HSTU over the history, no cascade features) on the train part and report its rating and engagement AUC on the validation and test targets.")
        {
            data, output, ratingWeight, engagementWeight, hstu.Epochs, hstu.RatingWeight, hstu.NoSide, hstu.Dimension, hstu.MaxHistory, hstu.BatchSize, hstu.Negatives, seed,
        };
        command.SetAction((parse, ct) =>
        {
            var split = CommonOptions.LoadSplit(DataSource.Required(parse, data));
            using var model = ModelCatalog.Hstu(split, new ModelArguments(parse.GetValue(seed)) { Hstu = hstu.Read(parse), HstuCrossFeatures = false }, dlrm: null);
            var folder = parse.GetValue(output)!;
            model.Save(folder);
            var reward = model.AsReward(parse.GetValue(ratingWeight), parse.GetValue(engagementWeight));
            var figures = new Dictionary<string, object> { ["model"] = "reward", ["parameters"] = model.Report.Parameters, ["train_seconds"] = Math.Round(model.Report.Seconds, 1) };
            foreach (var (name, target) in new[] { ("valid", SplitTarget.Valid), ("test", SplitTarget.Test) })
            {
                ConsoleProgress.Status($"reward: scoring the {name} targets");
                var accuracy = RewardEvaluation.Evaluate(reward, split, target, seed: parse.GetValue(seed), cancellationToken: ct);
                ConsoleProgress.Status($"reward: {name} rating AUC {accuracy.RatingAuc:0.0000} ({accuracy.RatedTargets} targets), engagement AUC {accuracy.EngagementAuc:0.0000}");
                figures[$"{name}_rating_auc"] = Math.Round(accuracy.RatingAuc, 6);
                figures[$"{name}_engagement_auc"] = Math.Round(accuracy.EngagementAuc, 6);
            }

            ConsoleProgress.Status($"wrote {folder}");
            Console.WriteLine(JsonSerializer.Serialize(figures));
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>
    /// <c>genrec train align</c>: stage 3, a generative model aligned to a reward model by iterative DPO, then the
    /// stage-1 and the aligned model replayed side by side on the validation target (paired, with reward@10).
    /// </summary>
    private static Command Align()
    {
        var data = CommonOptions.Data();
        var modelPath = new Option<string>("--model-path") { Description = "The stage-1 model folder (genrec train tiger).", Required = true };
        var rewardPath = new Option<string>("--reward-path") { Description = "The reward model folder (genrec train reward).", Required = true };
        var output = new Option<string>("--out") { Description = "The aligned model folder to write.", Required = true };
        var beta = new Option<double>("--beta") { Description = "The KL anchor to the stage-1 model (DPO's beta): larger stays closer.", DefaultValueFactory = _ => 0.1 };
        var rounds = new Option<int>("--rounds") { Description = "Rounds; each regenerates the lists with the model aligned so far.", DefaultValueFactory = _ => 3 };
        var users = new Option<int>("--users") { Description = "Train users sampled per round.", DefaultValueFactory = _ => 512 };
        var candidates = new Option<int>("--candidates") { Description = "Items generated per user (beam width) among which the pairs are chosen.", DefaultValueFactory = _ => 20 };
        var pairs = new Option<int>("--pairs") { Description = "Pairs per user (best vs worst, second best vs second worst, ...).", DefaultValueFactory = _ => 1 };
        var dataWeight = new Option<double>("--data-weight") { Description = "Weight of the next-item loss on the users' real last train items.", DefaultValueFactory = _ => 1 };
        var rate = new Option<double>("--lr") { Description = "Learning rate.", DefaultValueFactory = _ => 1e-4 };
        var ratingWeight = new Option<double>("--rating-weight") { Description = "Weight of P(rates >= 4) in the reward.", DefaultValueFactory = _ => 1 };
        var engagementWeight = new Option<double>("--engagement-weight") { Description = "Weight of the engagement score in the reward.", DefaultValueFactory = _ => 1 };
        var compareUsers = new Option<int?>("--compare-users") { Description = "Replay only the first N validation users in the before/after comparison." };
        var seed = CommonOptions.Seed();
        var command = new Command("align", "Align a generative model to a reward model (iterative DPO with a KL anchor to the stage-1 model) on the train part, then compare it with the stage-1 model on the validation target.")
        {
            data, modelPath, rewardPath, output, beta, rounds, users, candidates, pairs, dataWeight, rate, ratingWeight, engagementWeight, compareUsers, seed,
        };
        command.SetAction(async (parse, ct) =>
        {
            var split = CommonOptions.LoadSplit(DataSource.Required(parse, data));
            var stage1Path = parse.GetValue(modelPath)!;
            using var stage1 = TigerModelArtifact.Load(stage1Path);
            var indexPath = ModelFolderLayout.IndexPath(stage1Path);
            var index = SemanticIdIndex.Load(indexPath);
            stage1.EnsureIndex(index);
            using var rewardModel = HstuModel.Load(parse.GetValue(rewardPath)!);
            var reward = rewardModel.AsReward(parse.GetValue(ratingWeight), parse.GetValue(engagementWeight));
            var options = new PreferenceAligner.Options
            {
                Beta = parse.GetValue(beta),
                Rounds = parse.GetValue(rounds),
                UsersPerRound = parse.GetValue(users),
                Candidates = parse.GetValue(candidates),
                PairsPerUser = parse.GetValue(pairs),
                DataWeight = parse.GetValue(dataWeight),
                LearningRate = parse.GetValue(rate),
                Seed = parse.GetValue(seed),
                Progress = new SyncProgress<AlignmentProgress>(p => ConsoleProgress.Status(
                    $"align round {p.Round}/{p.Rounds}: {p.Statistics.Pairs} pairs from {p.Statistics.Users} users, list reward {p.Statistics.ListReward:0.0000} (chosen {p.Statistics.ChosenReward:0.0000}, rejected {p.Statistics.RejectedReward:0.0000}), loss {p.Statistics.Loss:0.0000}, pairs ranked right {p.Statistics.PreferenceAccuracy:P1}, log-ratio {p.Statistics.LogRatio:0.0000} ({p.Elapsed.TotalSeconds:0}s)")),
            };
            ConsoleProgress.Status($"aligning {stage1Path} ({stage1.Config.Architecture}) to {reward.Name}: beta {options.Beta}, {options.Rounds} rounds of {options.UsersPerRound} users");
            using var aligned = new PreferenceAligner(options).Align(stage1, split, index, reward, ct);
            var folder = parse.GetValue(output)!;
            aligned.Save(folder);
            File.Copy(indexPath, ModelFolderLayout.IndexPath(folder), overwrite: true);

            ConsoleProgress.Status("comparing the stage-1 and the aligned model on the validation target (beam 100)");
            ReplayArm Arm(string name, TigerModelArtifact model) =>
                new(name, new CascadePipeline(name, [new RecallChannel(new GenerativeRecall(model, index, new GenerativeRecallOptions { Name = name, BeamWidth = 100 }))]));
            var report = await OfflineReplay.RunAsync(
                [Arm("stage-1", stage1), Arm("aligned", aligned)],
                split,
                SplitTarget.Valid,
                new ReplayOptions { MaxUsers = parse.GetValue(compareUsers), Reward = reward, Seed = parse.GetValue(seed), MaxDegreeOfParallelism = 1 },
                cancellationToken: ct).ConfigureAwait(false);
            Console.Error.Write(ExperimentReportWriter.ToTable(report));
            var after = report["aligned"];
            var figures = new Dictionary<string, object>
            {
                ["model"] = "aligned",
                ["beta"] = options.Beta,
                ["rounds"] = options.Rounds,
                ["data_weight"] = options.DataWeight,
                ["align_seconds"] = Math.Round(aligned.Alignment!.Seconds, 1),
                ["round_list_reward"] = aligned.Alignment.Rounds.Select(r => Math.Round(r.ListReward, 6)).ToArray(),
                ["round_log_ratio"] = aligned.Alignment.Rounds.Select(r => Math.Round(r.LogRatio, 6)).ToArray(),
            };
            foreach (var metric in new[] { "NDCG@10", "HR@10", "ILD@10", OfflineReplay.RewardMetric, "coverage@10" })
            {
                figures[$"valid_{metric}_stage1"] = Math.Round(report["stage-1"][metric].Value, 6);
                figures[$"valid_{metric}_aligned"] = Math.Round(after[metric].Value, 6);
                if (after[metric].VersusControl is { } c && double.IsFinite(c.Lower))
                {
                    figures[$"valid_{metric}_difference"] = new[] { Math.Round(c.Difference, 6), Math.Round(c.Lower, 6), Math.Round(c.Upper, 6) };
                }
            }

            ConsoleProgress.Status($"wrote {folder}");
            Console.WriteLine(JsonSerializer.Serialize(figures));
            return 0;
        });
        return command;
    }

    /// <summary><c>genrec train hstu</c>: the DLRM cascade (for its ranking queries and cross features), then HSTU on them.</summary>
    private static Command Hstu()
    {
        var data = CommonOptions.Data();
        var output = new Option<string>("--out") { Description = "The model folder to write.", Required = true };
        var hstu = HstuOptions.Create();
        var seed = CommonOptions.Seed();
        var coldStart = CommonOptions.ColdStart();
        var coldSeed = CommonOptions.ColdSeed();
        var coldTuning = CommonOptions.ColdTuning();
        var command = new Command("hstu", "Train an HSTU generative ranker (and next-item retriever) on the train part, on the DLRM cascade's ranking queries and cross features.")
        {
            data, output, hstu.Epochs, hstu.RatingWeight, hstu.NoSide, hstu.NoCross, hstu.Dimension, hstu.MaxHistory, hstu.BatchSize, hstu.Negatives, coldStart, coldSeed, coldTuning, seed,
        };
        command.SetAction((parse, ct) =>
        {
            var split = CommonOptions.Load(DataSource.Required(parse, data), null, parse.GetValue(coldStart), parse.GetValue(coldSeed), parse.GetValue(coldTuning)).Split;
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
