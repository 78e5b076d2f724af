using System.Diagnostics.Metrics;

namespace GenRec.Cascade;

/// <summary>A recall stage and the number of candidates the cascade asks it for.</summary>
/// <param name="Stage">The recall stage.</param>
/// <param name="Quota">
/// How many candidates to ask the channel for; positive. <see langword="null"/> asks for the request's
/// <see cref="RecommendationRequest.Count"/>, which suits a single channel with no ranker.
/// </param>
public sealed record RecallChannel(IRecallStage Stage, int? Quota = null);

/// <summary>Options of a <see cref="CascadePipeline"/>.</summary>
public sealed class CascadeOptions
{
    /// <summary>
    /// How many merged candidates go to the ranking stage (the rest are dropped after merging).
    /// Default: 500. Allowed: 1 or more.
    /// </summary>
    public int RankingDepth { get; set; } = 500;

    /// <summary>Whether recall channels run concurrently. Default: <see langword="true"/>.</summary>
    public bool ConcurrentRecall { get; set; } = true;
}

/// <summary>
/// The classic recommendation cascade: several recall channels run (concurrently by default), their
/// candidates are merged round-robin by rank with duplicates and excluded items removed, at most
/// <see cref="CascadeOptions.RankingDepth"/> go to an optional ranking stage, and the list is truncated to
/// the request's count. Each stage's latency is recorded in the result and in the
/// <c>genrec.cascade.stage.duration</c> histogram of the <c>GenRec</c> meter.
/// </summary>
public sealed class CascadePipeline : IRecommender
{
    private static readonly Meter Meter = new("GenRec", "1.0");
    private static readonly Histogram<double> StageDuration =
        Meter.CreateHistogram<double>("genrec.cascade.stage.duration", "ms", "Time spent in one stage of a cascade.");

    private readonly RecallChannel[] _channels;
    private readonly IRankingStage? _ranker;
    private readonly CascadeOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates a cascade.</summary>
    /// <param name="name">The cascade's name, e.g. "dlrm".</param>
    /// <param name="channels">The recall channels, in merge priority order; at least one.</param>
    /// <param name="ranker">The ranking stage, or <see langword="null"/> to keep the merged order.</param>
    /// <param name="options">Options; default values when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock used to time stages; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">No channel, or a channel with a non-positive quota.</exception>
    public CascadePipeline(
        string name,
        IEnumerable<RecallChannel> channels,
        IRankingStage? ranker = null,
        CascadeOptions? options = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(channels);
        _channels = channels.ToArray();
        if (_channels.Length == 0)
        {
            throw new ArgumentException("A cascade needs at least one recall channel.", nameof(channels));
        }

        foreach (var channel in _channels)
        {
            if (channel.Quota is <= 0)
            {
                throw new ArgumentException(
                    $"Recall channel '{channel.Stage.Name}' has quota {channel.Quota}; a quota must be 1 or more.", nameof(channels));
            }
        }

        _options = options ?? new CascadeOptions();
        if (_options.RankingDepth <= 0)
        {
            throw new ArgumentException(
                $"{nameof(CascadeOptions)}.{nameof(CascadeOptions.RankingDepth)} is {_options.RankingDepth}; it must be 1 or more.", nameof(options));
        }

        Name = name;
        _ranker = ranker;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The recall channels, in merge priority order.</summary>
    public IReadOnlyList<RecallChannel> Channels => _channels;

    /// <summary>The ranking stage, if any.</summary>
    public IRankingStage? Ranker => _ranker;

    /// <inheritdoc />
    public async ValueTask<RecommendationResult> RecommendAsync(RecommendationRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var activity = GenRecDiagnostics.Source.StartActivity("genrec.cascade");
        activity?.SetTag("genrec.cascade", Name);
        activity?.SetTag("genrec.count", request.Count);
        var timings = new List<StageTiming>(_channels.Length + 2);

        // Recall.
        var recalled = new IReadOnlyList<Candidate>[_channels.Length];
        var recallTimes = new TimeSpan[_channels.Length];
        if (_options.ConcurrentRecall && _channels.Length > 1)
        {
            var tasks = new Task[_channels.Length];
            for (var i = 0; i < _channels.Length; i++)
            {
                var index = i;
                tasks[i] = Task.Run(async () => (recalled[index], recallTimes[index]) = await RecallOneAsync(index, request, cancellationToken).ConfigureAwait(false), cancellationToken);
            }

            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        else
        {
            for (var i = 0; i < _channels.Length; i++)
            {
                (recalled[i], recallTimes[i]) = await RecallOneAsync(i, request, cancellationToken).ConfigureAwait(false);
            }
        }

        for (var i = 0; i < _channels.Length; i++)
        {
            timings.Add(Record(new StageTiming(_channels[i].Stage.Name, StageKind.Recall, recallTimes[i], recalled[i].Count)));
        }

        // Merge.
        var start = _time.GetTimestamp();
        var merged = Merge(request, recalled, _ranker is null ? request.Count : _options.RankingDepth);
        timings.Add(Record(new StageTiming("merge", StageKind.Merge, _time.GetElapsedTime(start), merged.Count)));

        // Ranking and truncation.
        IReadOnlyList<Candidate> final = merged;
        if (_ranker is not null && merged.Count > 0)
        {
            start = _time.GetTimestamp();
            using var rank = GenRecDiagnostics.Source.StartActivity("genrec.rank");
            rank?.SetTag("genrec.stage", _ranker.Name);
            rank?.SetTag("genrec.candidates", merged.Count);
            var ranked = await _ranker.RankAsync(request, merged, cancellationToken).ConfigureAwait(false);
            timings.Add(Record(new StageTiming(_ranker.Name, StageKind.Ranking, _time.GetElapsedTime(start), ranked.Count)));
            final = ranked;
        }

        if (final.Count > request.Count)
        {
            final = final.Take(request.Count).ToArray();
        }

        activity?.SetTag("genrec.items", final.Count);
        return new RecommendationResult(final, timings);
    }

    private async Task<(IReadOnlyList<Candidate>, TimeSpan)> RecallOneAsync(int index, RecommendationRequest request, CancellationToken cancellationToken)
    {
        var channel = _channels[index];
        using var activity = GenRecDiagnostics.Source.StartActivity("genrec.recall");
        activity?.SetTag("genrec.stage", channel.Stage.Name);
        var start = _time.GetTimestamp();
        var candidates = await channel.Stage.RecallAsync(request, channel.Quota ?? request.Count, cancellationToken).ConfigureAwait(false);
        activity?.SetTag("genrec.candidates", candidates.Count);
        return (candidates, _time.GetElapsedTime(start));
    }

    private static List<Candidate> Merge(RecommendationRequest request, IReadOnlyList<Candidate>[] lists, int limit) =>
        CompositeRecall.Interleave(request, lists, limit);

    private StageTiming Record(StageTiming timing)
    {
        StageDuration.Record(
            timing.Elapsed.TotalMilliseconds,
            new KeyValuePair<string, object?>("cascade", Name),
            new KeyValuePair<string, object?>("stage", timing.Stage),
            new KeyValuePair<string, object?>("kind", timing.Kind.ToString()));
        return timing;
    }
}
