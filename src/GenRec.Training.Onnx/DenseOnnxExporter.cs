using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using Google.Protobuf;
using static GenRec.Models.DenseGraphContract;
using DataType = global::Onnx.TensorProto.Types.DataType;

namespace GenRec.Training.Onnx;

/// <summary>
/// Exports a trained <see cref="DenseRetrievalModel"/> as the two graphs of <see cref="DenseGraphContract"/> (user tower,
/// item tower) with the catalogue's item and content vectors and a manifest, so that <see cref="OnnxDenseRetriever"/>
/// serves it, on CUDA where present.
/// </summary>
public static class DenseOnnxExporter
{
    /// <summary>Writes <c>dense.json</c>, both graphs, <c>items.emb</c> and <c>content.emb</c> into <paramref name="directory"/>.</summary>
    /// <param name="model">The trained model (its current catalogue, items added after training included).</param>
    /// <param name="directory">The output folder; created if missing.</param>
    /// <returns>The manifest written.</returns>
    public static DenseOnnxManifest Export(DenseRetrievalModel model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        var weights = OnnxWeightsGraph.ReadWeights(model.Network);
        var config = model.Network.Config;

        var user = UserTower(config, weights);
        var userPath = Path.Combine(directory, UserTowerFile);
        Write(user.Build("GenRec.Training"), userPath);

        var item = new OnnxWeightsGraph("genrec_dense_item_tower", weights);
        item.Input(Content, DataType.Float, "n", config.ContentDimension);
        item.Input(Rows, DataType.Int64, "n");
        var vectors = item.Add(item.Linear(Content, "content"), item.Gather(item.W("ids.weight"), Rows));
        item.Output(Normalize(item, vectors), Vectors, DataType.Float, "n", config.Dimension);
        var itemPath = Path.Combine(directory, ItemTowerFile);
        Write(item.Build("GenRec.Training"), itemPath);

        DensePrefixHeadManifest? prefixHead = null;
        var headPath = Path.Combine(directory, PrefixHeadFile);
        if (model.Head is { } head)
        {
            var (headNetwork, headReport) = head;
            Write(PrefixHeadGraph(headNetwork).Build("GenRec.Training"), headPath);
            prefixHead = new DensePrefixHeadManifest(new OnnxGraphFile(PrefixHeadFile, OnnxModelManifest.Hash(headPath)), headReport.Levels, [.. headNetwork.Config.Vocabulary], headReport.IndexFingerprint);
        }
        else
        {
            File.Delete(headPath);
        }

        var catalogue = model.Catalogue;
        ItemEmbeddingsFile.Save(catalogue.Vectors, Path.Combine(directory, ItemVectorsFile), ItemVectorsSource);
        ItemEmbeddingsFile.Save(catalogue.Content, Path.Combine(directory, ContentFile), model.ContentSource);
        var manifest = new DenseOnnxManifest
        {
            Producer = $"GenRec.Training {typeof(DenseOnnxExporter).Assembly.GetName().Version}",
            Dimension = config.Dimension,
            ContentDimension = config.ContentDimension,
            ContentSource = model.ContentSource,
            MaxHistory = config.MaxHistory,
            ReadsActions = config.Actions,
            TrainedItems = [.. model.TrainedItems.Select(i => i.Value)],
            Opset = OnnxGraphBuilder.Opset,
            UserTower = new OnnxGraphFile(UserTowerFile, OnnxModelManifest.Hash(userPath)),
            ItemTower = new OnnxGraphFile(ItemTowerFile, OnnxModelManifest.Hash(itemPath)),
            PrefixHead = prefixHead,
        };
        manifest.Save(directory);
        return manifest;
    }

    /// <summary>
    /// history [B, T, d] · √d + positions (right-aligned) (+ the action embedding of actions [B, T]), zeroed on padding; causal blocks whose padding keys are masked
    /// except a position's own; the last position's layer-normed state, unit length (as <see cref="DenseRetrievalNetwork.Users"/>).
    /// </summary>
    private static TransformerGraph UserTower(DenseRetrievalConfig config, Dictionary<string, (float[] Data, long[] Shape)> weights)
    {
        var g = new TransformerGraph("genrec_dense_user_tower", weights, config.Dimension, config.Heads);
        g.Input(History, DataType.Float, "batch", "history", config.Dimension);
        g.Input(Valid, DataType.Bool, "batch", "history");
        var t = g.Scalar(g.Dim(History, 1));
        var positions = g.Op("Range", g.Sub(g.Long(config.MaxHistory), t), g.Long(config.MaxHistory), g.Long(1));
        var x = g.Add(g.Mul(History, g.Float(MathF.Sqrt(config.Dimension))), g.Gather(g.W("positions.weight"), positions));
        if (config.Actions)
        {
            g.Input(Actions, DataType.Int64, "batch", "history");
            x = g.Add(x, g.Gather(g.W("actions.weight"), Actions));
        }

        x = g.Mul(x, g.Unsqueeze(g.OpWith("Cast", [Valid], OnnxGraphBuilder.Int("to", (long)DataType.Float)), 2));

        var range = g.Op("Range", g.Long(0), t, g.Long(1));
        var column = g.Unsqueeze(range, 0);
        var row = g.Unsqueeze(range, 1);
        var causal = g.Op("LessOrEqual", column, row);
        var diagonal = g.Op("Equal", column, row);
        var allowed = g.Op("And", g.Unsqueeze(causal, 0), g.Op("Or", g.Unsqueeze(Valid, 1), g.Unsqueeze(diagonal, 0)));
        var bias = g.Unsqueeze(g.Where(allowed, g.Float(0f), g.Float(TransformerGraph.Masked)), 1);
        for (var i = 0; i < config.Layers; i++)
        {
            x = g.Block(x, $"blocks.{i}", bias, "qkv", "proj", out _, out _);
        }

        var last = g.Gather(g.LayerNorm(x, "norm"), g.Long(-1), axis: 1); // [B, 1, d]
        g.Output(Normalize(g, g.Reshape(last, g.LongVector(-1, config.Dimension))), User, DataType.Float, "batch", config.Dimension);
        return g;
    }

    /// <summary>
    /// user [B, d], prefix [B, P, L] → queries [B, P, d]: normalize(u + output(GELU(hidden([u ; Σₗ Eₗ[cₗ]])))), as
    /// <see cref="PrefixHeadNetwork"/>.
    /// </summary>
    private static TransformerGraph PrefixHeadGraph(PrefixHeadNetwork head)
    {
        var config = head.Config;
        var g = new TransformerGraph("genrec_dense_prefix_head", OnnxWeightsGraph.ReadWeights(head), config.Dimension, 1);
        g.Input(User, DataType.Float, "batch", config.Dimension);
        g.Input(Prefix, DataType.Int64, "batch", "prefixes", config.Levels);
        string? e = null;
        for (var l = 0; l < config.Levels; l++)
        {
            var level = g.Gather(g.W($"codes.{l}.weight"), g.Gather(Prefix, g.Long(l), axis: 2));
            e = e is null ? level : g.Add(e, level);
        }

        var u = g.Op("Expand", g.Unsqueeze(User, 1), g.Shape(e!));
        var shift = g.Linear(g.Gelu(g.Linear(g.Concat(-1, u, e!), "hidden")), "output");
        g.Output(Normalize(g, g.Add(u, shift)), Queries, DataType.Float, "batch", "prefixes", config.Dimension);
        return g;
    }

    /// <summary>x / max(‖x‖, 1e-12) over the last axis, as TorchSharp's normalize.</summary>
    private static string Normalize(OnnxGraphBuilder g, string x)
    {
        var norm = g.Op("Sqrt", g.OpWith("ReduceSum", [g.Mul(x, x), g.LongVector(-1)], OnnxGraphBuilder.Int("keepdims", 1)));
        return g.Op("Div", x, g.Op("Max", norm, g.Float(1e-12f)));
    }

    private static void Write(global::Onnx.ModelProto model, string path)
    {
        using var stream = File.Create(path);
        model.WriteTo(stream);
    }
}
