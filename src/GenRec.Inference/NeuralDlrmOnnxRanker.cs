using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace GenRec.Inference;

/// <summary>
/// The graph contract of a served neural DLRM (<c>dlrm.onnx</c>): inputs <c>dense</c> float [N, F] (the cascade's
/// features, NaN for missing), <c>items</c>, <c>last_items</c> and <c>channels</c> int64 [N] (embedding rows; 0 for
/// unknown); output <c>scores</c> float [N].
/// </summary>
public static class NeuralDlrmGraphContract
{
    /// <summary>The manifest's file name.</summary>
    public const string ManifestFile = "manifest.json";

    /// <summary>The graph's file name.</summary>
    public const string GraphFile = "dlrm.onnx";

    /// <summary>Input: the dense features, [N, F].</summary>
    public const string Dense = "dense";

    /// <summary>Input: the candidates' item rows, [N].</summary>
    public const string Items = "items";

    /// <summary>Input: the user's last history item's row, [N].</summary>
    public const string LastItems = "last_items";

    /// <summary>Input: the candidates' source-channel rows, [N].</summary>
    public const string Channels = "channels";

    /// <summary>Output: one score per candidate, [N].</summary>
    public const string Scores = "scores";

    /// <summary>The dense feature also read as the sparse source-channel feature.</summary>
    public const string ChannelFeature = "source_channel";

    /// <summary>Source-channel embedding rows (row 0: unknown).</summary>
    public const int ChannelRows = 16;

    /// <summary>The embedding row of a source-channel feature value (−1, unknown or out of range: row 0).</summary>
    /// <param name="value">The feature's value.</param>
    /// <returns>The row.</returns>
    public static long ChannelRow(float value) => float.IsFinite(value) && value >= 0 && value < ChannelRows - 1 ? (long)value + 1 : 0;
}

/// <summary>The manifest of a served neural DLRM folder (<c>manifest.json</c> beside <c>dlrm.onnx</c>).</summary>
public sealed record NeuralDlrmOnnxManifest
{
    /// <summary>The format name.</summary>
    public const string FormatName = "genrec-neural-dlrm-onnx";

    /// <summary>The format version this runtime reads.</summary>
    public const int CurrentVersion = 1;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The format name.</summary>
    [JsonRequired]
    public string Format { get; init; } = FormatName;

    /// <summary>The format version.</summary>
    [JsonRequired]
    public int FormatVersion { get; init; } = CurrentVersion;

    /// <summary>What wrote it.</summary>
    public string Producer { get; init; } = "";

    /// <summary>The items by embedding row − 1.</summary>
    public long[] Items { get; init; } = [];

    /// <summary>The dense features it reads, in order.</summary>
    public string[] Features { get; init; } = [];

    /// <summary>The ONNX opset of the graph.</summary>
    public int Opset { get; init; }

    /// <summary>The graph and its SHA-256.</summary>
    public OnnxGraphFile Graph { get; init; } = new(NeuralDlrmGraphContract.GraphFile, "");

    /// <summary>Writes the manifest into a folder.</summary>
    /// <param name="directory">The folder.</param>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, NeuralDlrmGraphContract.ManifestFile), JsonSerializer.Serialize(this, Json));
    }

    /// <summary>Reads and checks a folder's manifest (format, version, items, the graph's hash).</summary>
    /// <param name="directory">The folder.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="InvalidDataException">The folder is not a served neural DLRM, or is damaged.</exception>
    public static NeuralDlrmOnnxManifest Load(string directory)
    {
        var (m, path) = ModelManifests.Read<NeuralDlrmOnnxManifest>(
            directory,
            NeuralDlrmGraphContract.ManifestFile,
            Json,
            $"'{directory}' is not a served neural DLRM folder: it has no {NeuralDlrmGraphContract.ManifestFile}.",
            "\"genrec-neural-dlrm\"",
            $"'{directory}' is a TorchSharp neural DLRM, not a served one: export it with NeuralDlrmOnnxExporter.");
        ModelManifests.CheckFormat(path, m.Format, m.FormatVersion, FormatName, CurrentVersion);
        if (m.Items.Length == 0 || m.Items.Distinct().Count() != m.Items.Length || m.Features is not { Length: > 0 })
        {
            throw new InvalidDataException($"'{path}' describes an impossible model: {m.Items.Length} items (ids must be distinct), {m.Features?.Length ?? 0} features.");
        }

        ModelManifests.CheckGraphs(directory, hashRequired: true, m.Graph);
        return m;
    }
}

/// <summary>
/// A neural DLRM served by ONNX Runtime as a ranking stage: the cascade's features for every candidate, one graph
/// run per request. CUDA when present (a logged fallback to the CPU). Unknown items are kept, last. Thread-safe.
/// </summary>
public sealed class NeuralDlrmOnnxRanker : IRankingStage, IDisposable
{
    private readonly InferenceSession _session;
    private readonly ICandidateFeatures _features;
    private readonly Dictionary<ItemId, long> _rows;
    private readonly int _channel;

    private NeuralDlrmOnnxRanker(NeuralDlrmOnnxManifest manifest, InferenceSession session, ICandidateFeatures features, string provider, string name)
    {
        Manifest = manifest;
        _session = session;
        _features = features;
        ExecutionProvider = provider;
        Name = name;
        _rows = manifest.Items.Select((id, i) => (id, row: (long)i + 1)).ToDictionary(p => new ItemId(p.id), p => p.row);
        _channel = Array.IndexOf(manifest.Features, NeuralDlrmGraphContract.ChannelFeature);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The folder's manifest.</summary>
    public NeuralDlrmOnnxManifest Manifest { get; }

    /// <summary>"CUDA" or "CPU".</summary>
    public string ExecutionProvider { get; }

    /// <summary>Loads a served folder.</summary>
    /// <param name="directory">The folder (manifest.json, dlrm.onnx).</param>
    /// <param name="features">The cascade's features; must be the ones the model was trained on, by name.</param>
    /// <param name="options">ONNX Runtime options; defaults when <see langword="null"/>.</param>
    /// <param name="logger">Where the provider choice is logged.</param>
    /// <param name="name">The stage's name. Default: "neural-dlrm-onnx".</param>
    /// <returns>The ranker.</returns>
    /// <exception cref="InvalidDataException">The folder is missing, damaged, or its graph breaks the contract.</exception>
    /// <exception cref="ArgumentException">The features are not the model's.</exception>
    public static NeuralDlrmOnnxRanker Load(string directory, ICandidateFeatures features, OnnxRuntimeOptions? options = null, ILogger? logger = null, string name = "neural-dlrm-onnx")
    {
        ArgumentNullException.ThrowIfNull(features);
        var manifest = NeuralDlrmOnnxManifest.Load(directory);
        HstuGraphContract.EnsureFeatures(manifest.Features, features);
        var session = OnnxExecutionProviders.OpenGraph(options ?? new OnnxRuntimeOptions(), directory, manifest.Graph.File, "neural DLRM", logger ?? NullLogger.Instance, out var provider);
        string[] inputs = [NeuralDlrmGraphContract.Dense, NeuralDlrmGraphContract.Items, NeuralDlrmGraphContract.LastItems, NeuralDlrmGraphContract.Channels];
        if (!inputs.All(session.InputMetadata.ContainsKey) || !session.OutputMetadata.ContainsKey(NeuralDlrmGraphContract.Scores))
        {
            session.Dispose();
            throw new InvalidDataException($"The graph in '{directory}' does not follow the neural DLRM contract: inputs {string.Join(", ", inputs)} and output {NeuralDlrmGraphContract.Scores} are required.");
        }

        return new NeuralDlrmOnnxRanker(manifest, session, features, provider, name);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(RankingStage.Order(candidates, Score(request, candidates)));
    }

    /// <summary>Scores candidates; unknown items get −∞.</summary>
    /// <param name="request">The request.</param>
    /// <param name="candidates">The candidates.</param>
    /// <returns>One score per candidate.</returns>
    public double[] Score(RecommendationRequest request, IReadOnlyList<Candidate> candidates)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        var n = candidates.Count;
        var scores = new double[n];
        if (n == 0)
        {
            return scores;
        }

        var f = Manifest.Features.Length;
        var dense = new float[n * f];
        _features.Compute(request, candidates, dense);
        var items = candidates.Select(c => _rows.GetValueOrDefault(c.Item)).ToArray();
        var last = new long[n];
        Array.Fill(last, request.History.Count == 0 ? 0 : _rows.GetValueOrDefault(request.History[^1].Item));
        var channels = Enumerable.Range(0, n).Select(i => _channel < 0 ? 0 : NeuralDlrmGraphContract.ChannelRow(dense[(i * f) + _channel])).ToArray();
        using var denseValue = OrtValue.CreateTensorValueFromMemory(dense, [n, f]);
        using var itemsValue = OrtValue.CreateTensorValueFromMemory(items, [n]);
        using var lastValue = OrtValue.CreateTensorValueFromMemory(last, [n]);
        using var channelsValue = OrtValue.CreateTensorValueFromMemory(channels, [n]);
        using var runOptions = new RunOptions();
        using var outputs = _session.Run(
            runOptions,
            [NeuralDlrmGraphContract.Dense, NeuralDlrmGraphContract.Items, NeuralDlrmGraphContract.LastItems, NeuralDlrmGraphContract.Channels],
            [denseValue, itemsValue, lastValue, channelsValue],
            [NeuralDlrmGraphContract.Scores]);
        var output = outputs[0].GetTensorDataAsSpan<float>();
        for (var i = 0; i < n; i++)
        {
            scores[i] = items[i] == 0 ? double.NegativeInfinity : output[i];
        }

        return scores;
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();
}
