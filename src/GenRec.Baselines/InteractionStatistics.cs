using GenRec.Data;

namespace GenRec.Baselines;

/// <summary>
/// What the classical cascade learns from the training interactions: per-item counts, ratings and first-seen
/// times, a time-ordered event log for windowed popularity, item genres and the item-to-item neighbour lists.
/// Items are addressed by a dense index over the catalogue.
/// </summary>
internal sealed class InteractionStatistics
{
    public InteractionStatistics(IReadOnlyList<Interaction> train, IReadOnlyList<ItemId> catalogue, IReadOnlyDictionary<ItemId, ItemRecord> items, ClassicRecallOptions options)
    {
        Options = options;
        Ids = catalogue.ToArray();
        Index = new Dictionary<ItemId, int>(Ids.Length);
        for (var i = 0; i < Ids.Length; i++)
        {
            Index[Ids[i]] = i;
        }

        var n = Ids.Length;
        Count = new int[n];
        var ratingSum = new double[n];
        var ratingCount = new int[n];
        FirstSeen = new long[n];
        Array.Fill(FirstSeen, long.MaxValue);
        foreach (var interaction in train)
        {
            if (!Index.TryGetValue(interaction.Item, out var i))
            {
                throw new ArgumentException($"Training interaction at row {interaction.Row} names item {interaction.Item}, which is not in the catalogue.", nameof(train));
            }

            Count[i]++;
            if (!float.IsNaN(interaction.Rating))
            {
                ratingSum[i] += interaction.Rating;
                ratingCount[i]++;
            }

            FirstSeen[i] = Math.Min(FirstSeen[i], interaction.Timestamp);
        }

        // Popularity order: count descending, ties by ascending id (the shared scorer's popularity baseline).
        ByPopularity = Enumerable.Range(0, n).OrderByDescending(i => Count[i]).ThenBy(i => Ids[i]).ToArray();
        PopularityRank = new int[n];
        for (var r = 0; r < n; r++)
        {
            PopularityRank[ByPopularity[r]] = r + 1;
        }

        // Ratings shrunk towards the global mean (a Bayesian average with 10 pseudo-ratings).
        var totalCount = ratingCount.Sum();
        var globalMean = totalCount > 0 ? ratingSum.Sum() / totalCount : 0;
        MeanRating = new float[n];
        for (var i = 0; i < n; i++)
        {
            MeanRating[i] = (float)((ratingSum[i] + (10 * globalMean)) / (ratingCount[i] + 10));
        }

        // Time-ordered log for windowed popularity.
        var ordered = train.Select(t => (t.Timestamp, Item: Index[t.Item])).OrderBy(t => t.Timestamp).ToArray();
        LogTimes = ordered.Select(o => o.Timestamp).ToArray();
        LogItems = ordered.Select(o => o.Item).ToArray();

        // Genres and release years.
        var genreNames = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        Genres = new int[n][];
        ReleaseYear = new float[n];
        for (var i = 0; i < n; i++)
        {
            if (items.TryGetValue(Ids[i], out var record))
            {
                Genres[i] = record.Categories.Select(g => genreNames.TryGetValue(g, out var gi) ? gi : genreNames[g] = genreNames.Count).Distinct().ToArray();
                ReleaseYear[i] = record.PublishedAt is { } p ? p.Year : float.NaN;
            }
            else
            {
                Genres[i] = [];
                ReleaseYear[i] = float.NaN;
            }
        }

        GenreCount = genreNames.Count;
        Neighbours = ItemCooccurrence.Build(train, Index, Count, options);
    }

    public ClassicRecallOptions Options { get; }

    public ItemId[] Ids { get; }

    public Dictionary<ItemId, int> Index { get; }

    public int[] Count { get; }

    public int[] ByPopularity { get; }

    public int[] PopularityRank { get; }

    public float[] MeanRating { get; }

    public long[] FirstSeen { get; }

    public long[] LogTimes { get; }

    public int[] LogItems { get; }

    public int[][] Genres { get; }

    public int GenreCount { get; }

    public float[] ReleaseYear { get; }

    public (int[] Items, float[] Weights)[] Neighbours { get; }

    /// <summary>The index of the first log entry at or after <paramref name="time"/>.</summary>
    public int LogPosition(long time)
    {
        int lo = 0, hi = LogTimes.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (LogTimes[mid] < time)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}

/// <summary>Sequence-aware item-to-item co-occurrence with cosine normalisation.</summary>
internal static class ItemCooccurrence
{
    public static (int[] Items, float[] Weights)[] Build(IReadOnlyList<Interaction> train, Dictionary<ItemId, int> index, int[] count, ClassicRecallOptions options)
    {
        var n = count.Length;
        var pairs = new Dictionary<int, float>[n];
        for (var i = 0; i < n; i++)
        {
            pairs[i] = [];
        }

        foreach (var sequence in train.GroupBy(t => t.User))
        {
            var items = sequence.OrderBy(t => t, Interaction.Chronological).Select(t => index[t.Item]).ToArray();
            for (var p = 0; p < items.Length; p++)
            {
                var last = Math.Min(items.Length - 1, p + options.CooccurrenceWindow);
                for (var q = p + 1; q <= last; q++)
                {
                    var w = 1f / (q - p);
                    int a = items[p], b = items[q];
                    if (a == b)
                    {
                        continue;
                    }

                    // b follows a: a strong signal for "after a comes b", a weaker one the other way.
                    Add(pairs[a], b, w);
                    Add(pairs[b], a, w * (float)options.BackwardWeight);
                }
            }
        }

        var neighbours = new (int[], float[])[n];
        for (var i = 0; i < n; i++)
        {
            var top = pairs[i]
                .Select(p => (Item: p.Key, Weight: (float)(p.Value / Math.Sqrt((double)count[i] * count[p.Key]))))
                .OrderByDescending(p => p.Weight)
                .ThenBy(p => p.Item)
                .Take(options.NeighboursPerItem)
                .ToArray();
            neighbours[i] = (top.Select(t => t.Item).ToArray(), top.Select(t => t.Weight).ToArray());
        }

        return neighbours;
    }

    private static void Add(Dictionary<int, float> map, int key, float value)
    {
        map[key] = map.TryGetValue(key, out var v) ? v + value : value;
    }
}
