namespace GenRec.Inference;

/// <summary>
/// A history as the context graph read it (an encoder's cross-attention keys/values, or a decoder-only model's prefix
/// cache), copied to managed memory so it can be kept per user and reused by later requests without reading the
/// history again. Immutable; tied to the model that computed it (<see cref="ModelId"/>).
/// </summary>
public sealed class GenerativeContext
{
    internal GenerativeContext(string modelId, int length, float[] keys, float[] values, float[] bias, long firstToken)
    {
        ModelId = modelId;
        Length = length;
        Keys = keys;
        Values = values;
        Bias = bias;
        FirstToken = firstToken;
    }

    /// <summary>The model that computed it (<see cref="OnnxGenerativeModel.ModelId"/>); another model refuses it.</summary>
    public string ModelId { get; }

    /// <summary>Context tokens (C).</summary>
    public int Length { get; }

    /// <summary>Bytes of managed memory it holds.</summary>
    public long SizeInBytes => ((long)Keys.Length + Values.Length + Bias.Length) * sizeof(float);

    /// <summary>Keys, [L, H, C, D] row-major.</summary>
    internal float[] Keys { get; }

    /// <summary>Values, [L, H, C, D] row-major.</summary>
    internal float[] Values { get; }

    /// <summary>The attention bias over the C context tokens.</summary>
    internal float[] Bias { get; }

    /// <summary>The token step 0 reads.</summary>
    internal long FirstToken { get; }
}
