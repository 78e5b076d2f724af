using System.Buffers;
using GenRec.Generative;
using GenRec.Models;
using Microsoft.ML.OnnxRuntime;
using static GenRec.Models.GenerativeGraphContract;

namespace GenRec.Inference;

/// <summary>
/// One batch being decoded: the context graph's outputs, kept for every step, and the per-beam key/value cache. On
/// the CPU the cache ping-pongs between two pooled buffers that grow only when a step needs more (no allocation per
/// step once warm); on a device it stays where ONNX Runtime put it and is fed back as the next step's input.
/// </summary>
internal sealed class DecodeRun : IDisposable
{
    private readonly OnnxGenerativeModel _model;
    private readonly OnnxModelManifest _shape;
    private readonly OrtIoBinding _binding;
    private readonly RunOptions _runOptions = new();
    private readonly float[]?[] _keys = new float[2][];
    private readonly float[]?[] _values = new float[2][];
    private readonly long[] _step = new long[1];
    private IDisposableReadOnlyCollection<OrtValue>? _context;
    private OrtValue[]? _ownedContext;
    private IDisposableReadOnlyCollection<OrtValue>? _deviceCache;
    private OrtValue? _pastKeys;
    private OrtValue? _pastValues;
    private float[]? _scores;
    private long[] _first = [];
    private int _batch;
    private int _slot;
    private int _pastRows;
    private int _pastLength;

    public DecodeRun(OnnxGenerativeModel model)
    {
        _model = model;
        _shape = model.Manifest;
        _binding = model.StepSession.CreateIoBinding();
    }

    public long FirstToken(int request) => _first[request];

    /// <summary>The last step's scores buffer (valid up to the length <see cref="Step"/> returned).</summary>
    public float[] Scores => _scores ?? [];

    /// <summary>Runs the context graph over the histories, right-aligned, with their common left padding trimmed.</summary>
    public void Context(IReadOnlyList<int[]> histories)
    {
        // Shared left padding is trimmed, in whole tokens or whole events, down to the shortest history the graph reads.
        var unit = _model.HistoryUnit;
        var length = _model.EmptyHistory.Length;
        foreach (var h in histories)
        {
            _model.CheckHistory(h);
            var pad = 0;
            while (pad < h.Length && h[pad] == SemanticIdVocabulary.Pad)
            {
                pad++;
            }

            length = Math.Max(length, h.Length - (pad / unit * unit));
        }

        _batch = histories.Count;
        var input = new long[_batch * length];
        for (var b = 0; b < _batch; b++)
        {
            var h = histories[b];
            var keep = Math.Min(h.Length, length);
            for (var i = 0; i < keep; i++)
            {
                input[(b * length) + length - keep + i] = h[h.Length - keep + i];
            }
        }

        using var history = OrtValue.CreateTensorValueFromMemory(input, [_batch, length]);
        using var binding = _model.ContextSession.CreateIoBinding();
        binding.BindInput(History, history);
        binding.BindOutputToDevice(ContextKeys, _model.KeyValueMemory);
        binding.BindOutputToDevice(ContextValues, _model.KeyValueMemory);
        binding.BindOutputToDevice(ContextBias, _model.KeyValueMemory);
        binding.BindOutputToDevice(GenerativeGraphContract.FirstToken, OrtMemoryInfo.DefaultInstance);
        _model.ContextSession.RunWithBinding(_runOptions, binding);
        _context = binding.GetOutputValues();
        _first = _context[3].GetTensorDataAsSpan<long>().ToArray();
        if (_first.Length != _batch)
        {
            throw new InvalidDataException($"The context graph returned {_first.Length} first tokens for {_batch} histories.");
        }

        _pastRows = _batch;
        _pastLength = 0;
        _pastKeys = Empty(_batch);
        _pastValues = Empty(_batch);
    }

    /// <summary>Copies the context outputs of each request into a <see cref="GenerativeContext"/> (host memory).</summary>
    public GenerativeContext[] ExportContexts(string modelId)
    {
        var keys = _context![0].GetTensorDataAsSpan<float>();
        var values = _context[1].GetTensorDataAsSpan<float>();
        var bias = _context[2].GetTensorDataAsSpan<float>();
        var length = (int)_context[0].GetTensorTypeAndShape().Shape[3];
        var perHead = length * _shape.HeadDimension;
        var perLayer = _batch * _shape.Heads * perHead;
        var result = new GenerativeContext[_batch];
        for (var b = 0; b < _batch; b++)
        {
            var k = new float[_shape.Layers * _shape.Heads * perHead];
            var v = new float[k.Length];
            for (var l = 0; l < _shape.Layers; l++)
            {
                var from = (l * perLayer) + (b * _shape.Heads * perHead);
                keys.Slice(from, _shape.Heads * perHead).CopyTo(k.AsSpan(l * _shape.Heads * perHead));
                values.Slice(from, _shape.Heads * perHead).CopyTo(v.AsSpan(l * _shape.Heads * perHead));
            }

            result[b] = new GenerativeContext(modelId, length, k, v, bias.Slice(b * length, length).ToArray(), _first[b]);
        }

        return result;
    }

    /// <summary>Uses cached contexts instead of running the context graph: right-aligned, padded on the left to the longest (padding masked).</summary>
    public void UseContexts(IReadOnlyList<GenerativeContext> contexts)
    {
        foreach (var c in contexts)
        {
            if (c.ModelId != _model.ModelId)
            {
                throw new ArgumentException($"A context computed by model {c.ModelId} cannot be decoded by model {_model.ModelId}: read the history again.", nameof(contexts));
            }
        }

        _batch = contexts.Count;
        var length = contexts.Max(c => c.Length);
        int layers = _shape.Layers, heads = _shape.Heads, d = _shape.HeadDimension;
        var keys = new float[layers * _batch * heads * length * d];
        var values = new float[keys.Length];
        var bias = new float[_batch * length];
        _first = new long[_batch];
        for (var b = 0; b < _batch; b++)
        {
            var c = contexts[b];
            var pad = length - c.Length;
            bias.AsSpan(b * length, pad).Fill(-1e9f);
            c.Bias.CopyTo(bias.AsSpan((b * length) + pad));
            _first[b] = c.FirstToken;
            for (var l = 0; l < layers; l++)
            {
                for (var h = 0; h < heads; h++)
                {
                    var from = ((l * heads) + h) * c.Length * d;
                    var to = (((((l * _batch) + b) * heads) + h) * length + pad) * d;
                    c.Keys.AsSpan(from, c.Length * d).CopyTo(keys.AsSpan(to));
                    c.Values.AsSpan(from, c.Length * d).CopyTo(values.AsSpan(to));
                }
            }
        }

        _ownedContext = [
            OrtValue.CreateTensorValueFromMemory(keys, [layers, _batch, heads, length, d]),
            OrtValue.CreateTensorValueFromMemory(values, [layers, _batch, heads, length, d]),
            OrtValue.CreateTensorValueFromMemory(bias, [_batch, 1, 1, length]),
        ];
        _pastRows = _batch;
        _pastLength = 0;
        _pastKeys = Empty(_batch);
        _pastValues = Empty(_batch);
    }

    /// <summary>Runs one step for <paramref name="tokens"/> (B × K) continuing cache rows <paramref name="rows"/>.</summary>
    /// <returns>The log-probabilities, B × K rows of the manifest's widest position.</returns>
    public ReadOnlySpan<float> Step(int step, long[] tokens, long[] rows, int beamsPerRequest)
    {
        var n = tokens.Length;
        if (n != _batch * beamsPerRequest || rows.Length != n)
        {
            throw new ArgumentException($"Expected {_batch} × {beamsPerRequest} tokens and cache rows, got {tokens.Length} and {rows.Length}.");
        }

        foreach (var r in rows)
        {
            if ((ulong)r >= (ulong)_pastRows)
            {
                throw new ArgumentOutOfRangeException(nameof(rows), r, $"A beam continues cache row {r}; the cache holds {_pastRows}.");
            }
        }

        var width = _shape.MaxCodes;
        _step[0] = step;
        EnsureCapacity(ref _scores, n * width);
        using var tokenValue = OrtValue.CreateTensorValueFromMemory(tokens, [_batch, beamsPerRequest]);
        using var stepValue = OrtValue.CreateTensorValueFromMemory(_step, []);
        using var rowValue = OrtValue.CreateTensorValueFromMemory(rows, [n]);
        using var scores = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _scores.AsMemory(0, n * width), [_batch, beamsPerRequest, width]);
        _binding.ClearBoundInputs();
        _binding.ClearBoundOutputs();
        BindInputs(_binding, tokenValue, stepValue, rowValue);
        _binding.BindOutput(LogProbs, scores);
        long[] presentShape = [_shape.Layers, n, _shape.Heads, _pastLength + 1, _shape.HeadDimension];
        if (_model.KeyValuesOnDevice)
        {
            _binding.BindOutputToDevice(PresentKeys, _model.KeyValueMemory);
            _binding.BindOutputToDevice(PresentValues, _model.KeyValueMemory);
            _model.StepSession.RunWithBinding(_runOptions, _binding);
            var outputs = _binding.GetOutputValues();
            if (_deviceCache is null)
            {
                _pastKeys?.Dispose();
                _pastValues?.Dispose();
            }

            _deviceCache?.Dispose();
            _deviceCache = outputs;
            _pastKeys = outputs[1];
            _pastValues = outputs[2];
        }
        else
        {
            var slot = 1 - _slot;
            var size = (int)(presentShape[0] * presentShape[1] * presentShape[2] * presentShape[3] * presentShape[4]);
            EnsureCapacity(ref _keys[slot], size);
            EnsureCapacity(ref _values[slot], size);
            var presentKeys = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _keys[slot].AsMemory(0, size), presentShape);
            var presentValues = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _values[slot].AsMemory(0, size), presentShape);
            _binding.BindOutput(PresentKeys, presentKeys);
            _binding.BindOutput(PresentValues, presentValues);
            _model.StepSession.RunWithBinding(_runOptions, _binding);
            _pastKeys?.Dispose();
            _pastValues?.Dispose();
            _pastKeys = presentKeys;
            _pastValues = presentValues;
            _slot = slot;
        }

        _pastRows = n;
        _pastLength++;
        return _scores.AsSpan(0, n * width);
    }

    /// <summary>
    /// Runs the draft graph: <paramref name="tokens"/> (B × K × T) are K drafts per request of T positions from
    /// <paramref name="step"/> on, each continuing cache row <paramref name="rows"/>[draft] of the last step. The
    /// cache is not extended (the drafts finish the search).
    /// </summary>
    /// <returns>The log-probabilities, B × K × T rows of the manifest's widest position.</returns>
    public ReadOnlySpan<float> Draft(int step, long[] tokens, long[] rows, int draftsPerRequest, int length)
    {
        var session = _model.DraftSession ?? throw new InvalidOperationException($"Model {_model.ModelId} has no draft graph.");
        var n = _batch * draftsPerRequest;
        if (tokens.Length != n * length || rows.Length != n)
        {
            throw new ArgumentException($"Expected {_batch} × {draftsPerRequest} drafts of {length} tokens and their cache rows, got {tokens.Length} tokens and {rows.Length} rows.");
        }

        foreach (var r in rows)
        {
            if ((ulong)r >= (ulong)_pastRows)
            {
                throw new ArgumentOutOfRangeException(nameof(rows), r, $"A draft continues cache row {r}; the cache holds {_pastRows}.");
            }
        }

        var width = _shape.MaxCodes;
        var size = n * length * width;
        _step[0] = step;
        EnsureCapacity(ref _scores, size);
        using var binding = session.CreateIoBinding();
        using var tokenValue = OrtValue.CreateTensorValueFromMemory(tokens, [_batch, draftsPerRequest, length]);
        using var stepValue = OrtValue.CreateTensorValueFromMemory(_step, []);
        using var rowValue = OrtValue.CreateTensorValueFromMemory(rows, [n]);
        using var scores = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _scores.AsMemory(0, size), [_batch, draftsPerRequest, length, width]);
        BindInputs(binding, tokenValue, stepValue, rowValue);
        binding.BindOutput(DraftLogProbs, scores);
        session.RunWithBinding(_runOptions, binding);
        return _scores.AsSpan(0, size);
    }

    public void Dispose()
    {
        if (!_model.KeyValuesOnDevice)
        {
            _pastKeys?.Dispose();
            _pastValues?.Dispose();
        }
        else if (_deviceCache is null)
        {
            _pastKeys?.Dispose();
            _pastValues?.Dispose();
        }

        _deviceCache?.Dispose();
        _context?.Dispose();
        foreach (var owned in _ownedContext ?? [])
        {
            owned.Dispose();
        }

        _binding.Dispose();
        _runOptions.Dispose();
        foreach (var buffer in _keys.Concat(_values).Append(_scores))
        {
            if (buffer is not null)
            {
                ArrayPool<float>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Binds the inputs the step and draft graphs share: tokens, position, the context and the cache the rows continue.</summary>
    private void BindInputs(OrtIoBinding binding, OrtValue tokens, OrtValue step, OrtValue rows)
    {
        binding.BindInput(Token, tokens);
        binding.BindInput(GenerativeGraphContract.Step, step);
        IReadOnlyList<OrtValue> context = _ownedContext ?? (IReadOnlyList<OrtValue>)_context!;
        binding.BindInput(ContextKeys, context[0]);
        binding.BindInput(ContextValues, context[1]);
        binding.BindInput(ContextBias, context[2]);
        binding.BindInput(PastKeys, _pastKeys!);
        binding.BindInput(PastValues, _pastValues!);
        binding.BindInput(BeamIndex, rows);
    }

    private OrtValue Empty(int rows) =>
        OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, Memory<float>.Empty, [_shape.Layers, rows, _shape.Heads, 0, _shape.HeadDimension]);

    private static void EnsureCapacity(ref float[]? buffer, int size)
    {
        if (buffer is null || buffer.Length < size)
        {
            if (buffer is not null)
            {
                ArrayPool<float>.Shared.Return(buffer);
            }

            buffer = ArrayPool<float>.Shared.Rent(size);
        }
    }
}
