using System.CommandLine;
using System.Globalization;
using GenRec;
using GenRec.Baselines;
using GenRec.Cli;
using GenRec.Data;
using GenRec.Evaluation;

var root = new RootCommand("genrec: generative recommendation tooling for GenRec.Sdk: evaluate and compare recommenders (eval, recommend, ab), build semantic IDs (tokenize, index), train and export models (train, export), and measure them (bench).");
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(RecommendCommand.Create());
root.Subcommands.Add(TokenizeCommand.Create());
root.Subcommands.Add(IndexCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(AbCommand.Create());
root.Subcommands.Add(ExportCommand.Create());
root.Subcommands.Add(DataCommand.Create());
root.Subcommands.Add(SynthCommand.Create());
DataSource.AddAlternatives(root);
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    // A value the command line does not accept is bad input like any other: one line each, exit code 2.
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"error: {error.Message}");
    }

    Console.Error.WriteLine($"({string.Join(' ', args.TakeWhile(a => !a.StartsWith('-')).Prepend("genrec"))} --help lists the options)");
    return 2;
}

return await CliErrors.RunAsync(() => parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false })).ConfigureAwait(false);

namespace GenRec.Cli
{
    /// <summary>Turns bad input into one clear line on standard error and exit code 2, instead of a stack trace (command-line parse errors exit 2 too).</summary>
    internal static class CliErrors
    {
        public static async Task<int> RunAsync(Func<Task<int>> run)
        {
            try
            {
                return await run().ConfigureAwait(false);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or InvalidDataException or ArgumentException or KeyNotFoundException or FormatException or UsageException or InvalidOperationException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        }
    }

    /// <summary>A command-line value that is out of range.</summary>
    internal sealed class UsageException(string message) : Exception(message);

    /// <summary>Options shared by the commands that read a dataset and build a model.</summary>
    internal static class CommonOptions
    {
        /// <summary><c>--data</c>: a MovieLens ratings file; <see cref="DataSource"/> adds the other form (<c>--events --schema</c>).</summary>
        public static Option<string?> Data() => new("--data") { Description = "The ratings file (MovieLens CSV, optionally .gz); or give a team's own log with --events and --schema." };

        public static Option<string> Model() => new("--model")
        {
            Description = $"The model: {string.Join(", ", ModelCatalog.Names)}.",
            Required = true,
        };

        public static Option<int> Seed() => new("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 42 };

        public static void RequirePositive(int value, string option)
        {
            if (value < 1)
            {
                throw new UsageException($"{option} is {value}; it must be 1 or more.");
            }
        }

        /// <summary>The value when it is 0 or more, else a usage error naming the option.</summary>
        public static int RequireNonNegative(int value, string option) =>
            value >= 0 ? value : throw new UsageException($"{option} is {value}; it must be 0 or more.");

        /// <summary>A comma-separated list of positive integers (e.g. <c>--beams 16,100</c>), or a usage error.</summary>
        public static int[] PositiveInts(string text, string option)
        {
            var values = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(v => int.TryParse(v, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new UsageException($"{option} takes positive integers separated by commas; got '{text}'."))
                .ToArray();
            return values.Length > 0 ? values : throw new UsageException($"{option} is empty.");
        }

        public static void RequireModel(string model)
        {
            if (!ModelCatalog.Names.Contains(model))
            {
                throw new UsageException($"unknown model '{model}'; known models: {string.Join(", ", ModelCatalog.Names)}.");
            }
        }

        /// <summary><c>--before</c>: a time-truncated copy of the data (the second split, where nothing was tuned).</summary>
        public static Option<DateTimeOffset?> Before() => new("--before")
        {
            Description = "Keep only interactions before this date (e.g. 2012-01-01) and the items they name, then split: a time-truncated copy of the data, as if it ended there.",
        };

        /// <summary><c>--cold-start</c>: the cold-start split (a seeded share of the catalogue made cold).</summary>
        public static Option<double?> ColdStart() => new("--cold-start")
        {
            Description = "Make this share of the catalogue cold (e.g. 0.2): every interaction with a cold item is removed except where it is a user's test target, so those targets are unseen in train and validation (the cold-start split).",
        };

        /// <summary><c>--cold-seed</c>: which items the cold-start split makes cold (apart from the model's --seed).</summary>
        public static Option<int> ColdSeed() => new("--cold-seed") { Description = "--cold-start: the seed that chooses the cold items.", DefaultValueFactory = _ => 42 };

        /// <summary><c>--cold-tuning</c>: the cold-start split for choosing settings, which never reads the test targets.</summary>
        public static Option<bool> ColdTuning() => new("--cold-tuning")
        {
            Description = "--cold-start: the split to tune a cold-start design on: every user's test target is dropped and the cold-start split is made again from what remains (cold items chosen with --cold-seed + 1), so its held-out targets are the canonical validation targets, some of them cold. Report with --target test on this split; the real test target is never read.",
        };

        public static DataSplit LoadSplit(DataSource source, DateTimeOffset? before = null) => Load(source, before, null, 42).Split;

        /// <summary>Reads the data and splits it: leave-one-out, optionally time-truncated first or made cold-start.</summary>
        public static LoadedSplit Load(DataSource source, DateTimeOffset? before, double? coldStart, int seed, bool tuning = false)
        {
            var dataset = source.Read().Dataset;
            var path = source.Description;
            if (before is { } cutoff)
            {
                var kept = dataset.Interactions.Where(i => i.Timestamp < cutoff.ToUnixTimeSeconds()).ToArray();
                if (kept.Length == 0)
                {
                    throw new UsageException($"no interaction of {path} is before {cutoff:yyyy-MM-dd}.");
                }

                var items = kept.Select(i => i.Item).ToHashSet();
                dataset = new InteractionDataset(kept, dataset.Items.Values.Where(r => items.Contains(r.Id)));
                ConsoleProgress.Status($"kept the {kept.Length} interactions before {cutoff:yyyy-MM-dd} and their {items.Count} items");
            }

            if (coldStart is { } share)
            {
                if (share is not (> 0 and < 1))
                {
                    throw new UsageException($"--cold-start is {share}; it must be in (0, 1).");
                }

                var cold = tuning ? ColdStartSplit.CreateForTuning(dataset, share, seed, source.TargetActions) : ColdStartSplit.Create(dataset, share, seed, source.TargetActions);
                var coldSplit = source.ContextActions is { } coldContext ? cold.Split.WithContext(coldContext) : cold.Split;
                ConsoleProgress.Status(
                    $"cold-start split{(tuning ? " for tuning (the canonical test targets dropped; its held-out targets are the validation targets)" : string.Empty)}: " +
                    $"{cold.ColdItems.Count} of {dataset.Catalogue.Count} items cold (seed {cold.Seed}); {coldSplit.TrainInteractions.Count} train interactions left; " +
                    $"{cold.ColdTargetUsers.Count} of {coldSplit.UsersWithTarget(SplitTarget.Test).Count} users have a cold held-out target; {coldSplit.Name}");
                return new LoadedSplit(coldSplit, cold);
            }

            if (tuning)
            {
                throw new UsageException("--cold-tuning needs --cold-start (the share of the catalogue made cold).");
            }

            var split = source.TargetActions is { } targets ? LeaveOneOutSplit.Create(dataset, targets) : LeaveOneOutSplit.Create(dataset);
            if (source.ContextActions is { } context)
            {
                split = split.WithContext(context);
            }

            ConsoleProgress.Status($"{dataset.Interactions.Count} interactions, {dataset.Users.Count} users, {dataset.Catalogue.Count} items; {split.Name} split: {split.TrainInteractions.Count} train");
            return new LoadedSplit(split, null);
        }
    }

    /// <summary>A split as read from the command line, with the cold-start split's facts when <c>--cold-start</c> made it.</summary>
    internal sealed record LoadedSplit(DataSplit Split, ColdStartSplit? Cold);

    /// <summary><c>genrec eval</c>: trains a model on the train part and scores it on the held-out targets.</summary>
    internal static class EvalCommand
    {
        public static Command Create()
        {
            var data = CommonOptions.Data();
            var model = CommonOptions.Model();
            var target = new Option<string>("--target") { Description = "test or valid.", DefaultValueFactory = _ => "test" };
            target.AcceptOnlyFromAmong("test", "valid");
            var top = new Option<int>("--top") { Description = "Items per user in the list.", DefaultValueFactory = _ => 100 };
            var recsOut = new Option<string?>("--recs-out") { Description = "Write the lists in the scorer's format (userId<TAB>item,item,...)." };
            var splitOut = new Option<string?>("--split-out") { Description = "Write the split in the scorer's layout (train.tsv, valid.tsv, test.tsv, items.tsv) into this folder, so score.py or se.py --split scores the lists of any log." };
            var coldUsersOut = new Option<string?>("--cold-users-out") { Description = "--cold-start: write the ids of the users whose test target is cold, one per line (for paired comparisons on them)." };
            var maxUsers = new Option<int?>("--max-users") { Description = "Evaluate only the first N users (a quick look)." };
            var modelPath = new Option<string?>("--model-path") { Description = "tiger: the model folder from genrec train tiger; tiger-onnx: the folder from genrec export; hstu, hstu-rank: the folder from genrec train hstu (else HSTU trains here)." };
            var indexPath = new Option<string?>("--index") { Description = "tiger: the semantic-ID index (default: the copy in the model folder)." };
            var beam = new Option<int>("--beam") { Description = "tiger: beam width (widened to --top when smaller).", DefaultValueFactory = _ => 100 };
            var draftsPerBeam = new Option<int>("--drafts-per-beam") { Description = "tiger-onnx: parallel decoding (OnnxRuntimeOptions.DraftsPerBeam); 0 decodes step by step.", DefaultValueFactory = _ => 0 };
            var invalidCheckUsers = new Option<int?>("--invalid-check-users") { Description = "tiger: after the evaluation, decode this many users again without the trie constraint to count invented IDs (invalid_rate_unconstrained); default: every evaluated user; 0 skips it (it costs about as much as the evaluation)." };
            var dlrmGrid = new Option<string>("--dlrm-grid")
            {
                Description = "dlrm*: the LambdaRank settings tried on validation: full (three, the default) or single (leaves 15, 150 rounds: a quick run, e.g. to check a pipeline).",
                DefaultValueFactory = _ => "full",
            };
            dlrmGrid.AcceptOnlyFromAmong("full", "single");
            var hstu = HstuOptions.Create();
            var fusion = new FusionOptions();
            var dense = new DenseOptions();
            var before = CommonOptions.Before();
            var coldStart = CommonOptions.ColdStart();
            var coldSeed = CommonOptions.ColdSeed();
        var coldTuning = CommonOptions.ColdTuning();
            var seed = CommonOptions.Seed();
            var command = new Command("eval", "Train a model on the train part and evaluate it with full ranking, history excluded; prints the metrics as JSON on the last line (with --cold-start, also on the users whose test target is cold).")
            {
                data, model, target, top, recsOut, splitOut, coldUsersOut, maxUsers, modelPath, indexPath, beam, draftsPerBeam, invalidCheckUsers, dlrmGrid, hstu.Epochs, hstu.RatingWeight, hstu.NoSide, hstu.NoCross, hstu.Dimension, hstu.MaxHistory, hstu.BatchSize, hstu.Negatives, before, coldStart, coldSeed, coldTuning, seed,
            };
            foreach (var option in fusion.All.Concat(dense.All).Concat(dense.EvaluationOnly))
            {
                command.Options.Add(option);
            }

            command.SetAction(async (parse, ct) =>
            {
                var name = parse.GetValue(model)!;
                var k = parse.GetValue(top);
                CommonOptions.RequireModel(name);
                CommonOptions.RequirePositive(k, "--top");
                if (parse.GetValue(maxUsers) is { } m)
                {
                    CommonOptions.RequirePositive(m, "--max-users");
                }

                var checkUsers = CommonOptions.RequireNonNegative(parse.GetValue(invalidCheckUsers) ?? parse.GetValue(maxUsers) ?? int.MaxValue, "--invalid-check-users");
                var source = DataSource.Required(parse, data);
                var (split, cold) = CommonOptions.Load(source, parse.GetValue(before), parse.GetValue(coldStart), parse.GetValue(coldSeed), parse.GetValue(coldTuning));
                var splitTarget = parse.GetValue(target) == "valid" ? SplitTarget.Valid : SplitTarget.Test;
                if (parse.GetValue(splitOut) is { } splitFolder)
                {
                    split.WriteTsv(splitFolder);
                    ConsoleProgress.Status($"wrote the split ({split.Name}) to {splitFolder}");
                }

                ConsoleProgress.Status($"training {name} on the train part");
                CommonOptions.RequirePositive(parse.GetValue(beam), "--beam");
                GenRec.Generative.GenerativeRecall? generative = null;
                var recommender = ModelCatalog.Build(name, split, new ModelArguments(parse.GetValue(seed), parse.GetValue(modelPath), parse.GetValue(indexPath), parse.GetValue(beam), r => generative = r) { DraftsPerBeam = CommonOptions.RequireNonNegative(parse.GetValue(draftsPerBeam), "--drafts-per-beam"), Hstu = hstu.Read(parse), HstuCrossFeatures = !parse.GetValue(hstu.NoCross), Fusion = fusion.Read(parse), Dense = dense.Read(parse), DensePath = parse.GetValue(dense.Path), FreshShare = dense.ReadFreshShare(parse), FreshAfter = CommonOptions.RequireNonNegative(parse.GetValue(dense.FreshAfter), "--fresh-after"), BeamFusion = dense.ReadBeamFusion(parse), DlrmGrid = parse.GetValue(dlrmGrid) == "single" ? [DlrmCascadeTrainer.SingleSetting] : null });
                var result = await OfflineEvaluator.EvaluateAsync(
                    recommender,
                    split,
                    splitTarget,
                    new EvaluationOptions { TopK = k, MaxUsers = parse.GetValue(maxUsers), ExcludeHistoryActions = source.TargetActions },
                    new ConsoleProgress($"eval {name}"),
                    ct).ConfigureAwait(false);
                if (parse.GetValue(recsOut) is { } path)
                {
                    RecommendationFile.Write(path, result.Lists);
                    ConsoleProgress.Status($"wrote {result.Lists.Count} lists to {path}");
                }

                if (result.Problems.Any)
                {
                    ConsoleProgress.Status($"warning: {result.Problems}");
                }

                var latency = result.LatencyMilliseconds.Order().ToArray();
                ConsoleProgress.Status(string.Create(
                    CultureInfo.InvariantCulture,
                    $"latency per request: p50 {Percentile(latency, 0.5):0.00} ms, p99 {Percentile(latency, 0.99):0.00} ms"));
                var extra = string.Empty;
                if (generative is not null && checkUsers > 0)
                {
                    // How often the model alone would invent an ID no item has (the constraint prevents it above).
                    int invalid = 0, total = 0, done = 0;
                    var cases = split.Cases(splitTarget).Take(checkUsers).ToList();
                    var progress = new ConsoleProgress("unconstrained decoding");
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    foreach (var c in cases)
                    {
                        var (i, t) = generative.CountUnconstrainedInvalid(new RecommendationRequest(c.User, c.HistoryEvents(), k, c.Target.Time), Math.Max(parse.GetValue(beam), k));
                        invalid += i;
                        total += t;
                        progress.Report(new EvaluationProgress(++done, cases.Count, clock.Elapsed));
                    }

                    ConsoleProgress.Status($"without the trie constraint, {invalid} of {total} decoded IDs ({invalid / (double)Math.Max(1, total):P1}) belong to no item");
                    extra = string.Create(CultureInfo.InvariantCulture, $", \"invalid_rate_unconstrained\": {Math.Round(invalid / (double)Math.Max(1, total), 6)}");
                }

                if (cold is not null && parse.GetValue(coldUsersOut) is { } coldUsersPath)
                {
                    File.WriteAllLines(coldUsersPath, cold.ColdTargetUsers.Order().Select(u => u.Value.ToString(CultureInfo.InvariantCulture)));
                }

                if (cold is not null && splitTarget == SplitTarget.Test)
                {
                    // The same lists, scored on the users whose test target is a cold item (validation targets never are).
                    var coldOutcomes = result.Report.Outcomes.Where(o => cold.ColdTargetUsers.Contains(o.User)).ToArray();
                    if (coldOutcomes.Length > 0)
                    {
                        var coldReport = MetricsReport.Compute(coldOutcomes, coldOutcomes.SelectMany(o => result.Lists.TryGetValue(o.User, out var l) ? l.Take(10) : []), split.Dataset.Catalogue.Count);
                        ConsoleProgress.Status($"cold-target users ({coldReport.Users}): HR@10 {coldReport["HR@10"]:0.0000}, HR@50 {coldReport["HR@50"]:0.0000}, NDCG@10 {coldReport["NDCG@10"]:0.0000}");
                        extra += $", \"cold_users\": {coldReport.ToJson()}";
                    }
                }

                Console.WriteLine(result.Report.ToJson().Insert(1, $"\"model\": \"{name}\", \"target\": \"{splitTarget.ToString().ToLowerInvariant()}\", ").TrimEnd('}') + extra + "}");
                return 0;
            });
            return command;
        }

        internal static double Percentile(double[] sorted, double q) =>
            sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
    }

    /// <summary><c>genrec recommend</c>: one user's top items with titles, as a person would look at them.</summary>
    internal static class RecommendCommand
    {
        public static Command Create()
        {
            var data = CommonOptions.Data();
            var model = CommonOptions.Model();
            var user = new Option<long>("--user") { Description = "The user id.", Required = true };
            var top = new Option<int>("--top") { Description = "How many items.", DefaultValueFactory = _ => 10 };
            var modelPath = new Option<string?>("--model-path") { Description = "tiger: the model folder from genrec train tiger." };
            var seed = CommonOptions.Seed();
            var command = new Command("recommend", "Train (or load) a model and show a user's test-time history and recommendations.")
            {
                data, model, user, top, modelPath, seed,
            };
            command.SetAction(async (parse, ct) =>
            {
                var name = parse.GetValue(model)!;
                var k = parse.GetValue(top);
                CommonOptions.RequireModel(name);
                CommonOptions.RequirePositive(k, "--top");
                var split = CommonOptions.LoadSplit(DataSource.Required(parse, data));
                var userId = new UserId(parse.GetValue(user));
                if (!split.Dataset.Users.Contains(userId))
                {
                    throw new UsageException($"user {userId} is not in the data (users run from {split.Dataset.Users[0]} to {split.Dataset.Users[^1]}).");
                }

                var c = split.Case(userId, SplitTarget.Test);
                var recommender = ModelCatalog.Build(name, split, new ModelArguments(parse.GetValue(seed), parse.GetValue(modelPath)));
                var request = new RecommendationRequest(userId, c.HistoryEvents(), k, c.Target.Time);
                var result = await recommender.RecommendAsync(request, ct).ConfigureAwait(false);
                var items = split.Dataset.Items;
                Console.WriteLine($"user {userId}: {c.History.Count} items of history; last five:");
                foreach (var h in c.History.TakeLast(5))
                {
                    Console.WriteLine($"  {h.Time:yyyy-MM-dd}  {Describe(items[h.Item])}");
                }

                Console.WriteLine($"top {k} by {name} (held-out next item: {Describe(items[c.Target.Item])}):");
                var rank = 1;
                foreach (var candidate in result.Items)
                {
                    var mark = candidate.Item == c.Target.Item ? "  <- the held-out item" : string.Empty;
                    Console.WriteLine($"  {rank++,3}. {Describe(items[candidate.Item]),-70} {candidate.Score,10:0.0000}  {candidate.Source}{mark}");
                }

                return 0;
            });
            return command;
        }

        private static string Describe(ItemRecord item) =>
            $"{item.Text} ({item.PublishedAt?.Year.ToString(CultureInfo.InvariantCulture) ?? "?"}) [{string.Join('|', item.Categories)}]";
    }
}
