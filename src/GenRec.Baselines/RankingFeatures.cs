namespace GenRec.Baselines;

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

    /// <summary>The classical channels' names, in the order the <c>source_channel</c> feature numbers them (extra channels follow).</summary>
    public static readonly string[] Channels = ["popularity", "recent-popularity", "itemcf", "genre"];

    public static void Compute(InteractionStatistics s, UserProfile p, int item, int source, float maxItemCf, Span<float> f)
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
        f[13] = source;
        f[14] = maxItemCf > 0 ? itemCf / maxItemCf : 0;
        f[15] = s.Genres[item].Length;
    }
}

/// <summary>
/// Every feature the DLRM ranker reads for a (request, candidate) pair: the hand-made ones of
/// <see cref="RankingFeatures"/>, then those of each extra <see cref="ICandidateFeatures"/> source (generative scores,
/// a team's own), in order. Training and serving compute them through this one class, so they are the same.
/// </summary>
internal sealed class DlrmFeatures : ICandidateFeatures
{
    private readonly UserProfile.Cache _profiles;
    private readonly IReadOnlyList<ICandidateFeatures> _extra;
    private readonly Dictionary<string, int> _channels;

    public DlrmFeatures(UserProfile.Cache profiles, IReadOnlyList<ICandidateFeatures> extra, IEnumerable<string> extraChannels)
    {
        _profiles = profiles;
        _extra = extra;
        _channels = RankingFeatures.Channels.Concat(extraChannels).Select((name, i) => (name, i)).DistinctBy(p => p.name).ToDictionary(p => p.name, p => p.i);
        Names = [.. RankingFeatures.Names, .. extra.SelectMany(e => e.Names)];
        var repeated = Names.GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToArray();
        if (repeated.Length > 0)
        {
            throw new ArgumentException($"Ranking feature names must be unique; repeated: {string.Join(", ", repeated)}. Give each extra feature source its own names.", nameof(extra));
        }
    }

    public IReadOnlyList<string> Names { get; }

    public InteractionStatistics Stats => _profiles.Stats;

    /// <summary>Whether extra sources beside the hand-made features are read.</summary>
    public bool HasExtraSources => _extra.Any(e => e.Names.Count > 0);

    public void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
    {
        ComputeHandMade(request, candidates, destination);
        ComputeExtra(request, candidates, destination);
    }

    /// <summary>The hand-made features only (managed code, safe to run on several threads at once).</summary>
    public void ComputeHandMade(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
    {
        CheckDestination(request, candidates, destination);
        var n = Names.Count;
        var stats = _profiles.Stats;
        var profile = _profiles.For(request);
        var maxItemCf = profile.ItemCf.Count > 0 ? profile.ItemCf.Values.Max() : 0f;
        for (var i = 0; i < candidates.Count; i++)
        {
            var slice = destination.Slice(i * n, RankingFeatures.Count);
            if (stats.Index.TryGetValue(candidates[i].Item, out var item))
            {
                RankingFeatures.Compute(stats, profile, item, _channels.GetValueOrDefault(candidates[i].Source, -1), maxItemCf, slice);
            }
            else
            {
                slice.Clear();
            }
        }
    }

    /// <summary>The extra sources' features only, appended after the hand-made ones in each candidate's row.</summary>
    public void ComputeExtra(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
    {
        CheckDestination(request, candidates, destination);
        var n = Names.Count;
        var offset = RankingFeatures.Count;
        foreach (var source in _extra)
        {
            var width = source.Names.Count;
            if (width == 0)
            {
                continue;
            }

            var values = new float[candidates.Count * width];
            source.Compute(request, candidates, values);
            for (var i = 0; i < candidates.Count; i++)
            {
                values.AsSpan(i * width, width).CopyTo(destination.Slice((i * n) + offset, width));
            }

            offset += width;
        }
    }

    private void CheckDestination(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        var n = Names.Count;
        if (destination.Length < candidates.Count * n)
        {
            throw new ArgumentException($"The destination holds {destination.Length} values; {candidates.Count} candidates × {n} features need {candidates.Count * n}.", nameof(destination));
        }
    }
}
