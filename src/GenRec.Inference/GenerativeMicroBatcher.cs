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
    /// Requests that may wait in the queue; a caller beyond it waits for room (back-pressure) until its
    /// cancellation token fires. Default: 1024. Allowed: 1 or more.
    /// </summary>
    public int QueueCapacity { get; set; } = 1024;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxBatchSize, nameof(MaxBatchSize));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(QueueCapacity, nameof(QueueCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxWait, TimeSpan.Zero, nameof(MaxWait));
    }
}

/// <summary>
/// Merges concurrent decode requests into batches (up to <see cref="MicroBatcherOptions.MaxBatchSize"/>, waiting at
/// most <see cref="MicroBatcherOptions.MaxWait"/> for a batch to fill): one context run for the batch's histories
/// and one step run per code position for all their beams. A bounded queue pushes back on callers; a request
/// cancelled before its batch runs is dropped from it. Records <c>genrec.inference.batch.size</c> and
/// <c>genrec.inference.queue.wait</c> on the "GenRec" meter.
/// </summary>
public sealed class GenerativeMicroBatcher : IGenerativeSearchRunner, IAsyncDisposable
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
    public async ValueTask<IReadOnlyList<DecodedId>> SearchAsync(int[] historyTokens, BeamSearchState search, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(search);
        _model.CheckHistory(historyTokens);
        var pending = new Pending(new GenerativeDecodeRequest(historyTokens, search), cancellationToken);
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

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Pending>(_options.MaxBatchSize);
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
                    while (batch.Count < _options.MaxBatchSize && await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false))
                    {
                        while (batch.Count < _options.MaxBatchSize && reader.TryRead(out var next))
                        {
                            batch.Add(next);
                        }
                    }
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested)
                {
                    // The batch waited long enough: run what it has.
                }
            }

            while (batch.Count < _options.MaxBatchSize && reader.TryRead(out var queued))
            {
                batch.Add(queued);
            }

            Run(batch);
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

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public long Enqueued { get; } = Stopwatch.GetTimestamp();

        public TaskCompletionSource<IReadOnlyList<DecodedId>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
