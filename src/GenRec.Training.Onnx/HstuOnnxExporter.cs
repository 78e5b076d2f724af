using GenRec.Inference;
using GenRec.Models;
using Google.Protobuf;
using TorchSharp;
using static GenRec.Models.HstuGraphContract;
using DataType = global::Onnx.TensorProto.Types.DataType;

namespace GenRec.Training.Onnx;

/// <summary>
/// Exports a trained <see cref="HstuModel"/> as the three ONNX graphs of <see cref="HstuGraphContract"/> with its
/// manifest, so that <see cref="HstuOnnxRanker"/> serves it: the history graph encodes a history once (every layer's
/// keys and values), the candidates graph scores any micro-batch of candidates against them (M-FALCON), the extend
/// graph adds appended events' keys and values to an encoded history. Written operator by operator from the
/// TorchSharp weights; the item table with its side features is folded into an initializer, and the position biases
/// and causal mask are computed from the token count, so every graph takes histories of any length up to the window.
/// </summary>
public static class HstuOnnxExporter
{
    /// <summary>Writes <c>manifest.json</c>, <c>history.onnx</c>, <c>candidates.onnx</c> and <c>extend.onnx</c> into <paramref name="directory"/>.</summary>
    /// <param name="model">The trained model.</param>
    /// <param name="directory">The output folder; created if missing.</param>
    /// <returns>The manifest written.</returns>
    public static HstuOnnxManifest Export(HstuModel model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        var network = model.Network;
        var weights = OnnxWeightsGraph.ReadWeights(network);
        using (var table = model.ItemTable.detach().cpu()) // a new handle: the model keeps its own
        {
            weights["item_table"] = (table.data<float>().ToArray(), table.shape);
        }

        var shape = new Shape(network.Config);
        var history = HistoryGraph(shape, weights);
        var candidates = CandidatesGraph(shape, weights, model.CrossFeatureNames.Count);
        var extend = ExtendGraph(shape, weights);
        var historyPath = Path.Combine(directory, HistoryFile);
        var candidatesPath = Path.Combine(directory, CandidatesFile);
        var extendPath = Path.Combine(directory, ExtendFile);
        Write(history.Build("GenRec.Training"), historyPath);
        Write(candidates.Build("GenRec.Training"), candidatesPath);
        Write(extend.Build("GenRec.Training"), extendPath);
        var manifest = new HstuOnnxManifest
        {
            Producer = $"GenRec.Training {typeof(HstuOnnxExporter).Assembly.GetName().Version}",
            Layers = shape.Config.Layers,
            Heads = shape.H,
            HeadDimension = shape.Hd,
            MaxHistory = shape.Config.MaxHistory,
            Items = [.. model.Items.Select(i => i.Value)],
            CrossFeatures = [.. model.CrossFeatureNames],
            RatingWeight = model.RatingWeight,
            Opset = OnnxGraphBuilder.Opset,
            History = new OnnxGraphFile(HistoryFile, OnnxModelManifest.Hash(historyPath)),
            Candidates = new OnnxGraphFile(CandidatesFile, OnnxModelManifest.Hash(candidatesPath)),
            Extend = new OnnxGraphFile(ExtendFile, OnnxModelManifest.Hash(extendPath)),
        };
        manifest.Save(directory);
        return manifest;
    }

    private static void Write(global::Onnx.ModelProto model, string path)
    {
        using var stream = File.Create(path);
        model.WriteTo(stream);
    }

    private static Graph HistoryGraph(Shape s, Dictionary<string, (float[] Data, long[] Shape)> weights)
    {
        var g = new Graph("hstu_history", weights, s);
        g.Input(TokenItems, DataType.Int64, "batch", "tokens");
        g.Input(TokenActions, DataType.Int64, "batch", "tokens");
        g.Input(TokenTimes, DataType.Int64, "batch", "tokens");
        var positions = g.Op("Range", g.Long(0), g.Scalar(g.Dim(TokenItems, 1)), g.Long(1)); // [T]
        var valid = g.Cast(g.Op("Not", g.Op("Equal", g.Add(TokenItems, TokenActions), g.Long(0)))); // [B, T]
        var (keys, values, output) = g.CausalLayers(g.Embed(TokenItems, TokenActions), positions, positions, TokenTimes, valid, [], []);
        g.Output(g.Concat(0, [.. keys]), HistoryKeys, DataType.Float, s.Config.Layers, "batch", s.H, "tokens", s.Hd);
        g.Output(g.Concat(0, [.. values]), HistoryValues, DataType.Float, s.Config.Layers, "batch", s.H, "tokens", s.Hd);
        g.Output(output, LastState, DataType.Float, "batch", s.D);
        return g;
    }

    /// <summary>
    /// Appended tokens after an encoded history: they sit at positions P … P + T − 1 and attend to the history's keys
    /// and values (unchanged: the model is causal) and causally to each other, exactly as in a history pass over all
    /// P + T tokens.
    /// </summary>
    private static Graph ExtendGraph(Shape s, Dictionary<string, (float[] Data, long[] Shape)> weights)
    {
        var g = new Graph("hstu_extend", weights, s);
        g.Input(HistoryKeys, DataType.Float, s.Config.Layers, "batch", s.H, "past", s.Hd);
        g.Input(HistoryValues, DataType.Float, s.Config.Layers, "batch", s.H, "past", s.Hd);
        g.Input(HistoryTimes, DataType.Int64, "batch", "past");
        g.Input(HistoryMask, DataType.Float, "batch", "past");
        g.Input(TokenItems, DataType.Int64, "batch", "tokens");
        g.Input(TokenActions, DataType.Int64, "batch", "tokens");
        g.Input(TokenTimes, DataType.Int64, "batch", "tokens");
        var past = g.Scalar(g.Dim(HistoryTimes, 1));
        var all = g.Add(past, g.Scalar(g.Dim(TokenItems, 1)));
        var queries = g.Op("Range", past, all, g.Long(1)); // [T]
        var keyPositions = g.Op("Range", g.Long(0), all, g.Long(1)); // [P + T]
        var valid = g.Concat(1, HistoryMask, g.Cast(g.Op("Not", g.Op("Equal", g.Add(TokenItems, TokenActions), g.Long(0))))); // [B, P + T]
        var times = g.Concat(1, HistoryTimes, TokenTimes);
        var pastKeys = Enumerable.Range(0, s.Config.Layers).Select(i => g.Gather(HistoryKeys, g.Long(i))).ToArray();
        var pastValues = Enumerable.Range(0, s.Config.Layers).Select(i => g.Gather(HistoryValues, g.Long(i))).ToArray();
        var (keys, values, output) = g.CausalLayers(g.Embed(TokenItems, TokenActions), queries, keyPositions, times, valid, pastKeys, pastValues);
        g.Output(g.Concat(0, [.. keys]), AppendedKeys, DataType.Float, s.Config.Layers, "batch", s.H, "tokens", s.Hd);
        g.Output(g.Concat(0, [.. values]), AppendedValues, DataType.Float, s.Config.Layers, "batch", s.H, "tokens", s.Hd);
        g.Output(output, LastState, DataType.Float, "batch", s.D);
        return g;
    }

    private static Graph CandidatesGraph(Shape s, Dictionary<string, (float[] Data, long[] Shape)> weights, int crossFeatures)
    {
        var g = new Graph("hstu_candidates", weights, s);
        g.Input(HistoryKeys, DataType.Float, s.Config.Layers, "batch", s.H, "tokens", s.Hd);
        g.Input(HistoryValues, DataType.Float, s.Config.Layers, "batch", s.H, "tokens", s.Hd);
        g.Input(LastState, DataType.Float, "batch", s.D);
        g.Input(TokenTimes, DataType.Int64, "batch", "tokens");
        g.Input(TokenMask, DataType.Float, "batch", "tokens");
        g.Input(Candidates, DataType.Int64, "batch", "candidates");
        g.Input(RequestTime, DataType.Int64, "batch");
        var embedded = g.Gather(g.W("item_table"), Candidates); // [B, M, d]
        var actionRow = g.Values("actions.weight").Data.AsSpan(CandidateAction * s.D, s.D).ToArray();
        var x = g.Add(embedded, g.Weights("candidate_action", actionRow, s.D));
        if (crossFeatures > 0)
        {
            g.Input(CrossFeatures, DataType.Float, "batch", "candidates", crossFeatures);
            var missing = g.Op("Or", g.Op("IsNaN", CrossFeatures), g.Op("IsInf", CrossFeatures));
            var standardised = g.Mul(g.Sub(CrossFeatures, g.W("cross_mean")), g.W("cross_scale"));
            x = g.Add(x, g.Linear(g.Where(missing, g.Float(0f), standardised), "cross"));
        }

        var mask = g.Unsqueeze(TokenMask, 1, 2); // [B, 1, 1, L]
        var count = g.Reshape(g.Add(g.ReduceSum(TokenMask), g.Float(1f)), g.LongVector(-1, 1, 1, 1)); // [B, 1, 1, 1]
        var gaps = g.TimeBuckets(g.Sub(g.Unsqueeze(RequestTime, 1), TokenTimes)); // [B, L]
        // The candidates sit at position L: their distance to history token i is L − i.
        var length = g.Scalar(g.Dim(TokenTimes, 1));
        var distances = g.Clamp(g.Sub(length, g.Op("Range", g.Long(0), length, g.Long(1))), s.MaxRelative); // [L]
        for (var i = 0; i < s.Config.Layers; i++)
        {
            var p = $"layers.{i}";
            var (u, q, k, v) = g.Project(x, p);
            var table = g.Values($"{p}.positionBias.weight").Data;
            var timeTable = g.Values($"{p}.timeBias.weight").Data;
            var self = new float[s.H];
            for (var h = 0; h < s.H; h++)
            {
                self[h] = table[h] + timeTable[h];
            }

            var positions = g.Reshape(g.Transpose(g.Gather(g.W($"{p}.positionBias.weight"), distances), 1, 0), g.LongVector(1, s.H, 1, -1)); // [1, H, 1, L]
            var bias = g.Add(positions, g.Unsqueeze(g.Transpose(g.Gather(g.W($"{p}.timeBias.weight"), gaps), 0, 2, 1), 2)); // [B, H, 1, L]
            var keys = g.Gather(HistoryKeys, g.Long(i));
            var values = g.Gather(HistoryValues, g.Long(i));
            var history = g.Mul(g.Silu(g.Add(g.MatMul(q, g.Transpose(keys, 0, 1, 3, 2)), bias)), mask); // [B, H, M, L]
            var own = g.Silu(g.Add(g.ReduceSum(g.Mul(q, k)), g.Weights($"{p}.self_bias", self, 1, s.H, 1, 1))); // [B, H, M, 1]
            var attended = g.Div(g.Add(g.MatMul(history, values), g.Mul(own, v)), count);
            x = g.Finish(x, attended, u, p);
        }

        var output = g.LayerNorm(x, "norm");
        var retrieval = g.MatMul(embedded, g.Unsqueeze(LastState, 2)); // [B, M, 1]
        var scores = g.Concat(2, g.Add(g.Linear(output, "heads", 0, 1), retrieval), g.Linear(output, "heads", 1, 1));
        g.Output(scores, Scores, DataType.Float, "batch", "candidates", 2);
        return g;
    }

    private sealed record Shape(HstuConfig Config)
    {
        public int D => Config.Dimension;

        public int H => Config.Heads;

        public int Hd => Config.Dimension / Config.Heads;

        public int Tokens => Config.Tokens;

        public int MaxRelative => Config.Tokens + 1;
    }

    private sealed class Graph(string name, Dictionary<string, (float[] Data, long[] Shape)> weights, Shape shape) : OnnxWeightsGraph(name, weights)
    {
        public string Div(string a, string b) => Op("Div", a, b);

        public string Cast(string x) => OpWith("Cast", [x], Int("to", (long)DataType.Float));

        public string Silu(string x) => Mul(x, Op("Sigmoid", x));

        public string ReduceSum(string x) => OpWith("ReduceSum", [x, LongVector(-1)], Int("keepdims", 1));

        /// <summary>int64 values clamped to [0, <paramref name="max"/>].</summary>
        public string Clamp(string x, long max) => Op("Min", Op("Max", x, Long(0)), Long(max));

        /// <summary>Item and action tokens → [B, T, d] inputs.</summary>
        public string Embed(string items, string actions) => Add(Gather(W("item_table"), items), Gather(W("actions.weight"), actions));

        /// <summary>
        /// The HSTU layers over tokens at <paramref name="queryPositions"/> [T] whose keys are at
        /// <paramref name="keyPositions"/> [S] = 0 … S − 1 with <paramref name="keyTimes"/> [B, S] (the last T of them are the tokens themselves, the first S − T the
        /// cached <paramref name="pastKeys"/>/<paramref name="pastValues"/> per layer, [B, H, S − T, D]). A query attends
        /// to real keys at or before it and to itself, divided by the count; the position bias depends on the distance
        /// only, the time bias on the time gap. Returns every layer's keys and values of the T tokens [1, B, H, T, D]
        /// and the last token's normalised output [B, d].
        /// </summary>
        public (List<string> Keys, List<string> Values, string Last) CausalLayers(string x, string queryPositions, string keyPositions, string keyTimes, string keyValid, string[] pastKeys, string[] pastValues)
        {
            var relative = Sub(Unsqueeze(queryPositions, 1), Unsqueeze(keyPositions, 0)); // [T, S]: query − key
            var causal = Cast(Op("GreaterOrEqual", relative, Long(0)));
            var eye = Cast(Op("Equal", relative, Long(0)));
            var allowed = Unsqueeze(Op("Max", Mul(Unsqueeze(causal, 0), Unsqueeze(keyValid, 1)), Unsqueeze(eye, 0)), 1); // [B, 1, T, S] of 0/1
            var count = ReduceSum(allowed); // [B, 1, T, 1]
            var clamped = Clamp(relative, shape.MaxRelative);
            var queryTimes = Gather(keyTimes, queryPositions, axis: 1); // [B, T] (key positions count from 0)
            var gaps = TimeBuckets(Sub(Unsqueeze(queryTimes, 2), Unsqueeze(keyTimes, 1))); // [B, T, S]
            var keys = new List<string>();
            var values = new List<string>();
            for (var i = 0; i < shape.Config.Layers; i++)
            {
                var p = $"layers.{i}";
                var (u, q, k, v) = Project(x, p);
                var allKeys = pastKeys.Length > 0 ? Concat(2, pastKeys[i], k) : k;
                var allValues = pastValues.Length > 0 ? Concat(2, pastValues[i], v) : v;
                var positions = Unsqueeze(Transpose(Gather(W($"{p}.positionBias.weight"), clamped), 2, 0, 1), 0); // [1, H, T, S]
                var bias = Add(positions, Transpose(Gather(W($"{p}.timeBias.weight"), gaps), 0, 3, 1, 2)); // [B, H, T, S]
                var w = Div(Mul(Silu(Add(MatMul(q, Transpose(allKeys, 0, 1, 3, 2)), bias)), allowed), count);
                x = Finish(x, MatMul(w, allValues), u, p);
                keys.Add(Unsqueeze(k, 0));
                values.Add(Unsqueeze(v, 0));
            }

            return (keys, values, Gather(LayerNorm(x, "norm"), Long(-1), axis: 1));
        }

        /// <summary>floor(ln(1 + |gap|)) clamped to the time buckets, as int64 indices.</summary>
        public string TimeBuckets(string gapSeconds)
        {
            var bucket = Op("Floor", Op("Log", Add(Op("Abs", OpWith("Cast", [gapSeconds], Int("to", (long)DataType.Float))), Float(1f))));
            return OpWith("Cast", [Op("Min", bucket, Float(shape.Config.TimeBuckets - 1))], Int("to", (long)DataType.Int64));
        }

        /// <summary>[B, T, d] → U [B, T, d] and Q, K, V [B, H, T, D], each through SiLU (the projection's order is U, V, Q, K).</summary>
        public (string U, string Q, string K, string V) Project(string x, string prefix)
        {
            var h = LayerNorm(x, $"{prefix}.inputNorm");
            string Part(int index) => Silu(Linear(h, $"{prefix}.uvqk", index * shape.D, shape.D));
            string Heads(string t) => Transpose(Reshape(t, LongVector(0, 0, shape.H, shape.Hd)), 0, 2, 1, 3);
            return (Part(0), Heads(Part(2)), Heads(Part(3)), Heads(Part(1)));
        }

        /// <summary>x + output(attentionNorm(attended) · U), attended [B, H, T, D].</summary>
        public string Finish(string x, string attended, string u, string prefix)
        {
            var merged = Reshape(Transpose(attended, 0, 2, 1, 3), LongVector(0, 0, shape.D));
            return Add(x, Linear(Mul(LayerNorm(merged, $"{prefix}.attentionNorm"), u), $"{prefix}.output"));
        }
    }
}
