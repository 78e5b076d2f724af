using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.Training.Onnx;
using GenRec.Training;

namespace GenRec.TestSupport;

/// <summary>
/// A small TIGER trained on the real MovieLens train part, exported to ONNX (two models of the same index, for the
/// swap test), and the index file: what a silo is configured with. Built once per test run.
/// </summary>
public static class ModelFiles
{
    private static readonly Lazy<Files> Built = new(Build);
    private static readonly Lazy<string> HstuBuilt = new(BuildHstu);
    private static readonly Lazy<string> EndToEndBuilt = new(BuildEndToEnd);
    private static readonly Lazy<string> DenseBuilt = new(BuildDense);

    public static Files Value => Built.Value;

    /// <summary>
    /// A small HSTU (d 16, history 12, two epochs, item side features, no cross features) trained on the real train
    /// part and exported to ONNX: the folder a service's <c>AddHstuRanking</c> is pointed at.
    /// </summary>
    public static string HstuOnnxPath => HstuBuilt.Value;

    /// <summary>
    /// A small end-to-end model (d 16, two layers, history 10, two epochs: event histories with item rows, side
    /// features, actions and ages) over <see cref="Value"/>'s index, exported to ONNX: the folder a service's
    /// <c>AddEndToEndRecommender</c> is pointed at.
    /// </summary>
    public static string EndToEndOnnxPath => EndToEndBuilt.Value;

    /// <summary>
    /// A small dense retriever (d 16, one block, history 10, two epochs) trained on the real train part with the
    /// catalogue's cheap movie features as its content vectors, with a one-epoch prefix head on <see cref="Value"/>'s
    /// index, exported to ONNX: the folder a service's <c>AddDenseRetrieval</c> is pointed at.
    /// </summary>
    public static string DenseOnnxPath => DenseBuilt.Value;

    /// <summary>The content source name of <see cref="DenseOnnxPath"/>'s content vectors.</summary>
    public const string DenseContentSource = "test:movie-features";

    private static string BuildDense()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"genrec-test-dense-{Environment.ProcessId}");
        using var model = new DenseRetrievalTrainer(new DenseRetrievalTrainer.Options
        {
            Dimension = 16, Layers = 1, Heads = 2, MlpDimension = 32, MaxHistory = 10, Epochs = 2, ValidationUsers = 50, Device = ComputeDevice.Cpu,
        }).Fit(TestData.Split, Value.Embeddings, DenseContentSource);
        new PrefixHeadTrainer(new PrefixHeadTrainer.Options { Epochs = 1, ValidationUsers = 50 }).Fit(model, TestData.Split, Value.Index);
        DenseOnnxExporter.Export(model, folder);
        return folder;
    }

    private static string BuildEndToEnd()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"genrec-test-end-to-end-{Environment.ProcessId}");
        using var model = TrainSmall(Value.Index, TigerArchitecture.EndToEnd);
        TigerOnnxExporter.Export(model, folder);
        return folder;
    }

    private static string BuildHstu()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"genrec-test-hstu-{Environment.ProcessId}");
        using var model = new HstuTrainer(new HstuTrainer.Options { Dimension = 16, Layers = 2, Heads = 2, MaxHistory = 12, Epochs = 2, WindowsPerUser = 1, Negatives = 16, Device = ComputeDevice.Cpu }).Fit(TestData.Split);
        HstuOnnxExporter.Export(model, folder);
        return folder;
    }

    public sealed record Files(string Folder, string IndexPath, string ModelPath, string OtherModelPath, SemanticIdIndex Index, int ItemWidth, ItemEmbeddings Embeddings);

    private static Files Build()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"genrec-test-models-{Environment.ProcessId}");
        Directory.CreateDirectory(folder);
        var (index, embeddings) = SmallIndex();
        var indexPath = ModelFolderLayout.IndexPath(folder);
        index.Save(indexPath);
        using (var model = TrainSmall(index, TigerArchitecture.EncoderDecoder))
        {
            TigerOnnxExporter.Export(model, Path.Combine(folder, "model-a"));
        }

        using (var other = TigerModelArtifact.CreateUntrained(new TigerConfig(16, 2, 2, 32, 0, 10, index.VocabularySizes, TigerArchitecture.EncoderDecoder), index, ComputeDevice.Cpu, seed: 3))
        {
            TigerOnnxExporter.Export(other, Path.Combine(folder, "model-b"));
        }

        return new Files(folder, indexPath, Path.Combine(folder, "model-a"), Path.Combine(folder, "model-b"), index, embeddings.Dimension, embeddings);
    }

    /// <summary>A small semantic-ID index (2 × 32 + 1) of the real catalogue's cheap movie features.</summary>
    public static (SemanticIdIndex Index, ItemEmbeddings Embeddings) SmallIndex()
    {
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        var embeddings = new ItemEmbeddings(items, values, d);
        return (new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 2, CodebookSize = 32, MaxIterations = 5 }).Fit(embeddings), embeddings);
    }

    /// <summary>A small TIGER (d 16, two layers, history 10) trained for two epochs on the real MovieLens train part (token histories with each item's action token, if asked).</summary>
    public static TigerModelArtifact TrainSmall(SemanticIdIndex index, TigerArchitecture architecture, bool readActions = false) =>
        new TigerTrainer(new TigerTrainer.Options
        {
            Architecture = architecture,
            ReadActions = readActions,
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
        }).Fit(TestData.Split, index);

    /// <summary>The model a silo serves, loaded here to compute expected answers.</summary>
    public static OnnxGenerativeModel Load(string path) => OnnxGenerativeModel.Load(path, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
}
