using System.Runtime.CompilerServices;

namespace GenRec.Baselines;

/// <summary>
/// What the classical cascade derives from one request: the history as catalogue indices, item-to-item scores,
/// genre affinity and windowed popularity before the request time. Built once per request and shared by the
/// recall channels and the ranker.
/// </summary>
internal sealed class UserProfile
{
    private UserProfile(InteractionStatistics stats, RecommendationRequest request)
    {
        var options = stats.Options;
        var history = new List<int>(request.History.Count);
        foreach (var e in request.History)
        {
            // Items the catalogue does not know cannot be scored; they are still excluded by the request.
            if (stats.Index.TryGetValue(e.Item, out var i))
            {
                history.Add(i);
            }
        }

        History = history;
        RequestTime = request.RequestTime.ToUnixTimeSeconds();

        // Item-to-item scores from the most recent items, decayed by distance from the end.
        ItemCf = [];
        LastItemCf = [];
        GenreAffinity = new float[stats.GenreCount];
        double weight = 1, popularitySum = 0, yearSum = 0;
        int yearCount = 0;
        for (int back = 0, p = history.Count - 1; p >= 0; back++, p--)
        {
            var item = history[p];
            if (back < options.RecentItems)
            {
                var (neighbours, weights) = stats.Neighbours[item];
                for (var k = 0; k < neighbours.Length; k++)
                {
                    Add(ItemCf, neighbours[k], (float)(weight * weights[k]));
                    if (back == 0)
                    {
                        Add(LastItemCf, neighbours[k], weights[k]);
                    }
                }
            }

            var genres = stats.Genres[item];
            foreach (var g in genres)
            {
                GenreAffinity[g] += (float)(Math.Max(weight, 0.05) / genres.Length);
            }

            popularitySum += Math.Log(1 + stats.Count[item]);
            if (!float.IsNaN(stats.ReleaseYear[item]))
            {
                yearSum += stats.ReleaseYear[item];
                yearCount++;
            }

            weight *= options.RecencyDecay;
        }

        var genreTotal = GenreAffinity.Sum();
        if (genreTotal > 0)
        {
            for (var g = 0; g < GenreAffinity.Length; g++)
            {
                GenreAffinity[g] /= genreTotal;
            }
        }

        MeanLogPopularity = history.Count > 0 ? (float)(popularitySum / history.Count) : float.NaN;
        MeanReleaseYear = yearCount > 0 ? (float)(yearSum / yearCount) : float.NaN;

        // Popularity over the last interactions before the request, long and short windows.
        var end = stats.LogPosition(RequestTime);
        RecentCount = CountWindow(stats, Math.Max(0, end - options.RecentWindowEvents), end);
        ShortRecentCount = CountWindow(stats, Math.Max(0, end - Math.Max(1, options.RecentWindowEvents / 10)), end);
    }

    public List<int> History { get; }

    public long RequestTime { get; }

    public Dictionary<int, float> ItemCf { get; }

    public Dictionary<int, float> LastItemCf { get; }

    public float[] GenreAffinity { get; }

    public Dictionary<int, int> RecentCount { get; }

    public Dictionary<int, int> ShortRecentCount { get; }

    public float MeanLogPopularity { get; }

    public float MeanReleaseYear { get; }

    /// <summary>The genre affinity of an item: the share of the user's (decayed) history in the item's genres.</summary>
    public float GenreScore(InteractionStatistics stats, int item)
    {
        var genres = stats.Genres[item];
        if (genres.Length == 0)
        {
            return 0;
        }

        float sum = 0;
        foreach (var g in genres)
        {
            sum += GenreAffinity[g];
        }

        return sum / MathF.Sqrt(genres.Length);
    }

    private static Dictionary<int, int> CountWindow(InteractionStatistics stats, int from, int to)
    {
        var counts = new Dictionary<int, int>();
        for (var i = from; i < to; i++)
        {
            var item = stats.LogItems[i];
            counts[item] = counts.GetValueOrDefault(item) + 1;
        }

        return counts;
    }

    private static void Add(Dictionary<int, float> map, int key, float value) =>
        map[key] = map.GetValueOrDefault(key) + value;

    /// <summary>Caches profiles per request object so that recall and ranking share one.</summary>
    internal sealed class Cache(InteractionStatistics stats)
    {
        private readonly ConditionalWeakTable<RecommendationRequest, UserProfile> _profiles = [];

        public InteractionStatistics Stats { get; } = stats;

        public UserProfile For(RecommendationRequest request) =>
            _profiles.GetValue(request, r => new UserProfile(Stats, r));
    }
}
