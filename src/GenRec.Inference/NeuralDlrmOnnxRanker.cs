using System.Text.Json.Serialization;
using System.Text.Json;
using GenRec.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace GenRec.Inference;

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

    private NeuralDlrmOnnxRanker(NeuralDlrmOnnxManifest manifest, InferenceSession session, ICandidateFeatures features, ExecutionProviderPreference provider, string name)
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

    /// <summary>Where the graphs run: <see cref="ExecutionProviderPreference.Cuda"/> or <see cref="ExecutionProviderPreference.Cpu"/>.</summary>
    public ExecutionProviderPreference ExecutionProvider { get; }

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
