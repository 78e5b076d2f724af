using GenRec.Generative;
using GenRec.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using static GenRec.Models.GenerativeGraphContract;

namespace GenRec.Inference;

/// <summary>
/// A generative retrieval model served by ONNX Runtime from a model folder (<c>manifest.json</c>,
/// <c>context.onnx</c>, <c>step.onnx</c>, optionally <c>draft.onnx</c>; see <see cref="GenerativeGraphContract"/>).
/// Runs on CUDA when the application carries <c>Microsoft.ML.OnnxRuntime.Gpu</c> and a GPU is there, on the CPU
/// otherwise, with the reason logged and in <see cref="FallbackReason"/>. Each history is read once; each step scores
/// every beam of every request in one run, the graph reorders the per-beam key/value cache, the cache lives in reused
/// buffers (on the GPU it stays on the device), and the trie masks the codes; with <see cref="DraftsPerBeam"/>, the
/// last positions of the items still reachable are scored in one draft run. Thread-safe.
/// </summary>
public sealed class OnnxGenerativeModel : IGenerativeDecoder, IGenerativeSearchRunner, IDisposable
{
    private readonly InferenceSession _context;
    private readonly InferenceSession _step;
    private readonly InferenceSession? _draft;
    private readonly OrtMemoryInfo _kvMemory;
    private readonly Dictionary<ItemId, int> _rows = [];
    private string? _modelId;
    private long _searchesDrafted;
    private long _draftsScored;

    private OnnxGenerativeModel(OnnxModelManifest manifest, InferenceSession[] sessions, ExecutionProviderPreference provider, string? fallbackReason, bool kvOnDevice, OrtMemoryInfo kvMemory, int draftsPerBeam)
    {
        Manifest = manifest;
        _context = sessions[0];
        _step = sessions[1];
        _draft = sessions.Length > 2 ? sessions[2] : null;
        DraftsPerBeam = _draft is null ? 0 : draftsPerBeam;
        ExecutionProvider = provider;
        FallbackReason = fallbackReason;
        KeyValuesOnDevice = kvOnDevice;
        _kvMemory = kvMemory;
        Vocabulary = new SemanticIdVocabulary(manifest.VocabularySizes);
        if (manifest.HistoryFields > 0)
        {
            Layout = new EventHistoryLayout(Vocabulary, manifest.MaxHistoryItems);
            for (var i = 0; i < manifest.Items.Length; i++)
            {
                _rows[new ItemId(manifest.Items[i])] = i + 1;
            }
        }
    }

    /// <summary>The model's manifest.</summary>
    public OnnxModelManifest Manifest { get; }

    /// <summary>Identifies the graphs (from their hashes): a <see cref="GenerativeContext"/> is only valid for the model that computed it.</summary>
    public string ModelId => _modelId ??= $"{Manifest.Architecture}:{Short(Manifest.Context.Sha256)}:{Short(Manifest.Step.Sha256)}";

    /// <summary>The execution provider the graphs run on: <see cref="ExecutionProviderPreference.Cuda"/> or <see cref="ExecutionProviderPreference.Cpu"/>.</summary>
    public ExecutionProviderPreference ExecutionProvider { get; }

    /// <summary>Why CUDA was not used although <see cref="ExecutionProviderPreference.Auto"/> allowed it; <see langword="null"/> otherwise.</summary>
    public string? FallbackReason { get; }

    /// <inheritdoc />
    public string IndexFingerprint => Manifest.IndexFingerprint;

    /// <inheritdoc />
    public SemanticIdVocabulary Vocabulary { get; }

    /// <inheritdoc />
    public int MaxHistoryItems => Manifest.MaxHistoryItems;

    /// <summary>How an end-to-end model reads a history (events with item rows, actions and ages); <see langword="null"/> for a model over semantic-ID tokens.</summary>
    public EventHistoryLayout? Layout { get; }

    /// <summary>The unit a history's left padding is trimmed by: one token, or one event.</summary>
    internal int HistoryUnit => Layout?.Fields ?? 1;

    /// <summary>The shortest history the context graph reads: BOS after one padding token, or one empty event.</summary>
    internal int[] EmptyHistory => Layout is { } layout ? new int[layout.Fields] : [SemanticIdVocabulary.Pad, SemanticIdVocabulary.Bos];

    /// <inheritdoc />
    public int[] EncodeHistory(IReadOnlyList<UserEvent> history, SemanticIds.SemanticIdIndex index)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(index);
        return Layout is { } layout
            ? layout.Encode(history, index, item => _rows.GetValueOrDefault(item), out _)
            : Vocabulary.EncodeHistory(history, index, MaxHistoryItems, Manifest.HistoryActions, out _);
    }

    /// <summary>Whether the key/value cache is left where ONNX Runtime allocates it (the device) rather than in reused host buffers.</summary>
    internal bool KeyValuesOnDevice { get; }

    internal OrtMemoryInfo KeyValueMemory => _kvMemory;

    internal InferenceSession ContextSession => _context;

    internal InferenceSession StepSession => _step;

    internal InferenceSession? DraftSession => _draft;

    /// <summary>
    /// Parallel decoding (<see cref="OnnxRuntimeOptions.DraftsPerBeam"/>): once every request's remaining completions
    /// number at most this many per beam, their remaining positions are scored in one run of the draft graph. 0 when
    /// off or when the folder has no draft graph (<see cref="OnnxModelManifest.Draft"/>).
    /// </summary>
    public int DraftsPerBeam { get; }

    /// <summary>Searches finished by parallel decoding since the model was loaded (the others stepped to their end).</summary>
    public long SearchesDrafted => Interlocked.Read(ref _searchesDrafted);

    /// <summary>Drafts (items) scored by the draft graph since the model was loaded.</summary>
    public long DraftsScored => Interlocked.Read(ref _draftsScored);

    /// <summary>
    /// Closes the per-node profiles of both graphs (with <see cref="OnnxRuntimeOptions.ProfilePrefix"/> set) and returns
    /// their paths; the sessions record nothing more.
    /// </summary>
    /// <returns>The context graph's profile and the step graph's.</returns>
    /// <exception cref="InvalidOperationException">The model was loaded without a profile prefix.</exception>
    public (string Context, string Step) EndProfiling()
    {
        var context = _context.EndProfiling();
        var step = _step.EndProfiling();
        return string.IsNullOrEmpty(context) || string.IsNullOrEmpty(step)
            ? throw new InvalidOperationException("The model was loaded without OnnxRuntimeOptions.ProfilePrefix: there is no profile to end.")
            : (context, step);
    }

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
        string[] files = manifest.Draft is { } draft ? [manifest.Context.File, manifest.Step.File, draft.File] : [manifest.Context.File, manifest.Step.File];
        var sessions = OnnxExecutionProviders.OpenGraphs(options, directory, files, "generative model", logger, out var provider, out var reason);
        try
        {
            OnnxContractValidator.Check(manifest, sessions[0], sessions[1], directory);
            if (sessions.Length > 2)
            {
                OnnxContractValidator.CheckDraft(manifest, sessions[2], directory);
            }

            var onDevice = provider == ExecutionProviderPreference.Cuda || forceKeyValuesOnDevice;
            var model = new OnnxGenerativeModel(manifest, sessions, provider, reason, onDevice, OnnxExecutionProviders.StateMemory(provider, options.CudaDeviceId), options.DraftsPerBeam);
            OnnxContractValidator.SmokeTest(model, directory);
            return model;
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
        if (requests.All(r => r.Context is null))
        {
            run.Context(requests.Select(r => r.HistoryTokens!).ToArray());
        }
        else
        {
            // Cached contexts join freshly read ones: read the histories that have none, then decode all together.
            var fresh = requests.Where(r => r.Context is null).ToArray();
            var read = fresh.Length == 0 ? [] : EncodeMany(fresh.Select(r => r.HistoryTokens!).ToArray());
            var next = 0;
            run.UseContexts(requests.Select(r => r.Context ?? read[next++]).ToArray());
        }

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
            if (DraftsPerBeam > 0 && TryFinishByDrafts(run, searches, step, tokens, rows, k))
            {
                break;
            }

            var scores = run.Step(step, tokens, rows, k);
            var width = k;
            var codes = Vocabulary.Sizes[step];
            if (batch == 1)
            {
                searches[0].Advance(scores.Slice(0, searches[0].Count * stride), stride, codes);
            }
            else
            {
                // The trie-masked selection of each request is independent: spread it over the cores ONNX Runtime just released.
                var buffer = run.Scores;
                Parallel.For(0, batch, b =>
                {
                    if (!searches[b].IsFinished)
                    {
                        searches[b].Advance(buffer.AsSpan(b * width * stride, searches[b].Count * stride), stride, codes);
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

    /// <summary>
    /// Parallel decoding: when every unfinished search's completions fit its draft budget, scores all their remaining
    /// positions in one run of the draft graph and finishes the searches. <paramref name="tokens"/> and
    /// <paramref name="rows"/> are what step <paramref name="step"/> would read for each request's <paramref name="k"/>
    /// beams; a draft starts with its beam's token and continues its beam's cache row.
    /// </summary>
    /// <returns>Whether the searches were finished.</returns>
    private bool TryFinishByDrafts(DecodeRun run, BeamSearchState[] searches, int step, long[] tokens, long[] rows, int k)
    {
        // Searches of prefixes (fewer positions than a whole ID) may share a batch: drafts need one length for all.
        var live = searches.Where(s => !s.IsFinished).ToArray();
        if (live.Select(s => s.Positions).Distinct().Count() != 1 || !live.All(s => s.CanDraft(Budget(s))))
        {
            return false;
        }

        var length = live[0].Positions - step;
        var drafts = new IReadOnlyList<BeamDraft>[searches.Length];
        var width = 1;
        for (var b = 0; b < searches.Length; b++)
        {
            drafts[b] = [];
            if (!searches[b].IsFinished && searches[b].TryDraft(Budget(searches[b]), out var listed))
            {
                drafts[b] = listed;
                width = Math.Max(width, listed.Count);
            }
        }

        var draftTokens = new long[searches.Length * width * length];
        var draftRows = new long[searches.Length * width];
        for (var b = 0; b < searches.Length; b++)
        {
            for (var d = 0; d < width; d++)
            {
                var at = (b * width) + d;
                if (d >= drafts[b].Count)
                {
                    // Padding drafts read the padding token and continue the cache row of the request's first beam; their scores are ignored.
                    draftRows[at] = rows[b * k];
                    continue;
                }

                var draft = drafts[b][d];
                draftRows[at] = rows[(b * k) + draft.Beam];
                draftTokens[at * length] = tokens[(b * k) + draft.Beam];
                for (var t = 1; t < length; t++)
                {
                    draftTokens[(at * length) + t] = Vocabulary.Offset(step + t - 1) + draft.Codes[t - 1];
                }
            }
        }

        run.Draft(step, draftTokens, draftRows, width, length);
        Interlocked.Add(ref _searchesDrafted, live.Length);
        Interlocked.Add(ref _draftsScored, drafts.Sum(d => (long)d.Count));
        var buffer = run.Scores;
        var stride = Manifest.MaxCodes;
        var sizes = Vocabulary.Sizes;
        Parallel.For(0, searches.Length, b =>
        {
            if (!searches[b].IsFinished)
            {
                searches[b].Complete(drafts[b], buffer.AsSpan(b * width * length * stride, drafts[b].Count * length * stride), stride, sizes);
            }
        });

        return true;
    }

    private int Budget(BeamSearchState search) => (int)Math.Min(int.MaxValue, (long)DraftsPerBeam * search.BeamWidth);

    /// <summary>
    /// Runs one search as a batch of one (<see cref="Decode"/>, so with parallel decoding when it is on). A
    /// <see cref="GenerativeRecall"/> over this model without a runner of its own uses this; put a
    /// <see cref="GenerativeMicroBatcher"/> in front to merge concurrent callers.
    /// </summary>
    /// <param name="historyTokens">The history as <see cref="EncodeHistory"/> writes it.</param>
    /// <param name="search">The search; advanced to its end.</param>
    /// <param name="cancellationToken">Checked before decoding.</param>
    /// <returns>The decoded IDs, most probable first.</returns>
    public ValueTask<IReadOnlyList<DecodedId>> SearchAsync(int[] historyTokens, BeamSearchState search, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Decode([new GenerativeDecodeRequest(historyTokens, search)])[0]);
    }

    /// <summary>Reads a history with the context graph and keeps the result, to decode it later without reading it again.</summary>
    /// <param name="historyTokens">The history as <see cref="OnnxGenerativeModel.EncodeHistory"/> writes it.</param>
    /// <returns>The context; about L × 2 × H × C × D floats.</returns>
    /// <exception cref="ArgumentException">The history is longer than the model reads or holds an unknown token.</exception>
    public GenerativeContext Encode(int[] historyTokens) => EncodeMany([historyTokens])[0];

    /// <summary>
    /// Scores items as the next item of a history: the log-probability of each semantic ID, code by code (teacher
    /// forcing: one step run per position for all candidates). IDs the model's vocabulary cannot write get negative
    /// infinity.
    /// </summary>
    /// <param name="context">The history's context (<see cref="Encode"/>).</param>
    /// <param name="candidates">The candidates' semantic IDs.</param>
    /// <returns>A log-probability per candidate, in order.</returns>
    public double[] Score(GenerativeContext context, IReadOnlyList<GenRec.SemanticIds.SemanticId> candidates)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(candidates);
        var scores = new double[candidates.Count];
        var known = Enumerable.Range(0, candidates.Count).Where(i => Vocabulary.Writes(candidates[i])).ToArray();
        foreach (var i in Enumerable.Range(0, candidates.Count).Except(known))
        {
            scores[i] = double.NegativeInfinity;
        }

        if (known.Length == 0)
        {
            return scores;
        }

        using var run = new DecodeRun(this);
        run.UseContexts([context]);
        var stride = Manifest.MaxCodes;
        var first = run.Step(0, [run.FirstToken(0)], [0], 1);
        var k = known.Length;
        for (var j = 0; j < k; j++)
        {
            scores[known[j]] = first[candidates[known[j]][0]];
        }

        for (var step = 1; step < Vocabulary.Positions; step++)
        {
            var tokens = new long[k];
            var rows = new long[k];
            for (var j = 0; j < k; j++)
            {
                tokens[j] = Vocabulary.Offset(step - 1) + candidates[known[j]][step - 1];
                rows[j] = step == 1 ? 0 : j;
            }

            var logProbs = run.Step(step, tokens, rows, k);
            for (var j = 0; j < k; j++)
            {
                scores[known[j]] += logProbs[(j * stride) + candidates[known[j]][step]];
            }
        }

        return scores;
    }

    private GenerativeContext[] EncodeMany(int[][] histories)
    {
        using var run = new DecodeRun(this);
        run.Context(histories);
        return run.ExportContexts(ModelId);
    }

    private static string Short(string hash) => string.IsNullOrEmpty(hash) ? "unhashed" : hash[..Math.Min(12, hash.Length)];

    /// <summary>Checks a history before it is decoded (alone or in a batch).</summary>
    /// <exception cref="ArgumentException">It is longer than the model reads, or holds a token outside the vocabulary.</exception>
    internal void CheckHistory(int[] tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (Layout is { } layout)
        {
            layout.Check(tokens, Manifest.Items.Length + 1);
            return;
        }

        if (tokens.Length > Manifest.HistoryTokens)
        {
            throw new ArgumentException($"A history of {tokens.Length} tokens is longer than the {Manifest.HistoryTokens} this model reads (encode it with the model's EncodeHistory).", nameof(tokens));
        }

        var size = Manifest.HistoryActions ? Vocabulary.SizeWithActions : Vocabulary.Size;
        foreach (var t in tokens)
        {
            if ((uint)t >= (uint)size)
            {
                throw new ArgumentException($"History token {t} is outside the model's vocabulary of {size} tokens{(Manifest.HistoryActions ? " (semantic-ID and action tokens)" : string.Empty)}.", nameof(tokens));
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _context.Dispose();
        _step.Dispose();
        _draft?.Dispose();
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
