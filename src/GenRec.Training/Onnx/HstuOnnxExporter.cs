using GenRec.Inference;
using Google.Protobuf;
using TorchSharp;
using static GenRec.Inference.HstuGraphContract;
using DataType = global::Onnx.TensorProto.Types.DataType;

namespace GenRec.Training;

/// <summary>
/// Exports a trained <see cref="HstuModel"/> as the two ONNX graphs of <see cref="HstuGraphContract"/> with its
/// manifest, so that <see cref="HstuOnnxRanker"/> serves it: the history graph encodes a history once (every layer's
/// keys and values), the candidates graph scores any micro-batch of candidates against them (M-FALCON). Written
/// operator by operator from the TorchSharp weights; constant parts (the item table with its side features, the
/// relative-position biases, the causal mask) are folded into initializers.
/// </summary>
public static class HstuOnnxExporter
{
    /// <summary>Writes <c>manifest.json</c>, <c>history.onnx</c> and <c>candidates.onnx</c> into <paramref name="directory"/>.</summary>
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
        var historyPath = Path.Combine(directory, HistoryFile);
        var candidatesPath = Path.Combine(directory, CandidatesFile);
        Write(history.Build("GenRec.Training"), historyPath);
        Write(candidates.Build("GenRec.Training"), candidatesPath);
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
        var l = s.Tokens;
        g.Input(TokenItems, DataType.Int64, "batch", l);
        g.Input(TokenActions, DataType.Int64, "batch", l);
        g.Input(TokenTimes, DataType.Int64, "batch", l);
        var x = g.Add(g.Gather(g.W("item_table"), TokenItems), g.Gather(g.W("actions.weight"), TokenActions)); // [B, L, d]
        var valid = g.Op("Not", g.Op("Equal", g.Add(TokenItems, TokenActions), g.Long(0))); // [B, L]

        // Key ≤ query among real tokens, or the token itself; divided by the count of keys attended.
        var causal = new float[l * l];
        for (var q = 0; q < l; q++)
        {
            for (var k = 0; k <= q; k++)
            {
                causal[(q * l) + k] = 1;
            }
        }

        var eye = new float[l * l];
        for (var i = 0; i < l; i++)
        {
            eye[(i * l) + i] = 1;
        }

        var allowedKeys = g.Mul(g.Weights("causal", causal, l, l), g.Unsqueeze(g.Cast(valid), 1)); // [B, L, L]
        var allowed = g.Unsqueeze(g.Op("Max", allowedKeys, g.Weights("eye", eye, l, l)), 1); // [B, 1, L, L] of 0/1
        var count = g.ReduceSum(allowed); // [B, 1, L, 1]
        var gaps = g.TimeBuckets(g.Sub(g.Unsqueeze(TokenTimes, 2), g.Unsqueeze(TokenTimes, 1))); // [B, L, L]
        var keys = new List<string>();
        var values = new List<string>();
        for (var i = 0; i < s.Config.Layers; i++)
        {
            var p = $"layers.{i}";
            var (u, q, k, v) = g.Project(x, p);
            var positions = new float[s.H * l * l];
            var table = g.Values($"{p}.positionBias.weight").Data;
            for (var h = 0; h < s.H; h++)
            {
                for (var qi = 0; qi < l; qi++)
                {
                    for (var ki = 0; ki < l; ki++)
                    {
                        positions[(((h * l) + qi) * l) + ki] = table[(Math.Clamp(qi - ki, 0, s.MaxRelative) * s.H) + h];
                    }
                }
            }

            var bias = g.Add(g.Weights($"{p}.position_bias_history", positions, 1, s.H, l, l), g.Transpose(g.Gather(g.W($"{p}.timeBias.weight"), gaps), 0, 3, 1, 2));
            var w = g.Div(g.Mul(g.Silu(g.Add(g.MatMul(q, g.Transpose(k, 0, 1, 3, 2)), bias)), allowed), count);
            x = g.Finish(x, g.MatMul(w, v), u, p);
            keys.Add(g.Unsqueeze(k, 0));
            values.Add(g.Unsqueeze(v, 0));
        }

        var output = g.LayerNorm(x, "norm");
        g.Output(g.Concat(0, [.. keys]), HistoryKeys, DataType.Float, s.Config.Layers, "batch", s.H, l, s.Hd);
        g.Output(g.Concat(0, [.. values]), HistoryValues, DataType.Float, s.Config.Layers, "batch", s.H, l, s.Hd);
        g.Output(g.Gather(output, g.Long(l - 1), axis: 1), LastState, DataType.Float, "batch", s.D);
        return g;
    }

    private static Graph CandidatesGraph(Shape s, Dictionary<string, (float[] Data, long[] Shape)> weights, int crossFeatures)
    {
        var g = new Graph("hstu_candidates", weights, s);
        var l = s.Tokens;
        g.Input(HistoryKeys, DataType.Float, s.Config.Layers, "batch", s.H, l, s.Hd);
        g.Input(HistoryValues, DataType.Float, s.Config.Layers, "batch", s.H, l, s.Hd);
        g.Input(LastState, DataType.Float, "batch", s.D);
        g.Input(TokenTimes, DataType.Int64, "batch", l);
        g.Input(TokenMask, DataType.Float, "batch", l);
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
        for (var i = 0; i < s.Config.Layers; i++)
        {
            var p = $"layers.{i}";
            var (u, q, k, v) = g.Project(x, p);
            var table = g.Values($"{p}.positionBias.weight").Data;
            var timeTable = g.Values($"{p}.timeBias.weight").Data;
            var positions = new float[s.H * l];
            var self = new float[s.H];
            for (var h = 0; h < s.H; h++)
            {
                for (var ki = 0; ki < l; ki++)
                {
                    positions[(h * l) + ki] = table[(Math.Clamp(l - ki, 0, s.MaxRelative) * s.H) + h];
                }

                self[h] = table[h] + timeTable[h];
            }

            var bias = g.Add(
                g.Weights($"{p}.position_bias_candidates", positions, 1, s.H, 1, l),
                g.Unsqueeze(g.Transpose(g.Gather(g.W($"{p}.timeBias.weight"), gaps), 0, 2, 1), 2)); // [B, H, 1, L]
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
