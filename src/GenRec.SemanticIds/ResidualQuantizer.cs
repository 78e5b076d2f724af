namespace GenRec.SemanticIds;

/// <summary>A fully connected layer: y = W x + b, optionally followed by ReLU. W is row-major, Out × In.</summary>
/// <param name="In">Input width.</param>
/// <param name="Out">Output width.</param>
/// <param name="Weight">Out × In weights, row-major.</param>
/// <param name="Bias">Out biases.</param>
/// <param name="Relu">Whether ReLU follows.</param>
public sealed record DenseLayer(int In, int Out, float[] Weight, float[] Bias, bool Relu)
{
    internal void Validate(string where)
    {
        if (In < 1 || Out < 1 || Weight.Length != (long)In * Out || Bias.Length != Out)
        {
            throw new InvalidDataException($"{where}: a {In}→{Out} layer has {Weight.Length} weights and {Bias.Length} biases; expected {(long)In * Out} and {Out}.");
        }
    }

    internal float[] Forward(ReadOnlySpan<float> x)
    {
        var y = new float[Out];
        for (var o = 0; o < Out; o++)
        {
            var v = Bias[o] + VectorMath.Dot(Weight.AsSpan(o * In, In), x);
            y[o] = Relu && v < 0 ? 0 : v;
        }

        return y;
    }
}

/// <summary>
/// Turns a vector into one code per level: an optional MLP encoder (RQ-VAE's; none for RQ-KMeans) maps it to a
/// latent vector, then each level picks the nearest codeword of its codebook to the residual left by the levels
/// before it. Runs in managed code, so an index assigns new items without any training library.
/// </summary>
public sealed class ResidualQuantizer
{
    private readonly float[][] _norms;
    private readonly float[][] _transposed;

    /// <summary>Creates a quantizer.</summary>
    /// <param name="method">The method that trained it, e.g. "rq-kmeans" or "rq-vae".</param>
    /// <param name="inputDimension">The width of the item embeddings it reads.</param>
    /// <param name="codebookSize">Codes per level.</param>
    /// <param name="codebooks">One row-major codebook per level, <paramref name="codebookSize"/> × latent width each.</param>
    /// <param name="encoder">Encoder layers, input to latent; empty when the codebooks live in the input space.</param>
    /// <param name="decoder">Decoder layers, latent to input; empty when there is none.</param>
    /// <exception cref="InvalidDataException">The shapes do not fit together.</exception>
    public ResidualQuantizer(string method, int inputDimension, int codebookSize, IReadOnlyList<float[]> codebooks, IReadOnlyList<DenseLayer>? encoder = null, IReadOnlyList<DenseLayer>? decoder = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(method);
        ArgumentNullException.ThrowIfNull(codebooks);
        Method = method;
        InputDimension = inputDimension;
        CodebookSize = codebookSize;
        Encoder = encoder?.ToArray() ?? [];
        Decoder = decoder?.ToArray() ?? [];
        Codebooks = codebooks.ToArray();
        LatentDimension = Encoder.Count > 0 ? Encoder[^1].Out : inputDimension;
        Validate();
        _norms = Codebooks.Select(cb => Enumerable.Range(0, codebookSize).Select(c => VectorMath.Dot(cb.AsSpan(c * LatentDimension, LatentDimension), cb.AsSpan(c * LatentDimension, LatentDimension))).ToArray()).ToArray();
        _transposed = Codebooks.Select(cb => VectorMath.Transpose(cb, codebookSize, LatentDimension)).ToArray();
    }

    /// <summary>The method that trained the quantizer.</summary>
    public string Method { get; }

    /// <summary>The width of the item embeddings it reads.</summary>
    public int InputDimension { get; }

    /// <summary>The width of the space the codebooks live in.</summary>
    public int LatentDimension { get; }

    /// <summary>Codes per level.</summary>
    public int CodebookSize { get; }

    /// <summary>The number of levels.</summary>
    public int Levels => Codebooks.Count;

    /// <summary>The codebooks, one per level, row-major.</summary>
    public IReadOnlyList<float[]> Codebooks { get; }

    /// <summary>The encoder layers (empty for RQ-KMeans).</summary>
    public IReadOnlyList<DenseLayer> Encoder { get; }

    /// <summary>The decoder layers (empty for RQ-KMeans).</summary>
    public IReadOnlyList<DenseLayer> Decoder { get; }

    /// <summary>Maps a vector into the codebooks' space (the identity when there is no encoder).</summary>
    /// <param name="vector">An input vector of <see cref="InputDimension"/> floats.</param>
    /// <returns>The latent vector.</returns>
    public float[] Encode(ReadOnlySpan<float> vector)
    {
        CheckDimension(vector.Length);
        var x = vector.ToArray();
        foreach (var layer in Encoder)
        {
            x = layer.Forward(x);
        }

        return x;
    }

    /// <summary>The nearest code of every level for a vector.</summary>
    /// <param name="vector">An input vector of <see cref="InputDimension"/> floats, all finite.</param>
    /// <returns><see cref="Levels"/> codes.</returns>
    /// <exception cref="ArgumentException">Wrong width or a non-finite value.</exception>
    public int[] Quantize(ReadOnlySpan<float> vector)
    {
        foreach (var v in vector)
        {
            if (!float.IsFinite(v))
            {
                throw new ArgumentException("The vector holds a NaN or infinite value.", nameof(vector));
            }
        }

        var residual = Encode(vector);
        var codes = new int[Levels];
        var scores = new float[CodebookSize];
        for (var level = 0; level < Levels; level++)
        {
            VectorMath.Scores(residual, _transposed[level], _norms[level], scores);
            var code = 0;
            for (var c = 1; c < scores.Length; c++)
            {
                if (scores[c] < scores[code])
                {
                    code = c;
                }
            }

            codes[level] = code;
            Subtract(residual, level, code);
        }

        return codes;
    }

    /// <summary>The sum of the chosen codewords, decoded back to the input space when there is a decoder.</summary>
    /// <param name="codes">One code per level (a prefix is allowed).</param>
    /// <returns>The reconstruction, <see cref="InputDimension"/> floats (or the latent width without a decoder).</returns>
    public float[] Reconstruct(ReadOnlySpan<int> codes)
    {
        var sum = new float[LatentDimension];
        for (var level = 0; level < codes.Length && level < Levels; level++)
        {
            var row = Codebooks[level].AsSpan(codes[level] * LatentDimension, LatentDimension);
            for (var j = 0; j < sum.Length; j++)
            {
                sum[j] += row[j];
            }
        }

        foreach (var layer in Decoder)
        {
            sum = layer.Forward(sum);
        }

        return sum;
    }

    internal void CheckDimension(int width)
    {
        if (width != InputDimension)
        {
            throw new ArgumentException($"This index quantizes {InputDimension}-dimensional embeddings; got a vector of {width}.");
        }
    }

    private void Subtract(float[] residual, int level, int code)
    {
        var row = Codebooks[level].AsSpan(code * LatentDimension, LatentDimension);
        for (var j = 0; j < residual.Length; j++)
        {
            residual[j] -= row[j];
        }
    }

    private void Validate()
    {
        if (InputDimension < 1 || CodebookSize < 1 || CodebookSize > SemanticId.MaxCode || Levels < 1 || Levels >= SemanticId.MaxLength)
        {
            throw new InvalidDataException($"Quantizer shape out of range: input {InputDimension}, {Levels} levels × {CodebookSize} codes (1 to {SemanticId.MaxLength - 1} levels, 1 to {SemanticId.MaxCode} codes).");
        }

        var width = InputDimension;
        foreach (var layer in Encoder)
        {
            layer.Validate("encoder");
            if (layer.In != width)
            {
                throw new InvalidDataException($"Encoder layer expects {layer.In} inputs after a layer of {width} outputs.");
            }

            width = layer.Out;
        }

        foreach (var layer in Decoder)
        {
            layer.Validate("decoder");
            if (layer.In != width)
            {
                throw new InvalidDataException($"Decoder layer expects {layer.In} inputs after a layer of {width} outputs.");
            }

            width = layer.Out;
        }

        if (Decoder.Count > 0 && width != InputDimension)
        {
            throw new InvalidDataException($"Decoder ends at {width} outputs; the input has {InputDimension}.");
        }

        for (var level = 0; level < Levels; level++)
        {
            if (Codebooks[level].Length != (long)CodebookSize * LatentDimension)
            {
                throw new InvalidDataException($"Codebook {level} holds {Codebooks[level].Length} values; {CodebookSize} codes × {LatentDimension} dimensions need {(long)CodebookSize * LatentDimension}.");
            }

            foreach (var v in Codebooks[level])
            {
                if (!float.IsFinite(v))
                {
                    throw new InvalidDataException($"Codebook {level} holds a NaN or infinite value.");
                }
            }
        }
    }
}
