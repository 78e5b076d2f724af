using GenRec.Baselines;
using GenRec.Cascade;
using GenRec.Data;
using GenRec.Experiments;
using GenRec.Generative;
using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary>The models the CLI can build from a split's train part.</summary>
internal static class ModelCatalog
{
    /// <summary>
    /// The models <c>genrec eval</c> builds: the arms of <see cref="ArmCatalog"/> that need nothing beyond the training
    /// data (trained here), and the single models and recall stages it evaluates from folders.
    /// </summary>
    public static readonly string[] Names =
    [
        ArmCatalog.Popularity, ArmCatalog.ItemCf, ArmCatalog.Dlrm, "tiger", "tiger-onnx", "recall-200", "dlrm-200", ArmCatalog.HstuRank, "hstu-onnx-200", "hstu",
        ArmCatalog.DlrmFused, ArmCatalog.DlrmHstuBlend, ArmCatalog.DlrmFusedHstuBlend, ArmCatalog.NeuralDlrm, "dense", "dense-onnx", "dense-new", "hybrid-union", "hybrid-rrf", "hybrid-fresh", "beam-fusion",
    ];

    public static IRecommender Build(string name, DataSplit split, ModelArguments arguments)
    {
        var seed = arguments.Seed;
        switch (name)
        {
            case ArmCatalog.Popularity:
            {
                var recall = ClassicRecall.Fit(split.TrainInteractions, split.Dataset);
                return new CascadePipeline("popularity", [new RecallChannel(recall.Popularity)]);
            }

            case ArmCatalog.ItemCf:
            {
                var recall = ClassicRecall.Fit(split.TrainInteractions, split.Dataset);
                return new CascadePipeline("itemcf", [new RecallChannel(recall.ItemCf)]);
            }

            case ArmCatalog.Dlrm:
            {
                var trainer = new DlrmCascadeTrainer(arguments.Dlrm());
                var model = trainer.Fit(split);
                ConsoleProgress.Status(
                    $"dlrm: ranker queries {model.TrainingQueries.Queries} (target recalled {model.TrainingQueries.RecallRate:P1}), " +
                    $"validation recall@{model.RankingDepth} of {model.Channels.Count} channels {model.ValidationQueries.RecallRate:P1}; chosen {model.Chosen.Settings} " +
                    $"(validation NDCG@10 {model.Chosen.ValidationNdcg10:0.0000})");
                foreach (var g in model.Grid)
                {
                    ConsoleProgress.Status($"dlrm: grid {g.Settings}: validation NDCG@10 {g.ValidationNdcg10:0.0000}");
                }

                return model.CreatePipeline();
            }

            case ArmCatalog.DlrmFused:
                return FusedCascade.Fit(split, arguments, arguments.Fusion).CreatePipeline(name);

            case ArmCatalog.NeuralDlrm:
                return NeuralControl.Build(name, split, new DlrmCascadeTrainer(arguments.Dlrm(keepQueries: true)).Fit(split), seed);

            case ArmCatalog.DlrmHstuBlend:
            case ArmCatalog.DlrmFusedHstuBlend:
            {
                // LambdaRank (plain, or reading the fused generative features) blended with HSTU trained on the same
                // queries and features; HSTU's weight is chosen on validation.
                var dlrm = name == ArmCatalog.DlrmFusedHstuBlend
                    ? FusedCascade.Fit(split, arguments, arguments.Fusion, keepQueries: true)
                    : new DlrmCascadeTrainer(arguments.Dlrm(keepQueries: true)).Fit(split);
                return RankerBlend.Build(name, split, dlrm, Hstu(split, arguments with { ModelPath = null }, dlrm));
            }

            case "tiger":
            {
                var folder = arguments.ModelPath ?? throw new UsageException("--model tiger needs --model-path (a folder from genrec train tiger).");
                var recall = LoadGenerative(folder, arguments.IndexPath, "tiger", arguments.BeamWidth);
                arguments.Diagnostics?.Invoke(recall);
                return new CascadePipeline("tiger", [new RecallChannel(recall)]);
            }

            case "recall-200":
            case "dlrm-200":
            case ArmCatalog.HstuRank:
            case "hstu-onnx-200":
            {
                // Ranking on identical candidates: the DLRM cascade's recall, top 200 per user, ordered by the recall
                // merge itself, by LambdaRank, or by HSTU (trained here, or loaded with --model-path; hstu-onnx-200: served by ONNX Runtime).
                if (name == "hstu-onnx-200" && arguments.ModelPath is null)
                {
                    throw new UsageException("--model hstu-onnx-200 needs --model-path (a folder from genrec export --kind hstu).");
                }

                var dlrm = name == "dlrm-200"
                    ? new DlrmCascadeTrainer(arguments.Dlrm()).Fit(split)
                    : CascadeForHstu(split, seed, keepQueries: name == "hstu-rank" && arguments.ModelPath is null);
                IRankingStage? ranker = name switch
                {
                    "dlrm-200" => dlrm.Ranker,
                    "recall-200" => null,
                    "hstu-onnx-200" => HstuOnnxRanker.Load(
                        arguments.ModelPath!,
                        dlrm.CandidateFeatures,
                        new OnnxRuntimeOptions(),
                        ConsoleLog.Instance),
                    _ => Hstu(split, arguments, dlrm).AsRanker(arguments.HstuCrossFeatures ? dlrm.CandidateFeatures : null),
                };
                return new CascadePipeline(name, [new RecallChannel(dlrm.RecallStage, 200)], ranker, new CascadeOptions { RankingDepth = 200 });
            }

            case "hstu":
            {
                var model = arguments.ModelPath is { } path ? HstuModel.Load(path) : Hstu(split, arguments, null);
                return new CascadePipeline("hstu", [new RecallChannel(model.AsRecall())]);
            }

            case "dense":
                return new CascadePipeline("dense", [new RecallChannel(Dense(split, arguments, arguments.DensePath ?? arguments.ModelPath).AsRecall())]);

            case "dense-new":
                return new CascadePipeline("dense-new", [new RecallChannel(Dense(split, arguments, arguments.DensePath ?? arguments.ModelPath).AsNewItemsRecall())]);

            case "hybrid-fresh":
            {
                // The union with a fresh-items channel: generative and dense interleaved, and the items without an ID
                // embedding (new since training) ranked by their content-only vectors for --fresh-share of every list.
                var folder = arguments.ModelPath ?? throw new UsageException($"--model {name} needs --model-path (a generative model folder from genrec train tiger) and --dense-path.");
                var densePath = arguments.DensePath ?? throw new UsageException($"--model {name} needs --dense-path (a folder from genrec train dense).");
                var generative = LoadGenerative(folder, arguments.IndexPath, "tiger", arguments.BeamWidth);
                var dense = Dense(split, arguments, densePath);
                var union = new CompositeRecall("union", [new RecallChannel(generative), new RecallChannel(dense.AsRecall())]);
                return new CascadePipeline(name, [new RecallChannel(new ReservedShareRecall(name, union, dense.AsNewItemsRecall(), arguments.FreshShare, arguments.FreshAfter))]);
            }

            case "beam-fusion":
            {
                // COBRA-style fusion: the generator emits semantic-ID prefixes, the dense model ranks every item under
                // them, and the list is ordered by log P(prefix) + w × similarity.
                var folder = arguments.ModelPath ?? throw new UsageException($"--model {name} needs --model-path (a generative model folder from genrec train tiger) and --dense-path.");
                var densePath = arguments.DensePath ?? throw new UsageException($"--model {name} needs --dense-path (a folder from genrec train dense).");
                var (model, index) = LoadGenerativeModel(folder, arguments.IndexPath, name, arguments.BeamWidth);
                var dense = Dense(split, arguments, densePath);
                var (options, vectors, freshOffset, conditioned) = arguments.BeamFusion;
                options.Name = name;
                ConsoleProgress.Status($"{name}: {options.Beams} prefixes of {options.PrefixLevels} level(s), dense weight {options.DenseWeight}, {(vectors == DenseItemVectors.ContentOnly ? "content-only" : "full")} item vectors, fresh items' offset {freshOffset}{(conditioned ? ", queries conditioned on each prefix by the dense head" : "")}");
                try
                {
                    var stage = conditioned
                        ? new BeamFusionRecall(model, index, dense.AsConditionedRanker("dense", vectors, freshOffset), options)
                        : new BeamFusionRecall(model, index, dense.AsRanker("dense", vectors, freshOffset), options);
                    return new CascadePipeline(name, [new RecallChannel(stage)]);
                }
                catch (Exception e) when (e is InvalidOperationException or ArgumentException)
                {
                    throw new UsageException($"--model {name}: {e.Message}");
                }
            }

            case "dense-onnx":
            {
                var folder = arguments.DensePath ?? arguments.ModelPath ?? throw new UsageException("--model dense-onnx needs --dense-path (a folder from genrec export --kind dense).");
                var served = OnnxDenseRetriever.Load(folder, new OnnxRuntimeOptions(), ConsoleLog.Instance);
                ConsoleProgress.Status($"dense-onnx: {served.Catalogue.Vectors.Count} items on ONNX Runtime ({served.ExecutionProvider})");
                return new CascadePipeline("dense-onnx", [new RecallChannel(served)]);
            }

            case "hybrid-union":
            case "hybrid-rrf":
            {
                // LIGER's union of generative and dense retrieval: the generative model (--model-path) and the dense
                // one (--dense-path), each asked for the whole list, merged by rank or by reciprocal-rank fusion.
                var folder = arguments.ModelPath ?? throw new UsageException($"--model {name} needs --model-path (a generative model folder from genrec train tiger) and --dense-path.");
                var densePath = arguments.DensePath ?? throw new UsageException($"--model {name} needs --dense-path (a folder from genrec train dense).");
                var generative = LoadGenerative(folder, arguments.IndexPath, "tiger", arguments.BeamWidth);
                var dense = Dense(split, arguments, densePath);
                var merge = name == "hybrid-rrf" ? RecallMerge.ReciprocalRank : RecallMerge.Interleave;
                return new CascadePipeline(name, [new RecallChannel(new CompositeRecall(name, [new RecallChannel(generative), new RecallChannel(dense.AsRecall())], merge))]);
            }

            case "tiger-onnx":
            {
                var folder = arguments.ModelPath ?? throw new UsageException("--model tiger-onnx needs --model-path (a folder from genrec export).");
                var recall = LoadOnnx(folder, arguments.IndexPath, "tiger-onnx", arguments.BeamWidth, arguments.DraftsPerBeam);
                arguments.Diagnostics?.Invoke(recall);
                return new CascadePipeline("tiger-onnx", [new RecallChannel(recall)]);
            }

            default:
                throw new ArgumentException($"Unknown model '{name}'. Known models: {string.Join(", ", Names)}.");
        }
    }

    /// <summary>
    /// The DLRM cascade as HSTU uses it: its recall, its ranking queries and its hand-made features — not its
    /// LambdaRank ranker, so that is fitted with one cheap setting instead of the grid (the rest is identical).
    /// </summary>
    public static DlrmCascadeModel CascadeForHstu(DataSplit split, int seed, bool keepQueries, CancellationToken cancellationToken = default) =>
        new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options
        {
            Seed = seed,
            Progress = new TrainerConsoleProgress(),
            KeepRankingQueries = keepQueries,
            Grid = [DlrmCascadeTrainer.SingleSetting],
        }).Fit(split, cancellationToken);

    /// <summary>
    /// HSTU for the ranking models: loaded from --model-path, or trained here on the DLRM cascade's own ranking queries
    /// (with their cross features unless --hstu-no-cross; without a cascade, on queries sampled from the train part).
    /// </summary>
    public static HstuModel Hstu(DataSplit split, ModelArguments arguments, DlrmCascadeModel? dlrm)
    {
        if (arguments.ModelPath is { } path)
        {
            var loaded = HstuModel.Load(path);
            ConsoleProgress.Status($"hstu: loaded {loaded.Report.Parameters:N0} parameters on {loaded.Device} from {path}; cross features: {loaded.CrossFeatureNames.Count}");
            return loaded;
        }

        var cross = arguments.HstuCrossFeatures && dlrm is not null;
        var model = new HstuTrainer((arguments.Hstu with
        {
            Seed = arguments.Seed,
            Progress = new SyncProgress<HstuTrainingProgress>(p => ConsoleProgress.Status(
                $"hstu epoch {p.Epoch}/{p.Epochs}, step {p.Step}/{p.Steps}: sequence loss {p.SequenceLoss:0.0000}, ranking loss {p.RankingLoss:0.0000} ({p.Elapsed.TotalSeconds:0}s)")),
        }).ToOptions()).Fit(split, dlrm?.RankingQueries, cross ? dlrm!.CandidateFeatures.Names : null);
        ConsoleProgress.Status($"hstu: {model.Report.Parameters:N0} parameters, {model.Report.RankingQueries} ranking queries ({(model.Report.CascadeQueries ? "the cascade's" : "sampled")}), cross features {model.CrossFeatureNames.Count}, side features {model.SideFeatures}, {model.Report.Seconds:0} s");
        return model;
    }

    /// <summary>The dense retriever: loaded from a folder of genrec train dense, or trained here when none is given.</summary>
    public static DenseRetrievalModel Dense(DataSplit split, ModelArguments arguments, string? path)
    {
        if (path is null)
        {
            return DenseCommand.Train(split, arguments.Dense with { Seed = arguments.Seed }, null, CancellationToken.None);
        }

        var model = DenseRetrievalModel.Load(path);
        var missing = split.Dataset.Catalogue.Count(i => !model.ItemVectors.Contains(i));
        ConsoleProgress.Status($"dense: loaded from {path} on {model.Device}; {model.ItemVectors.Count} items, {model.TrainedItems.Count} with an ID embedding{(missing > 0 ? $"; {missing} catalogue items have no vector" : string.Empty)}");
        return model;
    }

    /// <summary>A generative model folder (and its index copy, unless another is named) as a recall stage.</summary>
    public static GenerativeRecall LoadGenerative(string folder, string? indexPath, string name, int beamWidth)
    {
        var (model, index) = LoadGenerativeModel(folder, indexPath, name, beamWidth);
        return new GenerativeRecall(model, index, new GenerativeRecallOptions { Name = name, BeamWidth = beamWidth });
    }

    /// <summary>A generative model folder and its index copy (unless another is named), checked against each other.</summary>
    private static (TigerModelArtifact Model, SemanticIdIndex Index) LoadGenerativeModel(string folder, string? indexPath, string name, int beamWidth)
    {
        var model = TigerModelArtifact.Load(folder);
        var index = SemanticIdIndex.Load(indexPath ?? ModelFolderLayout.IndexPath(folder));
        model.EnsureIndex(index);
        ConsoleProgress.Status($"{name}: {model.Report.Parameters:N0} parameters on {model.Device}, index version {index.Version}; beam width {beamWidth}");
        return (model, index);
    }

    /// <summary>
    /// An ONNX model folder (from genrec export) served by ONNX Runtime as a recall stage, its searches merged by a
    /// micro-batcher. The model and the batcher live as long as the process (one CLI command).
    /// </summary>
    public static GenerativeRecall LoadOnnx(string folder, string? indexPath, string name, int beamWidth, int draftsPerBeam = 0)
    {
        var model = OnnxGenerativeModel.Load(folder, new OnnxRuntimeOptions { DraftsPerBeam = draftsPerBeam }, ConsoleLog.Instance);
        var index = SemanticIdIndex.Load(indexPath ?? ModelFolderLayout.IndexPath(folder));
        var recall = new GenerativeRecall(model, index, new GenerativeRecallOptions { Name = name, BeamWidth = beamWidth }, new GenerativeMicroBatcher(model));
        ConsoleProgress.Status($"{name}: {model.Manifest.Architecture} on ONNX Runtime ({model.ExecutionProvider}), index version {index.Version}; beam width {beamWidth}, micro-batched{(model.DraftsPerBeam > 0 ? $", parallel decoding at {model.DraftsPerBeam} drafts per beam" : "")}");
        return recall;
    }
}

/// <summary>Shows the DLRM trainer's phases on standard error: each phase's start and end, and within one every 10 s.</summary>
internal sealed class TrainerConsoleProgress : IProgress<TrainerProgress>
{
    private static readonly TimeSpan Every = TimeSpan.FromSeconds(10);
    private readonly Lock _gate = new();
    private string? _phase;
    private TimeSpan _shown;

    public void Report(TrainerProgress value)
    {
        lock (_gate) // queries are built on several threads
        {
            if (value.Phase != _phase || value.Done == value.Total || value.Elapsed - _shown >= Every)
            {
                (_phase, _shown) = (value.Phase, value.Elapsed);
                ConsoleProgress.Status($"dlrm: {value.Phase} {value.Done}/{value.Total} ({value.Elapsed.TotalSeconds:0.0}s)");
            }
        }
    }
}

/// <summary>What the models beyond the baselines need from the command line.</summary>
internal sealed record ModelArguments(int Seed, string? ModelPath = null, string? IndexPath = null, int BeamWidth = 100, Action<GenerativeRecall>? Diagnostics = null, int? Epochs = null)
{
    /// <summary>tiger-onnx: parallel decoding's drafts per beam (0: step by step).</summary>
    public int DraftsPerBeam { get; init; }

    /// <summary>HSTU training settings from the command line.</summary>
    public HstuArguments Hstu { get; init; } = new();

    /// <summary>What dlrm-fused reads from generative models.</summary>
    public FusionArguments Fusion { get; init; } = new(["hstu"]);

    /// <summary>A dense retriever folder (genrec train dense) for the hybrid models.</summary>
    public string? DensePath { get; init; }

    /// <summary>Dense retriever training settings from the command line.</summary>
    public DenseRetrievalTrainer.Options Dense { get; init; } = new();

    /// <summary>Whether HSTU reads the DLRM cascade's cross features.</summary>
    public bool HstuCrossFeatures { get; init; } = true;

    /// <summary>hybrid-fresh: the share of every list reserved for the fresh-items channel.</summary>
    public double FreshShare { get; init; } = 0.2;

    /// <summary>hybrid-fresh: how many of the union's items come before the first fresh one.</summary>
    public int FreshAfter { get; init; }

    /// <summary>beam-fusion: the stage's options and the item vectors of its dense side.</summary>
    public (BeamFusionOptions Options, DenseItemVectors Vectors, double FreshOffset, bool Conditioned) BeamFusion { get; init; } = (new BeamFusionOptions(), DenseItemVectors.Full, 0, false);

    /// <summary>The LambdaRank settings the DLRM cascade tries on validation (--dlrm-grid); <see langword="null"/>: the trainer's grid.</summary>
    public IReadOnlyList<DlrmRankerSettings>? DlrmGrid { get; init; }

    /// <summary>The DLRM cascade trainer's options for these arguments.</summary>
    /// <param name="keepQueries">Whether the trained model keeps its ranking queries (for HSTU and blends).</param>
    public DlrmCascadeTrainer.Options Dlrm(bool keepQueries = false)
    {
        var options = new DlrmCascadeTrainer.Options { Seed = Seed, Progress = new TrainerConsoleProgress(), KeepRankingQueries = keepQueries };
        if (DlrmGrid is { } grid)
        {
            options.Grid = grid;
        }

        return options;
    }
}

/// <summary>The HSTU options the command line sets; every default is <see cref="HstuTrainer.Options"/>'s (one place).</summary>
internal sealed record HstuArguments
{
    /// <summary>The trainer's defaults, which the command line's defaults are.</summary>
    public static readonly HstuTrainer.Options Defaults = new();

    public int Epochs { get; init; } = Defaults.Epochs;

    public double RatingWeight { get; init; } = Defaults.RatingWeight;

    public bool SideFeatures { get; init; } = Defaults.SideFeatures;

    public int Dimension { get; init; } = Defaults.Dimension;

    public int MaxHistory { get; init; } = Defaults.MaxHistory;

    public int Seed { get; init; } = Defaults.Seed;

    public IProgress<HstuTrainingProgress>? Progress { get; init; }

    public int BatchSize { get; init; } = Defaults.BatchSize;

    public int SampledNegatives { get; init; } = Defaults.SampledNegatives;

    public HstuTrainer.Options ToOptions() => new() { Epochs = Epochs, RatingWeight = RatingWeight, SideFeatures = SideFeatures, Dimension = Dimension, MaxHistory = MaxHistory, Seed = Seed, Progress = Progress, BatchSize = BatchSize, SampledNegatives = SampledNegatives };
}
