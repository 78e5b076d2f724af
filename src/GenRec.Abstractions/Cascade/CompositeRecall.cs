namespace GenRec.Cascade;

/// <summary>
/// Several recall channels as one recall stage, merged the way <see cref="CascadePipeline"/> merges them: the lists
/// interleaved by rank (the first of each channel, then the second of each...), each item once, excluded items
/// skipped. Lets a whole recall layer be replaced, blended or shadowed as one stage.
/// </summary>
public sealed class CompositeRecall : IRecallStage
{
    private readonly RecallChannel[] _channels;

    /// <summary>Creates the stage.</summary>
    /// <param name="name">Its name.</param>
    /// <param name="channels">The channels with their quotas; at least one.</param>
    public CompositeRecall(string name, IEnumerable<RecallChannel> channels)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(channels);
        _channels = channels.ToArray();
        if (_channels.Length == 0)
        {
            throw new ArgumentException("A composite recall needs at least one channel.", nameof(channels));
        }

        Name = name;
    }

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
        return Interleave(request, lists, count);
    }

    /// <summary>Interleaves lists by rank, keeping each item's first occurrence and skipping excluded items, up to <paramref name="limit"/>.</summary>
    internal static List<Candidate> Interleave(RecommendationRequest request, IReadOnlyList<Candidate>[] lists, int limit)
    {
        var merged = new List<Candidate>(Math.Min(limit, lists.Sum(l => l.Count)));
        var seen = new HashSet<ItemId>();
        var longest = lists.Length == 0 ? 0 : lists.Max(l => l.Count);
        for (var rank = 0; rank < longest && merged.Count < limit; rank++)
        {
            foreach (var list in lists)
            {
                if (rank >= list.Count)
                {
                    continue;
                }

                var candidate = list[rank];
                if (!request.IsExcluded(candidate.Item) && seen.Add(candidate.Item))
                {
                    merged.Add(candidate);
                    if (merged.Count == limit)
                    {
                        break;
                    }
                }
            }
        }

        return merged;
    }
}
