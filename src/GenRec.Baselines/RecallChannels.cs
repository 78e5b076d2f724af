namespace GenRec.Baselines;

/// <summary>Base of the classical channels: turns scored catalogue indices into candidates, skipping excluded items.</summary>
internal abstract class ClassicChannel(UserProfile.Cache profiles) : IRecallStage
{
    protected UserProfile.Cache Profiles { get; } = profiles;

    protected InteractionStatistics Stats => Profiles.Stats;

    public abstract string Name { get; }

    public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        cancellationToken.ThrowIfCancellationRequested();
        var result = new List<Candidate>(count);
        foreach (var (item, score) in Ranked(Profiles.For(request)))
        {
            var id = Stats.Ids[item];
            if (!request.IsExcluded(id))
            {
                result.Add(new Candidate(id, score, Name));
                if (result.Count == count)
                {
                    break;
                }
            }
        }

        return ValueTask.FromResult<IReadOnlyList<Candidate>>(result);
    }

    /// <summary>Catalogue indices with scores, best first; may be lazy and endless-free.</summary>
    protected abstract IEnumerable<(int Item, double Score)> Ranked(UserProfile profile);

    /// <summary>Orders a sparse score map, ties by global popularity, then appends the rest by popularity.</summary>
    protected IEnumerable<(int Item, double Score)> ThenPopularity<T>(Dictionary<int, T> scores, bool fill)
        where T : IConvertible
    {
        var ordered = scores
            .Select(p => (Item: p.Key, Score: p.Value.ToDouble(System.Globalization.CultureInfo.InvariantCulture)))
            .OrderByDescending(p => p.Score)
            .ThenBy(p => Stats.PopularityRank[p.Item]);
        foreach (var p in ordered)
        {
            yield return p;
        }

        if (fill)
        {
            foreach (var item in Stats.ByPopularity)
            {
                if (!scores.ContainsKey(item))
                {
                    yield return (item, 0);
                }
            }
        }
    }
}

/// <summary>Global popularity: training counts, ties by ascending item id.</summary>
internal sealed class PopularityRecall(UserProfile.Cache profiles) : ClassicChannel(profiles)
{
    public override string Name => "popularity";

    protected override IEnumerable<(int Item, double Score)> Ranked(UserProfile profile) =>
        Stats.ByPopularity.Select(i => (i, (double)Stats.Count[i]));
}

/// <summary>Recent popularity: counts over the last interactions before the request time.</summary>
internal sealed class RecentPopularityRecall(UserProfile.Cache profiles) : ClassicChannel(profiles)
{
    public override string Name => "recent-popularity";

    protected override IEnumerable<(int Item, double Score)> Ranked(UserProfile profile) =>
        ThenPopularity(profile.RecentCount, fill: false);
}

/// <summary>
/// Item-to-item co-occurrence over the user's recent items; when it has fewer candidates than asked, the list is
/// filled with the most popular items, so it always returns the count asked for.
/// </summary>
internal sealed class ItemCfRecall(UserProfile.Cache profiles) : ClassicChannel(profiles)
{
    public override string Name => "itemcf";

    protected override IEnumerable<(int Item, double Score)> Ranked(UserProfile profile) =>
        ThenPopularity(profile.ItemCf, fill: true);
}

/// <summary>Genre affinity: items in the genres of the user's recent history, weighted by log popularity.</summary>
internal sealed class GenreAffinityRecall(UserProfile.Cache profiles) : ClassicChannel(profiles)
{
    private const int FirstSelected = 1_024;

    public override string Name => "genre";

    protected override IEnumerable<(int Item, double Score)> Ranked(UserProfile profile)
    {
        var n = Stats.Ids.Length;
        var scores = new double[n];
        for (var i = 0; i < n; i++)
        {
            scores[i] = profile.GenreScore(Stats, i) * Math.Log(1 + Stats.Count[i]);
        }

        // By score, then by popularity: a strict order (popularity ranks are distinct). A request takes its quota and
        // skips what it excludes, so the best few are selected first (n log k, not a sort of the whole catalogue: that
        // was 80 % of a 10 M-event cascade's training time at 100,000 items) and the rest sorted only if asked for.
        var stats = Stats;
        int Compare(int a, int b)
        {
            var byScore = scores[b].CompareTo(scores[a]);
            return byScore != 0 ? byScore : stats.PopularityRank[a].CompareTo(stats.PopularityRank[b]);
        }

        var first = Math.Min(n, FirstSelected);
        var worstFirst = new PriorityQueue<int, int>(first + 1, Comparer<int>.Create((a, b) => Compare(b, a)));
        for (var i = 0; i < n; i++)
        {
            if (worstFirst.Count < first)
            {
                worstFirst.Enqueue(i, i);
            }
            else
            {
                worstFirst.EnqueueDequeue(i, i);
            }
        }

        var best = worstFirst.UnorderedItems.Select(e => e.Element).ToArray();
        Array.Sort(best, Compare);
        foreach (var item in best)
        {
            yield return (item, scores[item]);
        }

        if (first == n)
        {
            yield break;
        }

        var all = Enumerable.Range(0, n).ToArray();
        Array.Sort(all, Compare);
        for (var k = first; k < n; k++)
        {
            yield return (all[k], scores[all[k]]);
        }
    }
}
