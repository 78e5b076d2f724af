using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using static GenRec.Inference.HstuGraphContract;

namespace GenRec.Inference;

/// <summary>
/// An HSTU ranker served by ONNX Runtime (CUDA when present, else the CPU): per request, the history graph runs once
/// and its keys and values — kept where the provider computes them, on the GPU under CUDA — are reused by every
/// micro-batch of candidates (M-FALCON). Score = logit(interacts) + w · logit(rates ≥ 4); unknown items keep their
/// order after the known ones. Thread-safe.
/// </summary>
public sealed class HstuOnnxRanker : IRankingStage, IDisposable
{
    private readonly InferenceSession _history;
    private readonly InferenceSession _candidates;
    private readonly Dictionary<ItemId, long> _rows;
    private readonly ICandidateFeatures? _features;
    private readonly OrtMemoryInfo _stateMemory;

    private HstuOnnxRanker(HstuOnnxManifest manifest, InferenceSession history, InferenceSession candidates, ICandidateFeatures? features, string provider, int cudaDevice, int candidateBatch, string name)
    {
        Manifest = manifest;
        _history = history;
        _candidates = candidates;
        _features = features;
        ExecutionProvider = provider;
        CandidateBatch = candidateBatch;
        Name = name;
        _rows = manifest.Items.Select((id, i) => (id, row: (long)i + 1)).ToDictionary(p => new ItemId(p.id), p => p.row);
        _stateMemory = OnnxExecutionProviders.StateMemory(provider, cudaDevice);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The manifest the ranker was loaded from.</summary>
    public HstuOnnxManifest Manifest { get; }

    /// <summary>"CUDA" or "CPU".</summary>
    public string ExecutionProvider { get; }

    /// <summary>Candidates scored per run of the candidates graph; longer lists run in several micro-batches against the same history state.</summary>
    public int CandidateBatch { get; }

    /// <summary>Loads an exported HSTU folder (<c>genrec export --kind hstu</c>) and checks it.</summary>
    /// <param name="directory">The folder.</param>
    /// <param name="features">The cascade's cross features; required, with the same names, when the manifest lists some.</param>
    /// <param name="options">ONNX Runtime options; defaults when <see langword="null"/>.</param>
    /// <param name="logger">Where the execution provider is logged.</param>
    /// <param name="candidateBatch">Candidates per run of the candidates graph. Default: 256.</param>
    /// <param name="name">The stage's name. Default: "hstu-onnx".</param>
    /// <returns>The ranker.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">The manifest or a graph is missing, damaged or does not follow <see cref="HstuGraphContract"/>.</exception>
    /// <exception cref="ArgumentException">The features are missing or are not the ones the model was trained on.</exception>
    public static HstuOnnxRanker Load(string directory, ICandidateFeatures? features = null, OnnxRuntimeOptions? options = null, ILogger? logger = null, int candidateBatch = 256, string name = "hstu-onnx")
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(candidateBatch);
        options ??= new OnnxRuntimeOptions();
        logger ??= NullLogger.Instance;
        var manifest = HstuOnnxManifest.Load(directory);
        EnsureFeatures(manifest.CrossFeatures, features);
        var sessions = OnnxExecutionProviders.OpenGraphPair(options, directory, manifest.History.File, manifest.Candidates.File, "HSTU ranker", logger, out var provider, out _);
        try
        {
            Check(sessions.First, [TokenItems, TokenActions, TokenTimes], [HistoryKeys, HistoryValues, LastState], directory, HistoryFile);
            string[] inputs = [HistoryKeys, HistoryValues, LastState, TokenTimes, TokenMask, Candidates, RequestTime, .. manifest.CrossFeatures.Length > 0 ? [CrossFeatures] : Array.Empty<string>()];
            Check(sessions.Second, inputs, [Scores], directory, CandidatesFile);
            return new HstuOnnxRanker(manifest, sessions.First, sessions.Second, features, provider, options.CudaDeviceId, candidateBatch, name);
        }
        catch
        {
            sessions.First.Dispose();
            sessions.Second.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(RankingStage.Order(candidates, Score(request, candidates)));
    }

    /// <summary>The ranking score of every candidate, aligned with <paramref name="candidates"/>; −∞ for items the model does not know.</summary>
    /// <param name="request">The request.</param>
    /// <param name="candidates">The candidates.</param>
    /// <returns>One score per candidate.</returns>
    public double[] Score(RecommendationRequest request, IReadOnlyList<Candidate> candidates) => Score(request, candidates, CandidateBatch);

    /// <summary>As <see cref="Score(RecommendationRequest, IReadOnlyList{Candidate})"/> with another micro-batch size.</summary>
    /// <param name="request">The request.</param>
    /// <param name="candidates">The candidates.</param>
    /// <param name="candidateBatch">Candidates per run of the candidates graph.</param>
    /// <returns>One score per candidate.</returns>
    public double[] Score(RecommendationRequest request, IReadOnlyList<Candidate> candidates, int candidateBatch)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        return ScoreMany([(request, candidates)], candidateBatch)[0];
    }

    /// <summary>
    /// Scores several requests together: one run of the history graph for all their histories, then the candidates
    /// graph over [requests × candidates] micro-batches (shorter candidate lists are padded). The same scores as one
    /// request at a time; fewer, larger runs — what a GPU serving many users at once wants.
    /// </summary>
    /// <param name="batch">The requests and their candidates.</param>
    /// <returns>Per request, one score per candidate (−∞ for items the model does not know).</returns>
    public IReadOnlyList<double[]> Score(IReadOnlyList<(RecommendationRequest Request, IReadOnlyList<Candidate> Candidates)> batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return ScoreMany(batch, CandidateBatch);
    }

    private double[][] ScoreMany(IReadOnlyList<(RecommendationRequest Request, IReadOnlyList<Candidate> Candidates)> batch, int candidateBatch)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(candidateBatch);
        var b = batch.Count;
        var scores = new double[b][];
        var known = new int[b][];
        for (var i = 0; i < b; i++)
        {
            ArgumentNullException.ThrowIfNull(batch[i].Request);
            ArgumentNullException.ThrowIfNull(batch[i].Candidates);
            (scores[i], known[i]) = Known(batch[i].Candidates);
        }

        if (known.All(k => k.Length == 0))
        {
            return scores;
        }

        var l = Manifest.Tokens;
        var items = new long[b * l];
        var actions = new long[b * l];
        var times = new long[b * l];
        var mask = new float[b * l];
        for (var i = 0; i < b; i++)
        {
            Tokens(batch[i].Request.History, items.AsSpan(i * l, l), actions.AsSpan(i * l, l), times.AsSpan(i * l, l), mask.AsSpan(i * l, l));
        }

        using var runOptions = new RunOptions();
        using var timesValue = OrtValue.CreateTensorValueFromMemory(times, [b, l]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [b, l]);
        using var state = RunHistory(runOptions, items, actions, timesValue, _stateMemory);
        ScoreBatches(runOptions, state[0], state[1], state[2], timesValue, maskValue, batch, known, candidateBatch, scores);
        return scores;
    }

    /// <summary>
    /// Encodes a history once into host memory: every layer's keys and values, to be reused by
    /// <see cref="Score(HstuHistoryState, RecommendationRequest, IReadOnlyList{Candidate})"/> until the history changes
    /// (a user session keeps it between requests).
    /// </summary>
    /// <param name="history">The history.</param>
    /// <returns>The encoded state.</returns>
    public HstuHistoryState Encode(IReadOnlyList<UserEvent> history)
    {
        ArgumentNullException.ThrowIfNull(history);
        var l = Manifest.Tokens;
        var (items, actions, times, mask) = (new long[l], new long[l], new long[l], new float[l]);
        Tokens(history, items, actions, times, mask);
        using var runOptions = new RunOptions();
        using var timesValue = OrtValue.CreateTensorValueFromMemory(times, [1, times.Length]);
        using var state = RunHistory(runOptions, items, actions, timesValue, OrtMemoryInfo.DefaultInstance);
        return new HstuHistoryState(
            Manifest.History.Sha256,
            state[0].GetTensorDataAsSpan<float>().ToArray(),
            state[1].GetTensorDataAsSpan<float>().ToArray(),
            state[2].GetTensorDataAsSpan<float>().ToArray(),
            times,
            mask);
    }

    /// <summary>Scores candidates against a history encoded by <see cref="Encode"/> (no history pass).</summary>
    /// <param name="state">The encoded history (of this model).</param>
    /// <param name="request">The request (time; cross features read its history).</param>
    /// <param name="candidates">The candidates.</param>
    /// <returns>One score per candidate; −∞ for items the model does not know.</returns>
    /// <exception cref="ArgumentException">The state was encoded by another model.</exception>
    public double[] Score(HstuHistoryState state, RecommendationRequest request, IReadOnlyList<Candidate> candidates)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        if (state.ModelId != Manifest.History.Sha256)
        {
            throw new ArgumentException("The history state was encoded by another HSTU model; encode it again with this one.", nameof(state));
        }

        var (scores, known) = Known(candidates);
        if (known.Length == 0)
        {
            return scores;
        }

        var l = Manifest.Tokens;
        long[] kv = [Manifest.Layers, 1, Manifest.Heads, l, Manifest.HeadDimension];
        using var runOptions = new RunOptions();
        using var keys = OrtValue.CreateTensorValueFromMemory(state.Keys, kv);
        using var values = OrtValue.CreateTensorValueFromMemory(state.Values, kv);
        using var last = OrtValue.CreateTensorValueFromMemory(state.LastState, [1, state.LastState.Length]);
        using var timesValue = OrtValue.CreateTensorValueFromMemory(state.Times, [1, l]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(state.Mask, [1, l]);
        ScoreBatches(runOptions, keys, values, last, timesValue, maskValue, [(request, candidates)], [known], CandidateBatch, [scores]);
        return scores;
    }

    /// <summary>Scores at −∞ and the indices of the candidates the model knows.</summary>
    private (double[] Scores, int[] Known) Known(IReadOnlyList<Candidate> candidates)
    {
        var scores = new double[candidates.Count];
        Array.Fill(scores, double.NegativeInfinity);
        return (scores, [.. Enumerable.Range(0, candidates.Count).Where(i => _rows.ContainsKey(candidates[i].Item))]);
    }

    private void Tokens(IReadOnlyList<UserEvent> history, Span<long> items, Span<long> actions, Span<long> times, Span<float> mask)
    {
        EncodeHistory(history, Manifest.MaxHistory, i => _rows.GetValueOrDefault(i), items, actions, times);
        for (var i = 0; i < mask.Length; i++)
        {
            mask[i] = items[i] + actions[i] != 0 ? 1 : 0;
        }
    }

    /// <summary>Runs the history graph; its outputs (keys, values, last state) are bound to <paramref name="memory"/>.</summary>
    private IDisposableReadOnlyCollection<OrtValue> RunHistory(RunOptions runOptions, long[] items, long[] actions, OrtValue times, OrtMemoryInfo memory)
    {
        long l = Manifest.Tokens;
        using var itemsValue = OrtValue.CreateTensorValueFromMemory(items, [items.Length / l, l]);
        using var actionsValue = OrtValue.CreateTensorValueFromMemory(actions, [actions.Length / l, l]);
        using var binding = _history.CreateIoBinding();
        binding.BindInput(TokenItems, itemsValue);
        binding.BindInput(TokenActions, actionsValue);
        binding.BindInput(TokenTimes, times);
        binding.BindOutputToDevice(HistoryKeys, memory);
        binding.BindOutputToDevice(HistoryValues, memory);
        binding.BindOutputToDevice(LastState, memory);
        _history.RunWithBinding(runOptions, binding);
        return binding.GetOutputValues();
    }

    /// <summary>
    /// The candidates graph over micro-batches of each request's known candidates ([requests × up to
    /// <paramref name="candidateBatch"/>], shorter lists padded with row 0, whose scores are dropped), all against the
    /// same history state.
    /// </summary>
    private void ScoreBatches(RunOptions runOptions, OrtValue keys, OrtValue values, OrtValue last, OrtValue times, OrtValue mask, IReadOnlyList<(RecommendationRequest Request, IReadOnlyList<Candidate> Candidates)> batch, int[][] known, int candidateBatch, double[][] scores)
    {
        var b = batch.Count;
        using var requestValue = OrtValue.CreateTensorValueFromMemory(batch.Select(r => r.Request.RequestTime.ToUnixTimeSeconds()).ToArray(), [b]);
        var f = Manifest.CrossFeatures.Length;
        var longest = known.Max(k => k.Length);
        for (var start = 0; start < longest; start += candidateBatch)
        {
            var m = Math.Min(candidateBatch, longest - start);
            var rows = new long[b * m];
            var featureValues = f > 0 ? new float[b * m * f] : null;
            void Fill(int i)
            {
                var count = Math.Clamp(known[i].Length - start, 0, m);
                var (_, candidates) = batch[i];
                for (var j = 0; j < count; j++)
                {
                    rows[(i * m) + j] = _rows[candidates[known[i][start + j]].Item];
                }

                if (featureValues is not null && count > 0)
                {
                    Candidate[] slice = [.. known[i].AsSpan(start, count).ToArray().Select(c => candidates[c])];
                    _features!.Compute(batch[i].Request, slice, featureValues.AsSpan(i * m * f, count * f));
                }
            }

            // The cross features are managed code: the requests of a batch compute theirs on every core at once.
            if (b > 1 && featureValues is not null)
            {
                Parallel.For(0, b, Fill);
            }
            else
            {
                for (var i = 0; i < b; i++)
                {
                    Fill(i);
                }
            }

            using var candidatesValue = OrtValue.CreateTensorValueFromMemory(rows, [b, m]);
            using var featuresValue = featureValues is null ? null : OrtValue.CreateTensorValueFromMemory(featureValues, [b, m, f]);
            using var binding = _candidates.CreateIoBinding();
            binding.BindInput(HistoryKeys, keys);
            binding.BindInput(HistoryValues, values);
            binding.BindInput(LastState, last);
            binding.BindInput(TokenTimes, times);
            binding.BindInput(TokenMask, mask);
            binding.BindInput(Candidates, candidatesValue);
            binding.BindInput(RequestTime, requestValue);
            if (featuresValue is not null)
            {
                binding.BindInput(CrossFeatures, featuresValue);
            }

            binding.BindOutputToDevice(Scores, OrtMemoryInfo.DefaultInstance);
            _candidates.RunWithBinding(runOptions, binding);
            using var outputs = binding.GetOutputValues();
            var logits = outputs[0].GetTensorDataAsSpan<float>();
            for (var i = 0; i < b; i++)
            {
                var count = Math.Clamp(known[i].Length - start, 0, m);
                for (var j = 0; j < count; j++)
                {
                    var at = ((i * m) + j) * 2;
                    scores[i][known[i][start + j]] = logits[at] + (Manifest.RatingWeight * logits[at + 1]);
                }
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _history.Dispose();
        _candidates.Dispose();
    }

    private static void Check(InferenceSession session, string[] inputs, string[] outputs, string directory, string file)
    {
        var missingInputs = inputs.Where(i => !session.InputMetadata.ContainsKey(i)).ToArray();
        var extraInputs = session.InputMetadata.Keys.Where(i => !inputs.Contains(i)).ToArray();
        var missingOutputs = outputs.Where(o => !session.OutputMetadata.ContainsKey(o)).ToArray();
        if (missingInputs.Length > 0 || extraInputs.Length > 0 || missingOutputs.Length > 0)
        {
            throw new InvalidDataException(
                $"'{Path.Combine(directory, file)}' does not follow the HSTU graph contract: missing inputs [{string.Join(", ", missingInputs)}], " +
                $"unexpected inputs [{string.Join(", ", extraInputs)}], missing outputs [{string.Join(", ", missingOutputs)}].");
        }
    }
}

/// <summary>
/// A history encoded by an <see cref="HstuOnnxRanker"/>, in host memory: every layer's keys and values and what
/// candidates need to attend to them. A user session keeps it until the history changes. About
/// 2 × layers × 2 × history × width floats (≈ 100 KB at width 64, 2 layers, 50 events).
/// </summary>
public sealed class HstuHistoryState
{
    internal HstuHistoryState(string modelId, float[] keys, float[] values, float[] lastState, long[] times, float[] mask)
    {
        ModelId = modelId;
        Keys = keys;
        Values = values;
        LastState = lastState;
        Times = times;
        Mask = mask;
    }

    /// <summary>Identifies the model that encoded it (the history graph's hash).</summary>
    public string ModelId { get; }

    /// <summary>Bytes held.</summary>
    public long Bytes => (4L * (Keys.Length + Values.Length + LastState.Length + Mask.Length)) + (8L * Times.Length);

    internal float[] Keys { get; }

    internal float[] Values { get; }

    internal float[] LastState { get; }

    internal long[] Times { get; }

    internal float[] Mask { get; }
}
