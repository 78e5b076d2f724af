using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
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
    private readonly MicroBatcherOptions _options;
    private readonly Channel<Pending> _queue;
    private readonly Task _worker;
    private long _batches;
    private long _requests;

    /// <summary>Starts the batcher's worker.</summary>
    /// <param name="model">The model; not disposed by the batcher.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    public GenerativeMicroBatcher(OnnxGenerativeModel model, MicroBatcherOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _options = options ?? new MicroBatcherOptions();
        _options.Validate();
        _model = model;
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(_options.QueueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
        _worker = Task.Run(RunAsync);
    }

    /// <summary>Batches run so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Requests decoded so far.</summary>
    public long Requests => Interlocked.Read(ref _requests);

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
    public async ValueTask<IReadOnlyList<DecodedId>> DecodeAsync(GenerativeDecodeRequest request, CancellationToken cancellationToken = default)
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

        var pending = new Pending(request, cancellationToken);
        try
        {
            await _queue.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException e)
        {
            throw new ObjectDisposedException(nameof(GenerativeMicroBatcher), e);
        }

        using (cancellationToken.Register(static p => ((Pending)p!).Completion.TrySetCanceled(), pending))
        {
            return await pending.Completion.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Stops taking requests, finishes the queued ones and stops the worker.</summary>
    /// <returns>A task that completes when the worker has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _worker.ConfigureAwait(false);
    }

    /// <summary>Stops taking requests, finishes the queued ones and waits for the worker (blocking; prefer <see cref="DisposeAsync"/>).</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var batch = new Batch(_options);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            if (!reader.TryRead(out var first))
            {
                continue;
            }

            batch.Add(first);
            if (_options.MaxWait > TimeSpan.Zero)
            {
                using var timeout = new CancellationTokenSource(_options.MaxWait);
                try
                {
                    while (!batch.IsFull && await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false))
                    {
                        while (reader.TryPeek(out var next) && batch.TryAdd(next))
                        {
                            reader.TryRead(out _);
                        }
                    }
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested)
                {
                    // The batch waited long enough: run what it has.
                }
            }

            while (reader.TryPeek(out var queued) && batch.TryAdd(queued))
            {
                reader.TryRead(out _);
            }

            Run(batch.Requests);
        }
    }

    /// <summary>A batch being filled, within the request, token and beam budgets.</summary>
    private sealed class Batch(MicroBatcherOptions options)
    {
        private int _longest;
        private int _beams;

        public List<Pending> Requests { get; } = new(options.MaxBatchSize);

        /// <summary>Whether nothing more can join (the token and beam budgets are checked per request).</summary>
        public bool IsFull { get; private set; }

        public void Clear()
        {
            Requests.Clear();
            _longest = 0;
            _beams = 0;
            IsFull = false;
        }

        public void Add(Pending p)
        {
            Requests.Add(p);
            _longest = Math.Max(_longest, p.Tokens);
            _beams += p.Beams;
            IsFull = Requests.Count >= options.MaxBatchSize;
        }

        public bool TryAdd(Pending p)
        {
            if (IsFull || (Requests.Count + 1) * Math.Max(_longest, p.Tokens) > options.MaxBatchTokens || _beams + p.Beams > options.MaxBatchBeams)
            {
                IsFull = true;
                return false;
            }

            Add(p);
            return true;
        }
    }

    private void Run(List<Pending> batch)
    {
        var live = batch.Where(p => !p.CancellationToken.IsCancellationRequested && !p.Completion.Task.IsCompleted).ToList();
        foreach (var dropped in batch.Except(live))
        {
            dropped.Completion.TrySetCanceled(dropped.CancellationToken);
        }

        if (live.Count == 0)
        {
            return;
        }

        var now = Stopwatch.GetTimestamp();
        foreach (var p in live)
        {
            QueueWait.Record(Stopwatch.GetElapsedTime(p.Enqueued, now).TotalMilliseconds);
        }

        BatchSize.Record(live.Count);
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _requests, live.Count);
        try
        {
            var results = _model.Decode(live.Select(p => p.Request).ToArray());
            for (var i = 0; i < live.Count; i++)
            {
                live[i].Completion.TrySetResult(results[i]);
            }
        }
        catch (Exception e)
        {
            // A failure of the runtime fails the batch's requests, never the worker.
            foreach (var p in live)
            {
                p.Completion.TrySetException(e);
            }
        }
    }

    private sealed class Pending(GenerativeDecodeRequest request, CancellationToken cancellationToken)
    {
        public GenerativeDecodeRequest Request { get; } = request;

        /// <summary>History tokens once the left padding is trimmed (what the context pass reads).</summary>
        public int Tokens { get; } = request.Context is { } c ? c.Length + 1
            : Math.Max(2, request.HistoryTokens!.Length - request.HistoryTokens.TakeWhile(t => t == SemanticIdVocabulary.Pad).Count());

        /// <summary>The beam width.</summary>
        public int Beams { get; } = request.Search.BeamWidth;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public long Enqueued { get; } = Stopwatch.GetTimestamp();

        public TaskCompletionSource<IReadOnlyList<DecodedId>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
