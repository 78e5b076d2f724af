using System.CommandLine;
using GenRec.Adapters;
using GenRec.Baselines;
using GenRec.Cascade;
using GenRec.Data;
using GenRec.Experiments;
using GenRec.Generative;
using GenRec.SemanticIds;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary>Builds the arms of an A/B comparison, training or loading each shared piece once.</summary>
internal sealed class ArmFactory(DataSplit split, int seed, string? tigerPath, string? hstuPath = null, FusionArguments? fusion = null, string? alignedPath = null, EndToEndArguments? endToEnd = null, IRewardModel? reward = null)
{
    /// <summary>The arms of <see cref="ArmCatalog"/> this command builds (all but those that need an Orleans cluster).</summary>
    public static readonly string[] Names = [.. ArmCatalog.All.Where(a => !a.Needs.HasFlag(ArmNeeds.OrleansCluster)).Select(a => a.Name)];

    /// <summary>
    /// The end-to-end arms' budget: offline figures must not depend on the machine's speed, so the adapter waits for
    /// the model (a fallback then means an error or an empty list, and is counted).
    /// </summary>
    private static readonly TimeSpan OfflineBudget = TimeSpan.FromMinutes(1);

    private ClassicRecall? _recall;
    private DlrmCascadeModel? _dlrm;
    private GenerativeRecall? _generative;
    private GenerativeRecall? _endToEnd;
    private HstuModel? _hstu;
    private DlrmCascadeModel? _fused;

    public ReplayArm Build(string name) =>
        name.StartsWith("e2e-blend:", StringComparison.Ordinal)
            ? Adapted(name, new AdapterOptions { Mode = StageMode.Blend, Blend = BlendMethod.Quota, GenerativeShare = Share(name, "e2e-blend:"), Budget = OfflineBudget })
        : name.StartsWith("e2e-fuse:", StringComparison.Ordinal)
            ? Adapted(name, new AdapterOptions { Mode = StageMode.Blend, Blend = BlendMethod.ScoreNormalized, GenerativeWeight = Share(name, "e2e-fuse:"), Budget = OfflineBudget })
        : name switch
    {
        ArmCatalog.Popularity => new ReplayArm(name, new CascadePipeline(name, [new RecallChannel(Recall.Popularity)])),
        ArmCatalog.ItemCf => new ReplayArm(name, new CascadePipeline(name, [new RecallChannel(Recall.ItemCf)])),
        ArmCatalog.Dlrm => new ReplayArm(name, Dlrm.CreatePipeline(name)),
        ArmCatalog.GenerativeRecallReplace => new ReplayArm(name, new CascadePipeline(name, [new RecallChannel(Generative)])),
        ArmCatalog.GenerativeRecallBlend => new ReplayArm(name, WithGenerativeChannel(name)),
        ArmCatalog.GenerativeAlignedReplace => new ReplayArm(name, new CascadePipeline(name, [new RecallChannel(ModelCatalog.LoadGenerative(
            alignedPath ?? throw new UsageException("the gen-aligned-replace arm needs --aligned-path (a folder from genrec train align)."), indexPath: null, "aligned", beamWidth: 100))])),
        ArmCatalog.EndToEndReplace => Adapted(name, new AdapterOptions { Mode = StageMode.Replace, Budget = OfflineBudget }),
        ArmCatalog.EndToEndBlend => Adapted(name, new AdapterOptions { Mode = StageMode.Blend, Blend = BlendMethod.Quota, GenerativeShare = EndToEndOptions.Share, Budget = OfflineBudget }),
        ArmCatalog.EndToEndRewardRerank => new ReplayArm(name, new CascadePipeline(name, [new RecallChannel(EndToEnd, 100)], RankingStage.FromReward(
            reward ?? throw new UsageException("the e2e-reward-rerank arm needs --reward-path (a folder from genrec train reward)."), "reward"))),
        ArmCatalog.HstuRank => new ReplayArm(name, Dlrm.CreatePipeline(name, ranker: Hstu.AsRanker(Dlrm.CandidateFeatures))),
        ArmCatalog.DlrmFused => new ReplayArm(name, Fused.CreatePipeline(name)),
        ArmCatalog.NeuralDlrm => new ReplayArm(name, NeuralControl.Build(name, split, Dlrm, seed)),
        ArmCatalog.DlrmHstuBlend => new ReplayArm(name, RankerBlend.Build(name, split, Dlrm, Hstu)),
        ArmCatalog.DlrmFusedHstuBlend => new ReplayArm(name, RankerBlend.Build(name, split, Fused, ModelCatalog.Hstu(split, new ModelArguments(seed), Fused))),
        _ => throw new UsageException($"unknown arm '{name}'; known arms: {string.Join(", ", Names)}."),
    };

    private ClassicRecall Recall => _recall ??= ClassicRecall.Fit(split.TrainInteractions, split.Dataset);

    private DlrmCascadeModel Dlrm => _dlrm ??= Train();

    private GenerativeRecall Generative => _generative ??= LoadGenerative();

    /// <summary>The cascade with generative features (and channel) fused in, its queries kept for an HSTU beside it.</summary>
    private DlrmCascadeModel Fused => _fused ??= FusedCascade.Fit(split, new ModelArguments(seed), fusion ?? new FusionArguments(["hstu"]), keepQueries: true);

    /// <summary>HSTU from --hstu-path, or trained here on the cascade's ranking queries and features.</summary>
    private HstuModel Hstu => _hstu ??= ModelCatalog.Hstu(split, new ModelArguments(seed, hstuPath), Dlrm);

    private DlrmCascadeModel Train()
    {
        ConsoleProgress.Status("training the DLRM cascade (LambdaRank) on the train part");
        // The ranking queries are kept for the HSTU and neural DLRM arms trained here (on exactly what LambdaRank learned from).
        return new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options { Seed = seed, Progress = new TrainerConsoleProgress(), KeepRankingQueries = true }).Fit(split);
    }

    /// <summary>
    /// The number in an <c>e2e-blend:&lt;share&gt;</c> or <c>e2e-fuse:&lt;weight&gt;</c> arm's name (several side by
    /// side, to choose one on validation).
    /// </summary>
    private static double Share(string name, string prefix) =>
        double.TryParse(name[prefix.Length..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var share) && share is > 0 and <= 1
            ? share
            : throw new UsageException($"arm {name}: the number after '{prefix}' must be in (0, 1], e.g. {prefix}0.2.");

    /// <summary>The end-to-end model's constrained beam search (beam 100), loaded once for every e2e arm.</summary>
    private GenerativeRecall EndToEnd => _endToEnd ??= ModelCatalog.LoadGenerative(EndToEndOptions.Path, indexPath: null, "end-to-end", beamWidth: 100);

    private EndToEndArguments EndToEndOptions => endToEnd ?? throw new UsageException("the e2e arms need --e2e-path (a folder from genrec train tiger --arch end-to-end, or genrec train align of one).");

    /// <summary>The end-to-end model writes the whole list and stands in for the DLRM cascade through the recommender adapter.</summary>
    private ReplayArm Adapted(string name, AdapterOptions options)
    {
        // The model first: a missing or bad --e2e-path is refused before a minute of cascade training, not after.
        var endToEnd = new CascadePipeline("end-to-end", [new RecallChannel(EndToEnd)]);
        var adapter = new RecommenderAdapter(name, Dlrm.CreatePipeline("dlrm"), endToEnd, options);
        return new ReplayArm(name, adapter, () => adapter.Fallbacks);
    }

    /// <summary>The cascade with the generative model as one more recall channel (the model loaded first, so a bad path is refused before training).</summary>
    private CascadePipeline WithGenerativeChannel(string name)
    {
        var channel = new RecallChannel(Generative, 100);
        return Dlrm.CreatePipeline(name, extraChannels: [channel]);
    }

    private GenerativeRecall LoadGenerative() => ModelCatalog.LoadGenerative(
        tigerPath ?? throw new UsageException("the generative arms need --model-path (a folder from genrec train tiger)."),
        indexPath: null,
        "generative",
        beamWidth: 100);
}

/// <summary><c>genrec ab</c>: every arm against the control on the same held-out users, with significance and a report.</summary>
internal static class AbCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
        var arms = new Option<string>("--arms") { Description = $"Comma-separated arms: {string.Join(", ", ArmFactory.Names)}; e2e-blend:<share> (slots interleaved, the model filling at most that share of the list) and e2e-fuse:<weight> (min-max normalised scores, the model's weighted so) set the number in the arm's name (several side by side).", DefaultValueFactory = _ => "dlrm,itemcf,popularity" };
        var control = new Option<string?>("--control") { Description = "The control arm (default: the first)." };
        var target = new Option<string>("--target") { Description = "test or valid.", DefaultValueFactory = _ => "test" };
        target.AcceptOnlyFromAmong("test", "valid");
        var output = new Option<string>("--out") { Description = "Folder for report.json and report.html.", Required = true };
        var modelPath = new Option<string?>("--model-path") { Description = "The generative model folder (for gen-recall-* arms)." };
        var hstuPath = new Option<string?>("--hstu-path") { Description = "hstu-rank: an HSTU folder from genrec train hstu (else HSTU trains here on the cascade's queries)." };
        var alignedPath = new Option<string?>("--aligned-path") { Description = "gen-aligned-replace: a model folder from genrec train align." };
        var endToEndPath = new Option<string?>("--e2e-path") { Description = "e2e-replace, e2e-blend: an end-to-end model folder (genrec train tiger --arch end-to-end, or genrec train align of one)." };
        var endToEndShare = new Option<double>("--e2e-share") { Description = "e2e-blend: the largest share of the list the end-to-end model fills, slots interleaved with the cascade's (choose it on --target valid).", DefaultValueFactory = _ => 0.3 };
        var rewardPath = new Option<string?>("--reward-path") { Description = "A reward model folder (genrec train reward): every arm also reports reward@10; e2e-reward-rerank re-ranks the end-to-end model's top 100 by it." };
        var maxUsers = new Option<int?>("--max-users") { Description = "Replay only the first N users." };
        var maxP99 = new Option<double>("--max-p99-ms") { Description = "Guardrail: the most p99 latency per request.", DefaultValueFactory = _ => 100 };
        var seed = CommonOptions.Seed();
        var fusion = new FusionOptions();
        var before = CommonOptions.Before();
        var command = new Command("ab", "Replay the held-out interactions through every arm, compare each with the control (paired bootstrap intervals, paired t-test, guardrails) and write a JSON and an HTML report.")
        {
            data, arms, control, target, output, modelPath, hstuPath, alignedPath, endToEndPath, endToEndShare, rewardPath, maxUsers, maxP99, before, seed,
        };
        foreach (var option in fusion.All)
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, ct) =>
        {
            var names = parse.GetValue(arms)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (names.Length < 2)
            {
                throw new UsageException("--arms needs at least two arms.");
            }

            var source = DataSource.Required(parse, data);
            var split = CommonOptions.LoadSplit(source, parse.GetValue(before));
            var share = parse.GetValue(endToEndShare);
            if (share is not (> 0 and <= 1))
            {
                throw new UsageException($"--e2e-share is {share}; it must be in (0, 1].");
            }

            var endToEnd = parse.GetValue(endToEndPath) is { } e2e ? new EndToEndArguments(e2e, share) : null;
            using var reward = parse.GetValue(rewardPath) is { } path ? HstuModel.Load(path) : null;
            var factory = new ArmFactory(split, parse.GetValue(seed), parse.GetValue(modelPath), parse.GetValue(hstuPath), fusion.Read(parse), parse.GetValue(alignedPath), endToEnd, reward?.AsReward());
            var replayArms = names.Select(factory.Build).ToArray();
            var options = new ReplayOptions { Control = parse.GetValue(control) ?? names[0], MaxUsers = parse.GetValue(maxUsers), MaxP99LatencyMs = parse.GetValue(maxP99), Seed = parse.GetValue(seed), Reward = reward?.AsReward(), ExcludeHistoryActions = source.TargetActions };
            var progressByArm = new Dictionary<string, (ConsoleProgress Bar, System.Diagnostics.Stopwatch Clock)>();
            var report = await OfflineReplay.RunAsync(
                replayArms,
                split,
                parse.GetValue(target) == "valid" ? SplitTarget.Valid : SplitTarget.Test,
                options,
                new SyncProgress<ReplayProgress>(p =>
                {
                    if (!progressByArm.TryGetValue(p.Arm, out var bar))
                    {
                        progressByArm[p.Arm] = bar = (new ConsoleProgress($"replay {p.ArmIndex + 1}/{p.Arms} {p.Arm}"), System.Diagnostics.Stopwatch.StartNew());
                    }

                    bar.Bar.Report(new Evaluation.EvaluationProgress(p.Done, p.Total, bar.Clock.Elapsed));
                }),
                ct).ConfigureAwait(false);

            var folder = parse.GetValue(output)!;
            Directory.CreateDirectory(folder);
            ExperimentReportWriter.WriteJson(report, Path.Combine(folder, "report.json"));
            ExperimentReportWriter.WriteHtml(report, Path.Combine(folder, "report.html"));
            Console.Write(ExperimentReportWriter.ToTable(report));
            ConsoleProgress.Status($"wrote {Path.Combine(folder, "report.json")} and {Path.Combine(folder, "report.html")}");
            return 0;
        });
        return command;
    }
}

/// <summary>The end-to-end arms' model folder and the blend's share.</summary>
/// <param name="Path">The model folder.</param>
/// <param name="Share">e2e-blend: the largest share of the list the model fills.</param>
internal sealed record EndToEndArguments(string Path, double Share);
