using GenRec.Inference;
using GenRec.Models;
using Google.Protobuf;
using static GenRec.Models.NeuralDlrmGraphContract;
using DataType = global::Onnx.TensorProto.Types.DataType;

namespace GenRec.Training.Onnx;

/// <summary>
/// Exports a trained <see cref="NeuralDlrmModel"/> as the graph of <see cref="NeuralDlrmGraphContract"/> with its
/// manifest, so that <see cref="NeuralDlrmOnnxRanker"/> serves it: standardisation (NaN read as the mean), bottom MLP,
/// embedding gathers, pairwise dot interactions and top MLP, written operator by operator from the weights.
/// </summary>
public static class NeuralDlrmOnnxExporter
{
    /// <summary>Writes <c>manifest.json</c> and <c>dlrm.onnx</c> into <paramref name="directory"/>.</summary>
    /// <param name="model">The trained model.</param>
    /// <param name="directory">The output folder; created if missing.</param>
    /// <returns>The manifest written.</returns>
    public static NeuralDlrmOnnxManifest Export(NeuralDlrmModel model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        var f = model.FeatureNames.Count;
        var v = NeuralDlrmConfig.Vectors;
        var g = new OnnxWeightsGraph("neural_dlrm", OnnxWeightsGraph.ReadWeights(model.Network));
        g.Input(Dense, DataType.Float, "n", f);
        g.Input(Items, DataType.Int64, "n");
        g.Input(LastItems, DataType.Int64, "n");
        g.Input(Channels, DataType.Int64, "n");

        var z = g.Mul(g.Sub(Dense, g.W("mean")), g.W("scale"));
        z = g.Where(g.Op("IsNaN", Dense), g.Float(0), z);
        var bottom = g.Op("Relu", g.Linear(g.Op("Relu", g.Linear(z, "bottom1")), "bottom2")); // [N, d]
        var vectors = g.Concat(
            1,
            g.Unsqueeze(bottom, 1),
            g.Unsqueeze(g.Gather(g.W("items.weight"), Items), 1),
            g.Unsqueeze(g.Gather(g.W("items.weight"), LastItems), 1),
            g.Unsqueeze(g.Gather(g.W("channels.weight"), Channels), 1)); // [N, 4, d]
        var dots = g.Reshape(g.MatMul(vectors, g.Transpose(vectors, 0, 2, 1)), g.LongVector(-1, v * v)); // [N, 16]
        var pairs = g.Gather(dots, g.Longs(NeuralDlrmNetwork.UpperTriangle, NeuralDlrmNetwork.UpperTriangle.Length), axis: 1); // [N, 6]
        var top = g.Linear(g.Op("Relu", g.Linear(g.Concat(1, bottom, pairs), "top1")), "top2"); // [N, 1]
        g.Output(g.Reshape(top, g.LongVector(-1)), Scores, DataType.Float, "n");

        var path = Path.Combine(directory, GraphFile);
        using (var stream = File.Create(path))
        {
            g.Build("GenRec.Training").WriteTo(stream);
        }

        var manifest = new NeuralDlrmOnnxManifest
        {
            Producer = $"GenRec.Training {typeof(NeuralDlrmOnnxExporter).Assembly.GetName().Version}",
            Items = [.. model.Items.Select(i => i.Value)],
            Features = [.. model.FeatureNames],
            Opset = OnnxGraphBuilder.Opset,
            Graph = new OnnxGraphFile(GraphFile, OnnxModelManifest.Hash(path)),
        };
        manifest.Save(directory);
        return manifest;
    }
}
