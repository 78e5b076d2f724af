using TorchSharp;

namespace GenRec.Training.Onnx;

/// <summary>
/// An ONNX graph builder with a trained TorchSharp module's weights at hand: initializers are added the first time
/// an operator uses them, and the common layers (linear, layer norm) are written from the module's parameter names.
/// </summary>
internal class OnnxWeightsGraph(string name, Dictionary<string, (float[] Data, long[] Shape)> weights) : OnnxGraphBuilder(name)
{
    private readonly HashSet<string> _added = [];

    /// <summary>The module's parameters and buffers as float arrays, by their state-dict names.</summary>
    public static Dictionary<string, (float[] Data, long[] Shape)> ReadWeights(torch.nn.Module module)
    {
        var result = new Dictionary<string, (float[], long[])>();
        foreach (var (key, tensor) in module.state_dict())
        {
            using var cpu = tensor.detach().cpu().to_type(torch.ScalarType.Float32);
            result[key] = (cpu.data<float>().ToArray(), cpu.shape);
        }

        return result;
    }

    /// <summary>The raw values of a weight.</summary>
    public (float[] Data, long[] Shape) Values(string key) =>
        weights.TryGetValue(key, out var w) ? w : throw new InvalidOperationException($"The model has no weight '{key}'.");

    /// <summary>The weight as an initializer of the graph.</summary>
    public string W(string key)
    {
        var (data, shape) = Values(key);
        if (_added.Add(key))
        {
            Weights(key, data, shape);
        }

        return key;
    }

    /// <summary>x · Wᵀ + b for a TorchSharp Linear (weight out×in; bias optional), optionally only output rows [from, from + count).</summary>
    public string Linear(string x, string prefix, int from = 0, int count = -1)
    {
        var (w, shape) = Values(prefix + ".weight");
        var hasBias = weights.TryGetValue(prefix + ".bias", out var bias);
        int outputs = (int)shape[0], inputs = (int)shape[1];
        count = count < 0 ? outputs : count;
        var key = $"{prefix}.{from}.{count}";
        if (_added.Add(key))
        {
            var transposed = new float[inputs * count];
            for (var o = 0; o < count; o++)
            {
                for (var i = 0; i < inputs; i++)
                {
                    transposed[(i * count) + o] = w[((from + o) * inputs) + i];
                }
            }

            Weights(key + ".wt", transposed, inputs, count);
            if (hasBias)
            {
                Weights(key + ".b", bias.Data.AsSpan(from, count).ToArray(), count);
            }
        }

        var product = MatMul(x, key + ".wt");
        return hasBias ? Add(product, key + ".b") : product;
    }

    /// <summary>A TorchSharp LayerNorm (ε 1e-5) over the last axis.</summary>
    public string LayerNorm(string x, string prefix) =>
        OpWith("LayerNormalization", [x, W(prefix + ".weight"), W(prefix + ".bias")], Int("axis", -1), FloatAttribute("epsilon", 1e-5f));
}
