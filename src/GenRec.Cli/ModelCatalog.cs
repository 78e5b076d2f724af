using GenRec.Adapters.MLNet;
using GenRec.Cascade;
using GenRec.Data;
using GenRec.Generative;
using GenRec.Inference;
using GenRec.SemanticIds;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary>The models the CLI can build from a split's train part.</summary>
internal static class ModelCatalog
{
    public static readonly string[] Names = ["popularity", "itemcf", "dlrm", "tiger", "tiger-onnx", "recall-200", "dlrm-200", "hstu-200"];

    public static IRecommender Build(string name, DataSplit split, ModelArguments arguments)
    {
        var seed = arguments.Seed;
        switch (name)
        {
            case "popularity":
            {
                var recall = ClassicRecall.Fit(split.TrainInteractions, split.Dataset);
                return new CascadePipeline("popularity", [new RecallChannel(recall.Popularity)]);
            }

            case "itemcf":
            {
                var recall = ClassicRecall.Fit(split.TrainInteractions, split.Dataset);
                return new CascadePipeline("itemcf", [new RecallChannel(recall.ItemCf)]);
            }

            case "dlrm":
            {
                var trainer = new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options { Seed = seed, Progress = new TrainerConsoleProgress() });
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

            case "tiger":
            {
                var folder = arguments.ModelPath ?? throw new UsageException("--model tiger needs --model-path (a folder from genrec train tiger).");
                var recall = LoadGenerative(folder, arguments.IndexPath, "tiger", arguments.BeamWidth);
                arguments.Diagnostics?.Invoke(recall);
                return new CascadePipeline("tiger", [new RecallChannel(recall)]);
            }

            case "recall-200":
            case "dlrm-200":
            case "hstu-200":
            {
                // Ranking on identical candidates: the DLRM cascade's recall, top 200 per user, ordered by the recall
                // merge itself, by LambdaRank, or by HSTU.
                var trainer = new DlrmCascadeTrainer(new DlrmCascadeTrainer.Options { Seed = seed, Progress = new TrainerConsoleProgress() });
                var dlrm = trainer.Fit(split);
                IRankingStage? ranker = name switch
                {
                    "dlrm-200" => dlrm.Ranker,
                    "hstu-200" => new HstuTrainer(new HstuTrainer.Options
                    {
                        Seed = seed,
                        Epochs = arguments.Epochs ?? 10,
                        RatingWeight = arguments.RatingWeight,
                        Progress = new SyncProgress<HstuTrainingProgress>(p => ConsoleProgress.Status($"hstu epoch {p.Epoch}/{p.Epochs}: loss {p.Loss:0.0000} ({p.Elapsed.TotalSeconds:0}s)")),
                    }).Fit(split),
                    _ => null,
                };
                return new CascadePipeline(name, [new RecallChannel(dlrm.RecallStage, 200)], ranker, new CascadeOptions { RankingDepth = 200 });
            }

            case "tiger-onnx":
            {
                var folder = arguments.ModelPath ?? throw new UsageException("--model tiger-onnx needs --model-path (a folder from genrec export).");
                var recall = LoadOnnx(folder, arguments.IndexPath, "tiger-onnx", arguments.BeamWidth);
                arguments.Diagnostics?.Invoke(recall);
                return new CascadePipeline("tiger-onnx", [new RecallChannel(recall)]);
            }

            default:
                throw new ArgumentException($"Unknown model '{name}'. Known models: {string.Join(", ", Names)}.");
        }
    }

    /// <summary>A generative model folder (and its index copy, unless another is named) as a recall stage.</summary>
    public static GenerativeRecall LoadGenerative(string folder, string? indexPath, string name, int beamWidth)
    {
        var model = TigerModelArtifact.Load(folder);
        var index = SemanticIdIndex.Load(indexPath ?? Path.Combine(folder, TrainCommand.IndexFileName));
        model.EnsureIndex(index);
        ConsoleProgress.Status($"{name}: {model.Report.Parameters:N0} parameters on {model.Device}, index version {index.Version}; beam width {beamWidth}");
        return new GenerativeRecall(model, index, new GenerativeRecallOptions { Name = name, BeamWidth = beamWidth });
    }

    /// <summary>
    /// An ONNX model folder (from genrec export) served by ONNX Runtime as a recall stage, its searches merged by a
    /// micro-batcher. The model and the batcher live as long as the process (one CLI command).
    /// </summary>
    public static GenerativeRecall LoadOnnx(string folder, string? indexPath, string name, int beamWidth)
    {
        var model = OnnxGenerativeModel.Load(folder, new OnnxRuntimeOptions(), ConsoleLog.Instance);
        var index = SemanticIdIndex.Load(indexPath ?? Path.Combine(folder, TrainCommand.IndexFileName));
        var recall = new GenerativeRecall(model, index, new GenerativeRecallOptions { Name = name, BeamWidth = beamWidth }, new GenerativeMicroBatcher(model));
        ConsoleProgress.Status($"{name}: {model.Manifest.Architecture} on ONNX Runtime ({model.ExecutionProvider}), index version {index.Version}; beam width {beamWidth}, micro-batched");
        return recall;
    }
}

/// <summary>Shows the DLRM trainer's phases on standard error.</summary>
internal sealed class TrainerConsoleProgress : IProgress<TrainerProgress>
{
    private string? _phase;

    public void Report(TrainerProgress value)
    {
        if (value.Phase != _phase || value.Done == value.Total)
        {
            _phase = value.Phase;
            ConsoleProgress.Status($"dlrm: {value.Phase} {value.Done}/{value.Total} ({value.Elapsed.TotalSeconds:0.0}s)");
        }
    }
}

/// <summary>What the models beyond the baselines need from the command line.</summary>
internal sealed record ModelArguments(int Seed, string? ModelPath = null, string? IndexPath = null, int BeamWidth = 100, Action<GenerativeRecall>? Diagnostics = null, int? Epochs = null)
{
    public double RatingWeight { get; init; } = 0.5;
}
