using System.Globalization;
using GenRec.Baselines;
using GenRec.Cascade;
using GenRec.Data;
using GenRec.Evaluation;
using GenRec.Inference;
using GenRec.Training.Onnx;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary>
/// The second classical control: the cascade's recall ranked by a neural DLRM (Meta's DLRM) trained on exactly the
/// queries and features LambdaRank learns from, its epoch count chosen on validation, exported and served by ONNX
/// Runtime.
/// </summary>
internal static class NeuralControl
{
    /// <summary>Epoch counts tried on validation.</summary>
    public static readonly int[] Epochs = [3, 10, 30];

    public static CascadePipeline Build(string name, DataSplit split, DlrmCascadeModel dlrm, int seed, CancellationToken cancellationToken = default)
    {
        var features = dlrm.CandidateFeatures;
        NeuralDlrmModel Train(int epochs) => new NeuralDlrmTrainer(new NeuralDlrmTrainer.Options { Epochs = epochs, Seed = seed })
            .Fit(dlrm.RankingQueries, features.Names, split.Dataset.Catalogue, cancellationToken);

        var trained = new Dictionary<int, NeuralDlrmModel>();
        var search = ValidationSearch.ChooseAsync(
            split,
            Epochs,
            e => dlrm.CreatePipeline(name, ranker: (trained[e] = Train(e)).AsRanker(features)),
            new SyncProgress<EvaluationProgress>(p => ConsoleProgress.Status($"{name}: epoch count {p.Done}/{p.Total} tried on validation ({p.Elapsed.TotalSeconds:0} s)")),
            cancellationToken).GetAwaiter().GetResult();
        foreach (var t in search.Trials)
        {
            ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"{name}: {t.Setting} epochs: validation NDCG@10 {t.Ndcg10:0.0000}"));
        }

        var best = trained[search.Best.Setting];
        var folder = Path.Combine(Path.GetTempPath(), $"genrec-neural-dlrm-{Environment.ProcessId}");
        NeuralDlrmOnnxExporter.Export(best, folder);
        var served = NeuralDlrmOnnxRanker.Load(folder, features, new OnnxRuntimeOptions(), ConsoleLog.Instance);
        foreach (var m in trained.Values)
        {
            m.Dispose();
        }

        ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"{name}: chosen {search.Best.Setting} epochs (validation NDCG@10 {search.Best.Ndcg10:0.0000}), {best.Report.Parameters:N0} parameters, served by ONNX Runtime ({served.ExecutionProvider}) from {folder}"));
        return dlrm.CreatePipeline(name, ranker: served);
    }
}
