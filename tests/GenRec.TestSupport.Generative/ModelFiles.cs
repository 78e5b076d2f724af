using GenRec.Inference;
using GenRec.SemanticIds;
using GenRec.Training;

namespace GenRec.TestSupport;

/// <summary>
/// A small TIGER trained on the real MovieLens train part, exported to ONNX (two models of the same index, for the
/// swap test), and the index file: what a silo is configured with. Built once per test run.
/// </summary>
public static class ModelFiles
{
    private static readonly Lazy<Files> Built = new(Build);

    public static Files Value => Built.Value;

    public sealed record Files(string Folder, string IndexPath, string ModelPath, string OtherModelPath, SemanticIdIndex Index, int ItemWidth, ItemEmbeddings Embeddings);

    private static Files Build()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"genrec-test-models-{Environment.ProcessId}");
        Directory.CreateDirectory(folder);
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        var embeddings = new ItemEmbeddings(items, values, d);
        var index = new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 2, CodebookSize = 32, MaxIterations = 5 }).Fit(embeddings);
        var indexPath = Path.Combine(folder, "index.sid");
        index.Save(indexPath);
        var options = new TigerTrainer.Options
        {
            Architecture = TigerArchitecture.EncoderDecoder,
            TargetsPerUser = 4,
            Dimension = 16,
            Layers = 2,
            Heads = 2,
            MlpDimension = 32,
            MaxHistoryItems = 10,
            Epochs = 2,
            EvaluateEvery = 2,
            EvaluationUsers = 20,
            Device = ComputeDevice.Cpu,
        };
        using (var model = new TigerTrainer(options).Fit(TestData.Split, index))
        {
            TigerOnnxExporter.Export(model, Path.Combine(folder, "model-a"));
        }

        using (var other = TigerModelArtifact.CreateUntrained(new TigerConfig(16, 2, 2, 32, 0, 10, index.VocabularySizes, TigerArchitecture.EncoderDecoder), index, ComputeDevice.Cpu, seed: 3))
        {
            TigerOnnxExporter.Export(other, Path.Combine(folder, "model-b"));
        }

        return new Files(folder, indexPath, Path.Combine(folder, "model-a"), Path.Combine(folder, "model-b"), index, d, embeddings);
    }

    /// <summary>The model a silo serves, loaded here to compute expected answers.</summary>
    public static OnnxGenerativeModel Load(string path) => OnnxGenerativeModel.Load(path, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
}
