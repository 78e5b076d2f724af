using System.Diagnostics.CodeAnalysis;
using GenRec.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using static GenRec.Models.HstuGraphContract;

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
    private readonly InferenceSession? _extend;
    private readonly Dictionary<ItemId, long> _rows;
    private readonly ICandidateFeatures? _features;
    private readonly OrtMemoryInfo _stateMemory;

    private HstuOnnxRanker(HstuOnnxManifest manifest, InferenceSession history, InferenceSession candidates, InferenceSession? extend, ICandidateFeatures? features, ExecutionProviderPreference provider, int cudaDevice, int candidateBatch, string name)
    {
        Manifest = manifest;
        _history = history;
        _candidates = candidates;
        _extend = extend;
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

    /// <summary>Where the graphs run: <see cref="ExecutionProviderPreference.Cuda"/> or <see cref="ExecutionProviderPreference.Cpu"/>.</summary>
    public ExecutionProviderPreference ExecutionProvider { get; }

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
        string[] files = [manifest.History.File, manifest.Candidates.File, .. manifest.Extend is { } e ? [e.File] : Array.Empty<string>()];
        var sessions = OnnxExecutionProviders.OpenGraphs(options, directory, files, "HSTU ranker", logger, out var provider, out _);
        try
        {
            Check(sessions[0], [TokenItems, TokenActions, TokenTimes], [HistoryKeys, HistoryValues, LastState], directory, HistoryFile);
            string[] inputs = [HistoryKeys, HistoryValues, LastState, TokenTimes, TokenMask, Candidates, RequestTime, .. manifest.CrossFeatures.Length > 0 ? [CrossFeatures] : Array.Empty<string>()];
            Check(sessions[1], inputs, [Scores], directory, CandidatesFile);
            if (sessions.Length > 2)
            {
                Check(sessions[2], [HistoryKeys, HistoryValues, HistoryTimes, HistoryMask, TokenItems, TokenActions, TokenTimes], [AppendedKeys, AppendedValues, LastState], directory, ExtendFile);
            }

            return new HstuOnnxRanker(manifest, sessions[0], sessions[1], sessions.Length > 2 ? sessions[2] : null, features, provider, options.CudaDeviceId, candidateBatch, name);
        }
        catch
        {
            foreach (var session in sessions)
            {
                session.Dispose();
            }

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

        var (items, actions, times, mask, l, _) = Tokens([.. batch.Select(r => r.Request.History)]);
        using var runOptions = new RunOptions();
        using var timesValue = OrtValue.CreateTensorValueFromMemory(times, [b, l]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [b, l]);
        using var state = RunHistory(runOptions, items, actions, l, timesValue, _stateMemory);
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
        var (items, actions, times, mask, l, events) = Tokens([history]);
        using var runOptions = new RunOptions();
        using var timesValue = OrtValue.CreateTensorValueFromMemory(times, [1, times.Length]);
        using var state = RunHistory(runOptions, items, actions, l, timesValue, OrtMemoryInfo.DefaultInstance);
        return new HstuHistoryState(
            Manifest.History.Sha256,
            state[0].GetTensorDataAsSpan<float>().ToArray(),
            state[1].GetTensorDataAsSpan<float>().ToArray(),
            state[2].GetTensorDataAsSpan<float>().ToArray(),
            times,
            mask,
            events,
            events == 0 ? null : history.Where(e => _rows.ContainsKey(e.Item)).Max(e => e.Timestamp));
    }

    /// <summary>
    /// Adds events appended to a history to its encoded state without encoding the history again: only the new
    /// events' tokens run (the extend graph), attending to the state's keys and values, which a causal model leaves
    /// unchanged. The result scores as <see cref="Encode"/> of the whole history would (to float rounding). It cannot
    /// when the model's window would slide (the history would hold more than <see cref="HstuOnnxManifest.MaxHistory"/>
    /// events the model knows: the oldest would leave it and every later token would change), when an event is earlier
    /// than the state's last, or when the folder is format 1 (no extend graph): then it returns
    /// <see langword="false"/> and the caller encodes the whole history.
    /// </summary>
    /// <param name="state">The history's state, from <see cref="Encode"/> or an earlier extension, of this model.</param>
    /// <param name="appended">The events appended since, oldest first; events of items the model does not know are skipped as <see cref="Encode"/> skips them.</param>
    /// <param name="extended">The longer history's state; <paramref name="state"/> itself when no appended event is known to the model.</param>
    /// <returns>Whether the state could be extended.</returns>
    /// <exception cref="ArgumentException">The state was encoded by another model, or an event is null.</exception>
    public bool TryExtend(HstuHistoryState state, IReadOnlyList<UserEvent> appended, [NotNullWhen(true)] out HstuHistoryState? extended)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(appended);
        if (state.ModelId != Manifest.History.Sha256)
        {
            throw new ArgumentException("The history state was encoded by another HSTU model; encode it again with this one.", nameof(state));
        }

        extended = null;
        var known = new List<UserEvent>(appended.Count);
        for (var i = 0; i < appended.Count; i++)
        {
            var e = appended[i] ?? throw new ArgumentException($"Appended event {i} is null.", nameof(appended));
            if (_rows.ContainsKey(e.Item))
            {
                known.Add(e);
            }
        }

        if (known.Count == 0)
        {
            extended = state;
            return true;
        }

        // Stable by time, as Encode orders a history; the first must not be earlier than what the state holds.
        UserEvent[] ordered = [.. known.Select((e, i) => (e, i)).OrderBy(p => p.e.Timestamp).ThenBy(p => p.i).Select(p => p.e)];
        if (_extend is null || state.Events + ordered.Length > Manifest.MaxHistory || (state.Last is { } last && ordered[0].Timestamp < last))
        {
            return false;
        }

        if (state.Events == 0)
        {
            extended = Encode(ordered);
            return true;
        }

        var t = 2 * ordered.Length;
        var (items, actions, times) = (new long[t], new long[t], new long[t]);
        EncodeHistory(ordered, ordered.Length, i => _rows.GetValueOrDefault(i), items, actions, times);

        // The state's real tokens only (a format 2 state of a non-empty history has no padding).
        var p = state.Times.Length;
        long[] kv = [Manifest.Layers, 1, Manifest.Heads, p, Manifest.HeadDimension];
        using var runOptions = new RunOptions();
        using var keys = OrtValue.CreateTensorValueFromMemory(state.Keys, kv);
        using var values = OrtValue.CreateTensorValueFromMemory(state.Values, kv);
        using var pastTimes = OrtValue.CreateTensorValueFromMemory(state.Times, [1, p]);
        using var pastMask = OrtValue.CreateTensorValueFromMemory(state.Mask, [1, p]);
        using var itemsValue = OrtValue.CreateTensorValueFromMemory(items, [1, t]);
        using var actionsValue = OrtValue.CreateTensorValueFromMemory(actions, [1, t]);
        using var timesValue = OrtValue.CreateTensorValueFromMemory(times, [1, t]);
        using var binding = _extend.CreateIoBinding();
        binding.BindInput(HistoryKeys, keys);
        binding.BindInput(HistoryValues, values);
        binding.BindInput(HistoryTimes, pastTimes);
        binding.BindInput(HistoryMask, pastMask);
        binding.BindInput(TokenItems, itemsValue);
        binding.BindInput(TokenActions, actionsValue);
        binding.BindInput(TokenTimes, timesValue);
        binding.BindOutputToDevice(AppendedKeys, OrtMemoryInfo.DefaultInstance);
        binding.BindOutputToDevice(AppendedValues, OrtMemoryInfo.DefaultInstance);
        binding.BindOutputToDevice(LastState, OrtMemoryInfo.DefaultInstance);
        _extend.RunWithBinding(runOptions, binding);
        using var outputs = binding.GetOutputValues();
        var rows = Manifest.Layers * Manifest.Heads;
        var d = Manifest.HeadDimension;
        extended = new HstuHistoryState(
            state.ModelId,
            Append(state.Keys, outputs[0].GetTensorDataAsSpan<float>(), rows, p * d, t * d),
            Append(state.Values, outputs[1].GetTensorDataAsSpan<float>(), rows, p * d, t * d),
            outputs[2].GetTensorDataAsSpan<float>().ToArray(),
            [.. state.Times, .. times],
            [.. state.Mask, .. Enumerable.Repeat(1f, t)],
            state.Events + ordered.Length,
            ordered[^1].Timestamp);
        return true;
    }

    /// <summary>[rows, a] ++ [rows, b] along the last axis: per (layer, head), the history's tokens then the appended ones.</summary>
    private static float[] Append(float[] past, ReadOnlySpan<float> appended, int rows, int a, int b)
    {
        var result = new float[rows * (a + b)];
        for (var r = 0; r < rows; r++)
        {
            past.AsSpan(r * a, a).CopyTo(result.AsSpan(r * (a + b)));
            appended.Slice(r * b, b).CopyTo(result.AsSpan((r * (a + b)) + a));
        }

        return result;
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

        var l = state.Times.Length;
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

    /// <summary>
    /// The histories' tokens, [histories × length], left-padded to the longest (format 2: 2 × its events, at least 2
    /// tokens; format 1: the whole window), with the real-token mask and the longest history's event count.
    /// </summary>
    private (long[] Items, long[] Actions, long[] Times, float[] Mask, int Length, int Events) Tokens(IReadOnlyList<IReadOnlyList<UserEvent>> histories)
    {
        var window = Manifest.Tokens;
        var b = histories.Count;
        var (items, actions, times) = (new long[b * window], new long[b * window], new long[b * window]);
        var longest = 0;
        for (var i = 0; i < b; i++)
        {
            var at = i * window;
            longest = Math.Max(longest, EncodeHistory(histories[i], Manifest.MaxHistory, r => _rows.GetValueOrDefault(r), items.AsSpan(at, window), actions.AsSpan(at, window), times.AsSpan(at, window)));
        }

        var l = Manifest.VariableLength ? Math.Max(2, 2 * longest) : window;
        if (l < window)
        {
            // Keep each history's last l tokens (the rest is padding).
            static long[] Cut(long[] full, int b, int window, int l)
            {
                var cut = new long[b * l];
                for (var i = 0; i < b; i++)
                {
                    full.AsSpan((i * window) + window - l, l).CopyTo(cut.AsSpan(i * l));
                }

                return cut;
            }

            (items, actions, times) = (Cut(items, b, window, l), Cut(actions, b, window, l), Cut(times, b, window, l));
        }

        var mask = new float[b * l];
        for (var i = 0; i < mask.Length; i++)
        {
            mask[i] = items[i] + actions[i] != 0 ? 1 : 0;
        }

        return (items, actions, times, mask, l, longest);
    }

    /// <summary>Runs the history graph; its outputs (keys, values, last state) are bound to <paramref name="memory"/>.</summary>
    private IDisposableReadOnlyCollection<OrtValue> RunHistory(RunOptions runOptions, long[] items, long[] actions, long l, OrtValue times, OrtMemoryInfo memory)
    {
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
        _extend?.Dispose();
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
/// candidates need to attend to them. A user session keeps it, extending it with
/// <see cref="HstuOnnxRanker.TryExtend"/> as events are appended. About 2 × layers × 2 × events × width floats
/// (≈ 100 KB at width 64, 2 layers, 50 events).
/// </summary>
public sealed class HstuHistoryState
{
    internal HstuHistoryState(string modelId, float[] keys, float[] values, float[] lastState, long[] times, float[] mask, int events, DateTimeOffset? last)
    {
        ModelId = modelId;
        Keys = keys;
        Values = values;
        LastState = lastState;
        Times = times;
        Mask = mask;
        Events = events;
        Last = last;
    }

    /// <summary>Identifies the model that encoded it (the history graph's hash).</summary>
    public string ModelId { get; }

    /// <summary>The events it holds (those of items the model knows, at most its window).</summary>
    public int Events { get; }

    /// <summary>The time of its last event; <see langword="null"/> when it holds none.</summary>
    public DateTimeOffset? Last { get; }

    /// <summary>Bytes held.</summary>
    public long Bytes => (4L * (Keys.Length + Values.Length + LastState.Length + Mask.Length)) + (8L * Times.Length);

    internal float[] Keys { get; }

    internal float[] Values { get; }

    internal float[] LastState { get; }

    internal long[] Times { get; }

    internal float[] Mask { get; }
}
