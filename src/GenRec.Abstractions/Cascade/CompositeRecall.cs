namespace GenRec.Cascade;

/// <summary>How a <see cref="CompositeRecall"/> merges its channels' lists.</summary>
public enum RecallMerge
{
    /// <summary>By rank, round-robin: the first of each channel, then the second of each... (as <see cref="CascadePipeline"/> merges).</summary>
    Interleave = 0,

    /// <summary>
    /// Reciprocal-rank fusion: an item's score is the sum over the channels that return it of weight / (60 + rank), so
    /// an item several channels agree on rises above one that a single channel ranks a little higher.
    /// </summary>
    ReciprocalRank = 1,
}

/// <summary>
/// Several recall channels as one recall stage, merged by rank (interleaved, or by reciprocal-rank fusion), each item
/// once, excluded items skipped. Lets a whole recall layer be replaced, blended or shadowed as one stage, and is the
/// union of dense and generative retrieval (LIGER) when its channels are those two.
/// </summary>
public sealed class CompositeRecall : IRecallStage
{
    /// <summary>The rank offset of reciprocal-rank fusion (the usual 60).</summary>
    public const int FusionRankOffset = 60;

    private readonly RecallChannel[] _channels;
    private readonly double[] _weights;

    /// <summary>Creates the stage.</summary>
    /// <param name="name">Its name.</param>
    /// <param name="channels">The channels with their quotas; at least one.</param>
    /// <param name="merge">How the lists are merged. Default: <see cref="RecallMerge.Interleave"/>.</param>
    /// <param name="weights">
    /// <see cref="RecallMerge.ReciprocalRank"/>: each channel's weight, in channel order (default: 1 each); every
    /// weight finite and not negative.
    /// </param>
    /// <exception cref="ArgumentException">No channel, or weights of another count or out of range.</exception>
    public CompositeRecall(string name, IEnumerable<RecallChannel> channels, RecallMerge merge = RecallMerge.Interleave, IReadOnlyList<double>? weights = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(channels);
        _channels = channels.ToArray();
        if (_channels.Length == 0)
        {
            throw new ArgumentException("A composite recall needs at least one channel.", nameof(channels));
        }

        _weights = weights?.ToArray() ?? [.. _channels.Select(_ => 1.0)];
        if (_weights.Length != _channels.Length || _weights.Any(w => !double.IsFinite(w) || w < 0))
        {
            throw new ArgumentException($"Give one finite, non-negative weight per channel ({_channels.Length}); got [{string.Join(", ", _weights)}].", nameof(weights));
        }

        Name = name;
        Merge = merge;
    }

    /// <summary>How the lists are merged.</summary>
    public RecallMerge Merge { get; }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The channels, in merge priority order.</summary>
    public IReadOnlyList<RecallChannel> Channels => _channels;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var lists = await Task.WhenAll(_channels.Select(c => c.Stage.RecallAsync(request, c.Quota ?? count, cancellationToken).AsTask())).ConfigureAwait(false);
        return Merge == RecallMerge.ReciprocalRank ? Fuse(request, lists, _weights, count) : Interleave(request, lists, count);
    }

    /// <summary>Reciprocal-rank fusion of the lists; ties keep the order in which items were first met (by rank, then channel).</summary>
    internal static List<Candidate> Fuse(RecommendationRequest request, IReadOnlyList<Candidate>[] lists, double[] weights, int limit)
    {
        var scores = new Dictionary<ItemId, (double Score, int First, string Source)>();
        var order = 0;
        var longest = lists.Length == 0 ? 0 : lists.Max(l => l.Count);
        for (var rank = 0; rank < longest; rank++)
        {
            for (var c = 0; c < lists.Length; c++)
            {
                if (rank >= lists[c].Count || request.IsExcluded(lists[c][rank].Item))
                {
                    continue;
                }

                var item = lists[c][rank].Item;
                var add = weights[c] / (FusionRankOffset + rank + 1);
                scores[item] = scores.TryGetValue(item, out var s) ? (s.Score + add, s.First, s.Source) : (add, order++, lists[c][rank].Source);
            }
        }

        return [.. scores.OrderByDescending(p => p.Value.Score).ThenBy(p => p.Value.First).Take(limit).Select(p => new Candidate(p.Key, p.Value.Score, p.Value.Source))];
    }

    /// <summary>
    /// Interleaves lists by rank, keeping each item's first occurrence and skipping excluded items, up to
    /// <paramref name="limit"/>; the first list alone fills the first <paramref name="lead"/> places.
    /// </summary>
    internal static List<Candidate> Interleave(RecommendationRequest request, IReadOnlyList<Candidate>[] lists, int limit, int lead = 0)
    {
        var merged = new List<Candidate>(Math.Min(limit, lists.Sum(l => l.Count)));
        var seen = new HashSet<ItemId>();
        bool Add(Candidate candidate)
        {
            if (!request.IsExcluded(candidate.Item) && seen.Add(candidate.Item))
            {
                merged.Add(candidate);
            }

            return merged.Count < limit;
        }

        var skip = 0; // of the first list, read before the interleave
        while (lists.Length > 0 && skip < lists[0].Count && merged.Count < Math.Min(lead, limit))
        {
            Add(lists[0][skip++]);
        }

        var longest = lists.Length == 0 ? 0 : lists.Select((l, i) => l.Count - (i == 0 ? skip : 0)).Max();
        for (var rank = 0; rank < longest && merged.Count < limit; rank++)
        {
            for (var i = 0; i < lists.Length; i++)
            {
                var at = rank + (i == 0 ? skip : 0);
                if (at < lists[i].Count && !Add(lists[i][at]))
                {
                    break;
                }
            }
        }

        return merged;
    }
}
