using System.Diagnostics.Metrics;

namespace GenRec.Inference;

/// <summary>Options of an <see cref="HstuMicroBatcher"/>.</summary>
public sealed class HstuBatcherOptions
{
    /// <summary>The most requests scored in one batch. Default: 32. Allowed: 1 or more.</summary>
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>How long the first request of a batch waits for others to join. Default: 2 ms. Zero: what is queued joins.</summary>
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// The most candidate slots in one batch, counted as its requests × its longest candidate list (shorter lists are
    /// padded to it in the candidates graph). A request over the budget on its own still runs, alone. Default: 16,384.
    /// </summary>
    public int MaxBatchCandidates { get; set; } = 16_384;

    /// <summary>Requests that may wait in the queue; a caller beyond it waits for room until its cancellation token fires. Default: 1024.</summary>
    public int QueueCapacity { get; set; } = 1024;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxBatchSize, nameof(MaxBatchSize));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxBatchCandidates, nameof(MaxBatchCandidates));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(QueueCapacity, nameof(QueueCapacity));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxWait, TimeSpan.Zero, nameof(MaxWait));
    }
}

/// <summary>
/// An HSTU ranking stage that merges concurrent requests into batches: one run of the history graph for the batch's
/// histories and the candidates graph over [requests × candidates] micro-batches (<see cref="HstuOnnxRanker.Score(IReadOnlyList{ValueTuple{RecommendationRequest, IReadOnlyList{Candidate}}})"/>),
/// the same scores as one request at a time. The work runs on the batcher's worker, not on the caller's thread (an
/// Orleans grain awaits it without holding its scheduler). Records <c>genrec.hstu.batch.size</c> and
/// <c>genrec.hstu.queue.wait</c> on the "GenRec" meter.
/// </summary>
public sealed class HstuMicroBatcher : IRankingStage, IAsyncDisposable, IDisposable
{
    private static readonly Meter Meter = new("GenRec");
    private static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("genrec.hstu.batch.size", description: "Ranking requests scored together in one batch.");
    private static readonly Histogram<double> QueueWait = Meter.CreateHistogram<double>("genrec.hstu.queue.wait", unit: "ms", description: "Time a ranking request waited before its batch ran.");
    private readonly HstuOnnxRanker _ranker;
    private readonly MicroBatchWorker<(RecommendationRequest Request, IReadOnlyList<Candidate> Candidates), double[]> _worker;

    /// <summary>Starts the batcher's worker.</summary>
    /// <param name="ranker">The ranker; not disposed by the batcher.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public HstuMicroBatcher(HstuOnnxRanker ranker, HstuBatcherOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(ranker);
        var o = options ?? new HstuBatcherOptions();
        o.Validate();
        _ranker = ranker;
        _worker = new MicroBatchWorker<(RecommendationRequest Request, IReadOnlyList<Candidate> Candidates), double[]>(
            o.MaxBatchSize,
            o.MaxWait,
            o.QueueCapacity,
            (batch, next) => (batch.Count + 1) * Math.Max(batch.Max(r => r.Candidates.Count), next.Candidates.Count) <= o.MaxBatchCandidates,
            batch => ranker.Score(batch),
            BatchSize,
            QueueWait,
            nameof(HstuMicroBatcher));
    }

    /// <inheritdoc />
    public string Name => _ranker.Name;

    /// <summary>Batches run so far.</summary>
    public long Batches => _worker.Batches;

    /// <summary>Requests scored so far.</summary>
    public long Requests => _worker.Requests;

    /// <inheritdoc />
    /// <exception cref="ObjectDisposedException">The batcher is disposed.</exception>
    public async ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        cancellationToken.ThrowIfCancellationRequested();
        if (candidates.Count == 0)
        {
            return candidates;
        }

        var scores = await _worker.EnqueueAsync((request, candidates), cancellationToken).ConfigureAwait(false);
        return RankingStage.Order(candidates, scores);
    }

    /// <summary>Stops taking requests, finishes the queued ones and stops the worker.</summary>
    /// <returns>A task that completes when the worker has stopped.</returns>
    public ValueTask DisposeAsync() => _worker.DisposeAsync();

    /// <summary>Stops taking requests, finishes the queued ones and waits for the worker (blocking; prefer <see cref="DisposeAsync"/>).</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
