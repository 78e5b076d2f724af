using GenRec.Generative;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using static GenRec.Inference.GenerativeGraphContract;

namespace GenRec.Inference;

/// <summary>One request of a batched decode: a history and the beam search that decodes it.</summary>
/// <param name="HistoryTokens">The history as <see cref="SemanticIdVocabulary.EncodeHistory"/> writes it.</param>
/// <param name="Search">The search (trie, beam width, excluded items); advanced in place.</param>
public sealed record GenerativeDecodeRequest(int[] HistoryTokens, BeamSearchState Search);

/// <summary>
/// A generative retrieval model served by ONNX Runtime from a model folder (<c>manifest.json</c>,
/// <c>context.onnx</c>, <c>step.onnx</c>; see <see cref="GenerativeGraphContract"/>). Runs on CUDA when the
/// application carries <c>Microsoft.ML.OnnxRuntime.Gpu</c> and a GPU is there, on the CPU otherwise, with the
/// reason logged and in <see cref="FallbackReason"/>. Each history is read once; each step scores every beam of
/// every request in one run, the graph reorders the per-beam key/value cache, the cache lives in reused buffers
/// (on the GPU it stays on the device), and the trie masks the codes. Thread-safe.
/// </summary>
public sealed class OnnxGenerativeModel : IGenerativeDecoder, IDisposable
{
    private static readonly Action<ILogger, string, Exception?> CudaFallback = LoggerMessage.Define<string>(LogLevel.Warning, new EventId(1, "CudaFallback"), "ONNX Runtime: CUDA is not available ({Reason}); the generative model runs on the CPU.");
    private static readonly Action<ILogger, string, Exception?> Running = LoggerMessage.Define<string>(LogLevel.Information, new EventId(2, "ExecutionProvider"), "ONNX Runtime: the generative model runs on {Provider}.");
    private readonly InferenceSession _context;
    private readonly InferenceSession _step;
    private readonly OrtMemoryInfo _kvMemory;

    private OnnxGenerativeModel(OnnxModelManifest manifest, InferenceSession context, InferenceSession step, string provider, string? fallbackReason, bool kvOnDevice, OrtMemoryInfo kvMemory)
    {
        Manifest = manifest;
        _context = context;
        _step = step;
        ExecutionProvider = provider;
        FallbackReason = fallbackReason;
        KeyValuesOnDevice = kvOnDevice;
        _kvMemory = kvMemory;
        Vocabulary = new SemanticIdVocabulary(manifest.VocabularySizes);
    }

    /// <summary>The model's manifest.</summary>
    public OnnxModelManifest Manifest { get; }

    /// <summary>The execution provider the graphs run on: "CUDA" or "CPU".</summary>
    public string ExecutionProvider { get; }

    /// <summary>Why CUDA was not used although <see cref="ExecutionProviderPreference.Auto"/> allowed it; <see langword="null"/> otherwise.</summary>
    public string? FallbackReason { get; }

    /// <inheritdoc />
    public string IndexFingerprint => Manifest.IndexFingerprint;

    /// <inheritdoc />
    public SemanticIdVocabulary Vocabulary { get; }

    /// <inheritdoc />
    public int MaxHistoryItems => Manifest.MaxHistoryItems;

    /// <summary>Whether the key/value cache is left where ONNX Runtime allocates it (the device) rather than in reused host buffers.</summary>
    internal bool KeyValuesOnDevice { get; }

    internal OrtMemoryInfo KeyValueMemory => _kvMemory;

    internal InferenceSession ContextSession => _context;

    internal InferenceSession StepSession => _step;

    /// <summary>Loads a model folder and checks its graphs against the contract.</summary>
    /// <param name="directory">The folder (<c>genrec export</c> writes one).</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="logger">Where the execution-provider choice is logged; none when <see langword="null"/>.</param>
    /// <returns>The model.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">The manifest or a graph is missing, damaged, or does not follow the contract (names, types, shapes).</exception>
    /// <exception cref="InvalidOperationException"><see cref="ExecutionProviderPreference.Cuda"/> was asked for and CUDA is not available.</exception>
    public static OnnxGenerativeModel Load(string directory, OnnxRuntimeOptions? options = null, ILogger? logger = null)
        => Load(directory, options, logger, forceKeyValuesOnDevice: false);

    internal static OnnxGenerativeModel Load(string directory, OnnxRuntimeOptions? options, ILogger? logger, bool forceKeyValuesOnDevice)
    {
        options ??= new OnnxRuntimeOptions();
        logger ??= NullLogger.Instance;
        var manifest = OnnxModelManifest.Load(directory);
        (InferenceSession Context, InferenceSession Step) sessions;
        string provider;
        string? reason;
        try
        {
            sessions = OnnxExecutionProviders.Open(options, o => OpenGraphs(directory, manifest, o), out provider, out reason);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"The graphs in '{directory}' cannot be loaded by ONNX Runtime: {OnnxExecutionProviders.FirstLine(e.Message)}", e);
        }

        if (reason is not null)
        {
            CudaFallback(logger, reason, null);
        }
        else
        {
            Running(logger, provider, null);
        }

        try
        {
            OnnxContractValidator.Check(manifest, sessions.Context, sessions.Step, directory);
            var onDevice = provider == "CUDA" || forceKeyValuesOnDevice;
            var memory = provider == "CUDA" ? new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, options.CudaDeviceId, OrtMemType.Default) : OrtMemoryInfo.DefaultInstance;
            var model = new OnnxGenerativeModel(manifest, sessions.Context, sessions.Step, provider, reason, onDevice, memory);
            OnnxContractValidator.SmokeTest(model, directory);
            return model;
        }
        catch
        {
            sessions.Context.Dispose();
            sessions.Step.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public IDecodingSession Start(ReadOnlySpan<int> historyTokens) => new Session(this, historyTokens.ToArray());

    /// <summary>
    /// Decodes many requests in lockstep: one context run for all histories, then one step run per code position for
    /// all their beams. Requests whose search has no beam left leave the batch.
    /// </summary>
    /// <param name="requests">The requests; each search is advanced to its end.</param>
    /// <returns>Each request's results, in order.</returns>
    /// <exception cref="ArgumentException">A history is longer than the model reads or holds a token outside the vocabulary.</exception>
    public IReadOnlyList<IReadOnlyList<DecodedId>> Decode(IReadOnlyList<GenerativeDecodeRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        if (requests.Count == 0)
        {
            return [];
        }

        using var run = new DecodeRun(this);
        run.Context(requests.Select(r => r.HistoryTokens).ToArray());
        var batch = requests.Count;
        var searches = requests.Select(r => r.Search).ToArray();
        var k = 1;
        var tokens = new long[batch];
        var rows = new long[batch];
        for (var b = 0; b < batch; b++)
        {
            tokens[b] = run.FirstToken(b);
            rows[b] = b;
        }

        var stride = Manifest.MaxCodes;
        for (var step = 0; step < Vocabulary.Positions && searches.Any(s => !s.IsFinished); step++)
        {
            var scores = run.Step(step, tokens, rows, k);
            var width = k;
            if (batch == 1)
            {
                searches[0].Advance(scores.Slice(0, searches[0].Count * stride), stride);
            }
            else
            {
                // The trie-masked selection of each request is independent: spread it over the cores ONNX Runtime just released.
                var buffer = run.Scores;
                Parallel.For(0, batch, b =>
                {
                    if (!searches[b].IsFinished)
                    {
                        searches[b].Advance(buffer.AsSpan(b * width * stride, searches[b].Count * stride), stride);
                    }
                });
            }

            if (step + 1 == Vocabulary.Positions)
            {
                break;
            }

            var next = Math.Max(1, searches.Max(s => s.IsFinished ? 0 : s.Count));
            tokens = new long[batch * next];
            rows = new long[batch * next];
            for (var b = 0; b < batch; b++)
            {
                var s = searches[b];
                for (var j = 0; j < next; j++)
                {
                    var live = !s.IsFinished && j < s.Count;
                    tokens[(b * next) + j] = live ? Vocabulary.Offset(step) + s.LastCode(j) : SemanticIdVocabulary.Pad;
                    rows[(b * next) + j] = (b * k) + (live ? s.Parent(j) : 0);
                }
            }

            k = next;
        }

        return searches.Select(s => s.Results).ToArray();
    }

    /// <summary>Checks a history before it is decoded (alone or in a batch).</summary>
    /// <exception cref="ArgumentException">It is longer than the model reads, or holds a token outside the vocabulary.</exception>
    internal void CheckHistory(int[] tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Length > Manifest.HistoryTokens)
        {
            throw new ArgumentException($"A history of {tokens.Length} tokens is longer than the {Manifest.HistoryTokens} this model reads (encode it with SemanticIdVocabulary.EncodeHistory and the model's MaxHistoryItems).", nameof(tokens));
        }

        foreach (var t in tokens)
        {
            if ((uint)t >= (uint)Vocabulary.Size)
            {
                throw new ArgumentException($"History token {t} is outside the model's vocabulary of {Vocabulary.Size} tokens.", nameof(tokens));
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _context.Dispose();
        _step.Dispose();
    }

    private static (InferenceSession, InferenceSession) OpenGraphs(string directory, OnnxModelManifest manifest, SessionOptions options)
    {
        var context = new InferenceSession(Path.Combine(directory, manifest.Context.File), options);
        try
        {
            return (context, new InferenceSession(Path.Combine(directory, manifest.Step.File), options));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>The <see cref="IDecodingSession"/> of one history: a batch of one, with beams matched to their parents by their codes.</summary>
    private sealed class Session : IDecodingSession
    {
        private readonly OnnxGenerativeModel _model;
        private readonly DecodeRun _run;
        private Dictionary<GenRec.SemanticIds.SemanticId, int> _previous = [];

        public Session(OnnxGenerativeModel model, int[] history)
        {
            _model = model;
            _run = new DecodeRun(model);
            try
            {
                _run.Context([history]);
            }
            catch
            {
                _run.Dispose();
                throw;
            }
        }

        public float[] NextLogProbabilities(IReadOnlyList<int[]> beams)
        {
            ArgumentNullException.ThrowIfNull(beams);
            var s = beams[0].Length;
            var tokens = new long[beams.Count];
            var rows = new long[beams.Count];
            for (var b = 0; b < beams.Count; b++)
            {
                if (s == 0)
                {
                    tokens[b] = _run.FirstToken(0);
                    continue;
                }

                // After the first step there is one parent (row 0); later, a beam's codes but its last name its parent.
                var row = 0;
                if (s > 1 && !_previous.TryGetValue(new GenRec.SemanticIds.SemanticId(beams[b].AsSpan(0, s - 1)), out row))
                {
                    throw new InvalidOperationException("A beam continues no beam of the previous step: sessions must be driven one position at a time.");
                }

                tokens[b] = _model.Vocabulary.Offset(s - 1) + beams[b][s - 1];
                rows[b] = row;
            }

            var scores = _run.Step(s, tokens, rows, beams.Count);
            _previous = new Dictionary<GenRec.SemanticIds.SemanticId, int>(beams.Count);
            for (var b = 0; b < beams.Count && s > 0; b++)
            {
                _previous[new GenRec.SemanticIds.SemanticId(beams[b])] = b;
            }

            var width = _model.Vocabulary.Sizes[s];
            var stride = _model.Manifest.MaxCodes;
            var result = new float[beams.Count * width];
            for (var b = 0; b < beams.Count; b++)
            {
                scores.Slice(b * stride, width).CopyTo(result.AsSpan(b * width, width));
            }

            return result;
        }

        public void Dispose() => _run.Dispose();
    }
}
