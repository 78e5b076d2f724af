using System.Diagnostics.Metrics;
using GenRec.Generative;

namespace GenRec.Inference;

/// <summary>Options of a <see cref="GenerativeMicroBatcher"/>.</summary>
public sealed class MicroBatcherOptions
{
    /// <summary>The most requests decoded in one batch. Default: 32. Allowed: 1 or more.</summary>
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>
    /// How long the first request of a batch waits for others to join. Default: 2 ms. Zero: a batch is whatever is
    /// queued when the worker gets to it (requests still merge under load).
    /// </summary>
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// The most history tokens in one batch, counted as the batch's requests × its longest (left-padding trimmed)
    /// history: the context pass's memory and time grow with it (attention quadratically in the history), so long
    /// histories make smaller batches. A request over the budget on its own still runs, alone. Default: 8192.
    /// </summary>
    public int MaxBatchTokens { get; set; } = 8192;

    /// <summary>The most beams (summed beam widths) in one batch. Default: 4096. A wider request still runs, alone.</summary>
    public int MaxBatchBeams { get; set; } = 4096;

    /// <summary>
    /// Requests that may wait in the queue; a caller beyond it waits for room (back-pressure) until its
    /// cancellation token fires. Default: 1024. Allowed: 1 or more.
    /// </summary>
    public int QueueCapacity { get; set; } = 1024;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxBatchSize, nameof(MaxBatchSize));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(QueueCapacity, nameof(QueueCapacity));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxBatchTokens, nameof(MaxBatchTokens));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxBatchBeams, nameof(MaxBatchBeams));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxWait, TimeSpan.Zero, nameof(MaxWait));
    }
}

/// <summary>
/// Merges concurrent decode requests into batches (up to <see cref="MicroBatcherOptions.MaxBatchSize"/> requests within
/// a token and a beam budget, waiting at most <see cref="MicroBatcherOptions.MaxWait"/> for a batch to fill): one context run for the batch's histories
/// and one step run per code position for all their beams. A bounded queue pushes back on callers; a request
/// cancelled before its batch runs is dropped from it. Records <c>genrec.inference.batch.size</c> and
/// <c>genrec.inference.queue.wait</c> on the "GenRec" meter.
/// </summary>
public sealed class GenerativeMicroBatcher : IGenerativeSearchRunner, IAsyncDisposable, IDisposable
{
    private static readonly Meter Meter = new("GenRec");
    private static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("genrec.inference.batch.size", description: "Requests decoded together in one batch.");
    private static readonly Histogram<double> QueueWait = Meter.CreateHistogram<double>("genrec.inference.queue.wait", unit: "ms", description: "Time a request waited before its batch ran.");
    private readonly OnnxGenerativeModel _model;
    private readonly MicroBatchWorker<Sized, IReadOnlyList<DecodedId>> _worker;

    /// <summary>Starts the batcher's worker.</summary>
    /// <param name="model">The model; not disposed by the batcher.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    public GenerativeMicroBatcher(OnnxGenerativeModel model, MicroBatcherOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var o = options ?? new MicroBatcherOptions();
        o.Validate();
        _model = model;
        _worker = new MicroBatchWorker<Sized, IReadOnlyList<DecodedId>>(
            o.MaxBatchSize,
            o.MaxWait,
            o.QueueCapacity,
            (batch, next) => (batch.Count + 1) * Math.Max(batch.Max(r => r.Tokens), next.Tokens) <= o.MaxBatchTokens && batch.Sum(r => r.Beams) + next.Beams <= o.MaxBatchBeams,
            batch => model.Decode([.. batch.Select(r => r.Request)]),
            BatchSize,
            QueueWait,
            nameof(GenerativeMicroBatcher));
    }

    /// <summary>Batches run so far.</summary>
    public long Batches => _worker.Batches;

    /// <summary>Requests decoded so far.</summary>
    public long Requests => _worker.Requests;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The history is longer than the model reads or holds an unknown token (checked before queuing, so it fails alone).</exception>
    /// <exception cref="ObjectDisposedException">The batcher is disposed.</exception>
    public ValueTask<IReadOnlyList<DecodedId>> SearchAsync(int[] historyTokens, BeamSearchState search, CancellationToken cancellationToken = default)
    {
        _model.CheckHistory(historyTokens);
        return DecodeAsync(new GenerativeDecodeRequest(historyTokens, search), cancellationToken);
    }

    /// <summary>Queues a request (over a history or a cached context) for the next batch.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels it while it waits.</param>
    /// <returns>Its decoded IDs, most probable first.</returns>
    /// <exception cref="ArgumentException">The history is invalid, or the context comes from another model.</exception>
    /// <exception cref="ObjectDisposedException">The batcher is disposed.</exception>
    public ValueTask<IReadOnlyList<DecodedId>> DecodeAsync(GenerativeDecodeRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.HistoryTokens is { } tokens)
        {
            _model.CheckHistory(tokens);
        }
        else if (request.Context!.ModelId != _model.ModelId)
        {
            throw new ArgumentException($"The context was computed by model {request.Context.ModelId}; this batcher serves {_model.ModelId}.", nameof(request));
        }

        return _worker.EnqueueAsync(new Sized(request), cancellationToken);
    }

    /// <summary>Stops taking requests, finishes the queued ones and stops the worker.</summary>
    /// <returns>A task that completes when the worker has stopped.</returns>
    public ValueTask DisposeAsync() => _worker.DisposeAsync();

    /// <summary>Stops taking requests, finishes the queued ones and waits for the worker (blocking; prefer <see cref="DisposeAsync"/>).</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>A request with what the batch budgets count.</summary>
    private sealed class Sized(GenerativeDecodeRequest request)
    {
        public GenerativeDecodeRequest Request { get; } = request;

        /// <summary>History tokens once the left padding is trimmed (what the context pass reads).</summary>
        public int Tokens { get; } = request.Context is { } c ? c.Length + 1
            : Math.Max(2, request.HistoryTokens!.Length - request.HistoryTokens.TakeWhile(t => t == SemanticIdVocabulary.Pad).Count());

        /// <summary>The beam width.</summary>
        public int Beams { get; } = request.Search.BeamWidth;
    }
}
