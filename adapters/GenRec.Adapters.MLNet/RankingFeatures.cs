namespace GenRec.Adapters.MLNet;

/// <summary>
/// The hand-made features of the DLRM ranker for one (user, candidate) pair. Everything time-dependent looks
/// only at interactions before the request time.
/// </summary>
internal static class RankingFeatures
{
    public const int Count = 16;

    public static readonly string[] Names =
    [
        "log_count", "log_popularity_rank", "mean_rating", "log_recent_count", "log_short_recent_count",
        "itemcf_score", "last_item_cf_score", "genre_affinity", "item_age_years", "log_days_since_first_seen",
        "release_year_gap", "popularity_gap", "log_history_length", "source_channel", "itemcf_relative", "genre_count",
    ];

    public static readonly string[] Channels = ["popularity", "recent-popularity", "itemcf", "genre"];

    public static void Compute(InteractionStatistics s, UserProfile p, int item, string source, float maxItemCf, Span<float> f)
    {
        const float SecondsPerDay = 86400f;
        var logCount = MathF.Log(1 + s.Count[item]);
        var itemCf = p.ItemCf.GetValueOrDefault(item);
        var requestYear = DateTimeOffset.FromUnixTimeSeconds(p.RequestTime).Year;
        f[0] = logCount;
        f[1] = MathF.Log(s.PopularityRank[item]);
        f[2] = s.MeanRating[item];
        f[3] = MathF.Log(1 + p.RecentCount.GetValueOrDefault(item));
        f[4] = MathF.Log(1 + p.ShortRecentCount.GetValueOrDefault(item));
        f[5] = itemCf;
        f[6] = p.LastItemCf.GetValueOrDefault(item);
        f[7] = p.GenreScore(s, item);
        f[8] = requestYear - s.ReleaseYear[item];
        f[9] = s.FirstSeen[item] <= p.RequestTime ? MathF.Log(1 + ((p.RequestTime - s.FirstSeen[item]) / SecondsPerDay)) : -1f;
        f[10] = MathF.Abs(s.ReleaseYear[item] - p.MeanReleaseYear);
        f[11] = logCount - p.MeanLogPopularity;
        f[12] = MathF.Log(1 + p.History.Count);
        f[13] = Array.IndexOf(Channels, source);
        f[14] = maxItemCf > 0 ? itemCf / maxItemCf : 0;
        f[15] = s.Genres[item].Length;
    }
}

/// <summary>The DLRM ranker's features as an <see cref="ICandidateFeatures"/> source, for a generative ranker to read.</summary>
internal sealed class DlrmCandidateFeatures(UserProfile.Cache profiles) : ICandidateFeatures
{
    public IReadOnlyList<string> Names => RankingFeatures.Names;

    public void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        var n = RankingFeatures.Count;
        if (destination.Length < candidates.Count * n)
        {
            throw new ArgumentException($"The destination holds {destination.Length} values; {candidates.Count} candidates × {n} features need {candidates.Count * n}.", nameof(destination));
        }

        var stats = profiles.Stats;
        var profile = profiles.For(request);
        var maxItemCf = profile.ItemCf.Count > 0 ? profile.ItemCf.Values.Max() : 0f;
        for (var i = 0; i < candidates.Count; i++)
        {
            var slice = destination.Slice(i * n, n);
            if (stats.Index.TryGetValue(candidates[i].Item, out var item))
            {
                RankingFeatures.Compute(stats, profile, item, candidates[i].Source, maxItemCf, slice);
            }
            else
            {
                slice.Clear();
            }
        }
    }
}
