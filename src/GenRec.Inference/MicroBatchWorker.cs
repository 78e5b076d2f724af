using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;

namespace GenRec.Inference;

/// <summary>
/// The batching core the SDK's micro-batchers share: a bounded queue (callers wait for room), one worker that takes
/// the first queued request, waits up to a time for others to join while a budget allows, drops the requests
/// cancelled meanwhile, runs the batch in one call and completes each caller with its result — or all of them with
/// the run's exception, never stopping the worker. Records the batch size and the queue wait.
/// </summary>
/// <typeparam name="TRequest">A request.</typeparam>
/// <typeparam name="TResult">Its result.</typeparam>
internal sealed class MicroBatchWorker<TRequest, TResult> : IAsyncDisposable
{
    private readonly int _maxBatchSize;
    private readonly TimeSpan _maxWait;
    private readonly Func<IReadOnlyList<TRequest>, TRequest, bool> _fits;
    private readonly Func<IReadOnlyList<TRequest>, IReadOnlyList<TResult>> _run;
    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _queueWait;
    private readonly string _owner;
    private readonly Channel<Pending> _queue;
    private readonly Task _worker;
    private long _batches;
    private long _requests;

    /// <summary>Starts the worker.</summary>
    /// <param name="maxBatchSize">The most requests in one run.</param>
    /// <param name="maxWait">How long the first request of a batch waits for others (zero: what is queued joins).</param>
    /// <param name="queueCapacity">Requests that may wait; callers beyond it wait for room.</param>
    /// <param name="fits">Whether a request may join a batch that already holds the given ones (the batch's budgets); a first request always runs.</param>
    /// <param name="run">Runs a batch: one result per request, in order.</param>
    /// <param name="batchSize">Where batch sizes are recorded.</param>
    /// <param name="queueWait">Where queue waits (ms) are recorded.</param>
    /// <param name="owner">The batcher's type name, for the disposed error.</param>
    public MicroBatchWorker(
        int maxBatchSize, TimeSpan maxWait, int queueCapacity, Func<IReadOnlyList<TRequest>, TRequest, bool> fits, Func<IReadOnlyList<TRequest>, IReadOnlyList<TResult>> run,
        Histogram<int> batchSize, Histogram<double> queueWait, string owner)
    {
        _maxBatchSize = maxBatchSize;
        _maxWait = maxWait;
        _fits = fits;
        _run = run;
        _batchSize = batchSize;
        _queueWait = queueWait;
        _owner = owner;
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(queueCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
        _worker = Task.Run(RunAsync);
    }

    /// <summary>Batches run so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Requests run so far.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Queues a request for the next batch and waits for its result.</summary>
    /// <param name="request">The request (checked by the caller).</param>
    /// <param name="cancellationToken">Cancels it while it waits.</param>
    /// <returns>Its result.</returns>
    /// <exception cref="ObjectDisposedException">The batcher is disposed.</exception>
    public async ValueTask<TResult> EnqueueAsync(TRequest request, CancellationToken cancellationToken)
    {
        var pending = new Pending(request, cancellationToken);
        try
        {
            await _queue.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException e)
        {
            throw new ObjectDisposedException(_owner, e);
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
        var batch = new List<Pending>(_maxBatchSize);
        var requests = new List<TRequest>(_maxBatchSize);
        bool TryAdd(Pending next)
        {
            if (batch.Count >= _maxBatchSize || !_fits(requests, next.Request))
            {
                return false;
            }

            batch.Add(next);
            requests.Add(next.Request);
            return true;
        }

        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            requests.Clear();
            if (!reader.TryRead(out var first))
            {
                continue;
            }

            batch.Add(first);
            requests.Add(first.Request);
            var full = false;
            if (_maxWait > TimeSpan.Zero)
            {
                using var timeout = new CancellationTokenSource(_maxWait);
                try
                {
                    while (!full && batch.Count < _maxBatchSize && await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false))
                    {
                        while (reader.TryPeek(out var next))
                        {
                            if (!TryAdd(next))
                            {
                                full = true;
                                break;
                            }

                            reader.TryRead(out _);
                        }
                    }
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested)
                {
                    // The batch waited long enough: run what it has.
                }
            }

            while (!full && reader.TryPeek(out var queued) && TryAdd(queued))
            {
                reader.TryRead(out _);
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
            _queueWait.Record(Stopwatch.GetElapsedTime(p.Enqueued, now).TotalMilliseconds);
        }

        _batchSize.Record(live.Count);
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _requests, live.Count);
        try
        {
            var results = _run([.. live.Select(p => p.Request)]);
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

    private sealed class Pending(TRequest request, CancellationToken cancellationToken)
    {
        public TRequest Request { get; } = request;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public long Enqueued { get; } = Stopwatch.GetTimestamp();

        public TaskCompletionSource<TResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
