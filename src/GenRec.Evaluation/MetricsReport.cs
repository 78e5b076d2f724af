using System.Globalization;
using System.Text;

namespace GenRec.Evaluation;

/// <summary>The outcome for one user of a leave-one-out evaluation.</summary>
/// <param name="User">The user.</param>
/// <param name="Target">The held-out item.</param>
/// <param name="Rank">The target's 1-based rank in the user's list, or 0 when absent (or the user had no list).</param>
public readonly record struct UserOutcome(UserId User, ItemId Target, int Rank);

/// <summary>
/// Full-ranking metrics over a set of users: HR@K and NDCG@K for each cut-off, MRR over the whole list, and
/// catalogue coverage of the top-<see cref="CoverageK"/> lists. Users without a list count as misses.
/// </summary>
public sealed class MetricsReport
{
    /// <summary>The cut-offs reported by default: 10 and 50.</summary>
    public static IReadOnlyList<int> DefaultCutoffs { get; } = [10, 50];

    /// <summary>Computes a report.</summary>
    /// <param name="outcomes">One outcome per user with a target.</param>
    /// <param name="topItems">Every user's top-<paramref name="coverageK"/> items (any order); used for coverage.</param>
    /// <param name="catalogueSize">The number of items ranked over.</param>
    /// <param name="cutoffs">The K values of HR@K and NDCG@K; <see cref="DefaultCutoffs"/> when <see langword="null"/>.</param>
    /// <param name="coverageK">The list depth of coverage. Default: 10.</param>
    /// <returns>The report.</returns>
    public static MetricsReport Compute(
        IReadOnlyList<UserOutcome> outcomes,
        IEnumerable<ItemId> topItems,
        int catalogueSize,
        IReadOnlyList<int>? cutoffs = null,
        int coverageK = 10)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        ArgumentNullException.ThrowIfNull(topItems);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(catalogueSize);
        if (outcomes.Count == 0)
        {
            throw new ArgumentException("A report needs at least one user outcome.", nameof(outcomes));
        }

        cutoffs ??= DefaultCutoffs;
        var values = new List<KeyValuePair<string, double>>();
        foreach (var k in cutoffs)
        {
            values.Add(new($"HR@{k}", outcomes.Average(o => RankingMetrics.HitRate(o.Rank, k))));
            values.Add(new($"NDCG@{k}", outcomes.Average(o => RankingMetrics.Ndcg(o.Rank, k))));
        }

        values.Add(new("MRR", outcomes.Average(o => RankingMetrics.ReciprocalRank(o.Rank))));
        values.Add(new($"coverage@{coverageK}", topItems.Distinct().Count() / (double)catalogueSize));
        return new MetricsReport(values, outcomes, coverageK);
    }

    private MetricsReport(List<KeyValuePair<string, double>> values, IReadOnlyList<UserOutcome> outcomes, int coverageK)
    {
        Values = values;
        Outcomes = outcomes;
        CoverageK = coverageK;
    }

    /// <summary>The metrics in report order (HR@10, NDCG@10, HR@50, NDCG@50, MRR, coverage@10 by default).</summary>
    public IReadOnlyList<KeyValuePair<string, double>> Values { get; }

    /// <summary>Every user's outcome, for paired comparisons.</summary>
    public IReadOnlyList<UserOutcome> Outcomes { get; }

    /// <summary>The list depth of the coverage metric.</summary>
    public int CoverageK { get; }

    /// <summary>The number of users evaluated.</summary>
    public int Users => Outcomes.Count;

    /// <summary>A metric by name, e.g. <c>"NDCG@10"</c>.</summary>
    /// <param name="name">The metric's name.</param>
    /// <exception cref="KeyNotFoundException">The report has no such metric.</exception>
    public double this[string name] =>
        Values.FirstOrDefault(v => v.Key == name) is { Key: not null } pair
            ? pair.Value
            : throw new KeyNotFoundException($"The report has no metric '{name}'; it has {string.Join(", ", Values.Select(v => v.Key))}.");

    /// <summary>The metrics as one line of JSON, values rounded to 6 decimals like the shared scorer.</summary>
    /// <returns>The JSON text.</returns>
    public string ToJson()
    {
        var json = new StringBuilder("{");
        foreach (var (key, value) in Values)
        {
            json.Append(CultureInfo.InvariantCulture, $"\"{key}\": {Math.Round(value, 6).ToString("0.######", CultureInfo.InvariantCulture)}, ");
        }

        json.Append(CultureInfo.InvariantCulture, $"\"users\": {Users}}}");
        return json.ToString();
    }
}
