namespace GenRec.Training.Onnx;

/// <summary>
/// An ONNX graph builder that writes the SDK's pre-norm transformer blocks (<see cref="DecoderBlock"/>: LayerNorm,
/// fused QKV projection, attention with an additive bias, exact GELU MLP) from a TorchSharp module's weights, for every
/// exporter whose network is made of them.
/// </summary>
/// <param name="name">The graph's name.</param>
/// <param name="weights">The module's weights by state-dict name.</param>
/// <param name="dimension">The model width.</param>
/// <param name="heads">Attention heads; divides <paramref name="dimension"/>.</param>
internal class TransformerGraph(string name, Dictionary<string, (float[] Data, long[] Shape)> weights, int dimension, int heads) : OnnxWeightsGraph(name, weights)
{
    /// <summary>The additive bias of a position that may not be attended to.</summary>
    public const float Masked = -1e9f;

    /// <summary>The model width.</summary>
    public int D => dimension;

    /// <summary>Attention heads.</summary>
    public int H => heads;

    /// <summary>Width of one head.</summary>
    public int Hd => dimension / heads;

    /// <summary>The attention scale, 1 / √head width.</summary>
    public float Scale => 1f / MathF.Sqrt(Hd);

    /// <summary>Exact GELU: x · ½ · (1 + erf(x / √2)).</summary>
    public string Gelu(string x) => Mul(Mul(x, Float(0.5f)), Add(Float(1f), Op("Erf", Mul(x, Float(1f / MathF.Sqrt(2f))))));

    /// <summary>The block's MLP on its normalised input: fc2(GELU(fc1(LayerNorm(x)))).</summary>
    public string Mlp(string x, string prefix, string norm) => Linear(Gelu(Linear(LayerNorm(x, $"{prefix}.{norm}"), $"{prefix}.fc1")), $"{prefix}.fc2");

    /// <summary>[.., T, H·D] → [.., H, T, D] for a [B, T, d] input.</summary>
    public string Heads(string x) => Transpose(Reshape(x, LongVector(0, 0, H, Hd)), 0, 2, 1, 3);

    /// <summary>[B, H, T, D] → [B, T, d].</summary>
    public string Merge(string x) => Reshape(Transpose(x, 0, 2, 1, 3), LongVector(0, 0, D));

    /// <summary>Full self-attention of a [B, T, d] block input with an additive bias [B, 1, T, T]; returns the new residual stream.</summary>
    public string Block(string x, string prefix, string bias, string qkv, string projection, out string keys, out string values, bool keysOnly = false)
    {
        var h = LayerNorm(x, $"{prefix}.ln1");
        keys = Heads(Linear(h, $"{prefix}.{qkv}", D, D));
        values = Heads(Linear(h, $"{prefix}.{qkv}", 2 * D, D));
        if (keysOnly)
        {
            return x;
        }

        var q = Heads(Linear(h, $"{prefix}.{qkv}", 0, D));
        var scores = Add(MatMul(Mul(q, Float(Scale)), Transpose(keys, 0, 1, 3, 2)), bias);
        x = Add(x, Linear(Merge(MatMul(Softmax(scores), values)), $"{prefix}.{projection}"));
        return Add(x, Mlp(x, prefix, "ln2"));
    }
}
