using System.Diagnostics;

namespace GenRec.SemanticIds;

/// <summary>Progress of a tokenizer: which level, which iteration.</summary>
/// <param name="Level">The quantization level being fitted (0-based).</param>
/// <param name="Levels">Levels in all.</param>
/// <param name="Iteration">The iteration just finished within the level.</param>
/// <param name="MaxIterations">The most iterations a level runs.</param>
/// <param name="Elapsed">Time since the fit started.</param>
public readonly record struct TokenizerProgress(int Level, int Levels, int Iteration, int MaxIterations, TimeSpan Elapsed);

/// <summary>
/// Trains an RQ-KMeans tokenizer (residual k-means, OneRec's choice): level 1 clusters the embeddings into
/// <see cref="Options.CodebookSize"/> codes, each further level clusters what the levels before left unexplained.
/// With <see cref="Options.Balanced"/> every code of a level takes at most ⌈items / codes⌉ items, so codes are used
/// evenly (no codebook collapse). Seeded and repeatable.
/// </summary>
public sealed class RqKMeansTrainer
{
    private readonly Options _options;

    /// <summary>Creates a trainer with the common parameters.</summary>
    /// <param name="levels">Quantization levels. Default: 3.</param>
    /// <param name="codebookSize">Codes per level. Default: 256.</param>
    /// <param name="seed">Random seed. Default: 42.</param>
    public RqKMeansTrainer(int levels = Defaults.Levels, int codebookSize = Defaults.CodebookSize, int seed = 42)
        : this(new Options { Levels = levels, CodebookSize = codebookSize, Seed = seed })
    {
    }

    /// <summary>Creates a trainer.</summary>
    /// <param name="options">The options.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the message names it.</exception>
    public RqKMeansTrainer(Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>Fits the codebooks and builds the index of the embedded items.</summary>
    /// <param name="embeddings">The item embeddings.</param>
    /// <param name="cancellationToken">Cancels the fit.</param>
    /// <returns>Version 1 of the semantic-ID index.</returns>
    public SemanticIdIndex Fit(ItemEmbeddings embeddings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        var (quantizer, codes) = FitQuantizer(embeddings.Values.ToArray(), embeddings.Count, embeddings.Dimension, "rq-kmeans", cancellationToken);
        return SemanticIdIndex.Build(quantizer, embeddings, codes, _options.TimeProvider.GetUtcNow());
    }

    /// <summary>Residual k-means over row-major vectors; used directly and to initialise RQ-VAE codebooks.</summary>
    internal (ResidualQuantizer Quantizer, int[][] Codes) FitQuantizer(float[] vectors, int n, int d, string method, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var residual = vectors.ToArray();
        var codebooks = new float[_options.Levels][];
        var codes = new int[_options.Levels][];
        for (var level = 0; level < _options.Levels; level++)
        {
            var l = level;
            var kmeans = new KMeans
            {
                Clusters = _options.CodebookSize,
                MaxIterations = _options.MaxIterations,
                Balanced = _options.Balanced,
                Seed = _options.Seed + level,
                Threads = _options.Threads,
                OnIteration = (i, max) => _options.Progress?.Report(new TokenizerProgress(l, _options.Levels, i, max, clock.Elapsed)),
            };
            var (centroids, assignment) = kmeans.Fit(residual, n, d, cancellationToken);
            codebooks[level] = centroids;
            codes[level] = assignment;
            for (var i = 0; i < n; i++)
            {
                var row = residual.AsSpan(i * d, d);
                var c = centroids.AsSpan(assignment[i] * d, d);
                for (var j = 0; j < d; j++)
                {
                    row[j] -= c[j];
                }
            }
        }

        return (new ResidualQuantizer(method, d, _options.CodebookSize, codebooks), codes);
    }

    /// <summary>Options of an <see cref="RqKMeansTrainer"/>.</summary>
    public sealed class Options
    {
        /// <summary>Quantization levels (the semantic ID has one more code). Default: 3. Allowed: 1 to 7.</summary>
        public int Levels { get; set; } = Defaults.Levels;

        /// <summary>Codes per level. Default: 256. Allowed: 2 to 65,536.</summary>
        public int CodebookSize { get; set; } = Defaults.CodebookSize;

        /// <summary>Most Lloyd iterations per level. Default: 20. Allowed: 1 or more.</summary>
        public int MaxIterations { get; set; } = Defaults.MaxIterations;

        /// <summary>Whether codes take at most ⌈items / codes⌉ items each. Default: <see langword="true"/>.</summary>
        public bool Balanced { get; set; } = true;

        /// <summary>Random seed. Default: 42.</summary>
        public int Seed { get; set; } = 42;

        /// <summary>Threads. Default: the processor count. Allowed: 1 or more.</summary>
        public int Threads { get; set; } = Environment.ProcessorCount;

        /// <summary>Receives progress after each iteration; may be <see langword="null"/>. Default: none.</summary>
        public IProgress<TokenizerProgress>? Progress { get; set; }

        /// <summary>The clock that stamps the index. Default: <see cref="TimeProvider.System"/>.</summary>
        public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

        internal void Validate()
        {
            if (Levels is < 1 or >= SemanticId.MaxLength)
            {
                throw new ArgumentOutOfRangeException(nameof(Levels), Levels, $"Levels is {Levels}; it must lie in [1, {SemanticId.MaxLength - 1}].");
            }

            if (CodebookSize is < 2 or > SemanticId.MaxCode)
            {
                throw new ArgumentOutOfRangeException(nameof(CodebookSize), CodebookSize, $"CodebookSize is {CodebookSize}; it must lie in [2, {SemanticId.MaxCode}].");
            }

            if (MaxIterations < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(MaxIterations), MaxIterations, $"MaxIterations is {MaxIterations}; it must be 1 or more.");
            }

            if (Threads < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(Threads), Threads, $"Threads is {Threads}; it must be 1 or more.");
            }
        }
    }

    internal static class Defaults
    {
        public const int Levels = 3;
        public const int CodebookSize = 256;
        public const int MaxIterations = 20;
    }
}
