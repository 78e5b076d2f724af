using System.Collections.Concurrent;
using System.Diagnostics;
using GenRec.Data;

namespace GenRec.Evaluation;

/// <summary>Options of an <see cref="OfflineEvaluator"/> run.</summary>
public sealed class EvaluationOptions
{
    /// <summary>How many items each user's list holds. Default: 100. Allowed: 1 or more.</summary>
    public int TopK { get; set; } = 100;

    /// <summary>The K values of HR@K and NDCG@K. Default: 10 and 50.</summary>
    public IReadOnlyList<int> Cutoffs { get; set; } = MetricsReport.DefaultCutoffs;

    /// <summary>How many users are evaluated at once. Default: the processor count. Allowed: 1 or more.</summary>
    public int MaxDegreeOfParallelism { get; set; } = Environment.ProcessorCount;

    /// <summary>Evaluate only the first this many users (ascending ids); <see langword="null"/> for all. Default: all.</summary>
    public int? MaxUsers { get; set; }

    /// <summary>
    /// The actions whose history items the lists must leave out (<see cref="RecommendationRequest.ExcludeHistoryActions"/>).
    /// Default: <see langword="null"/>, the split's target actions (<see cref="DataSplit.TargetActions"/>: on a log
    /// evaluated on purchases, an item the user was only shown may be listed and bought), or every action when the split
    /// has none. <see cref="EveryAction"/> leaves out every history item whatever the split.
    /// </summary>
    public IReadOnlySet<ActionType>? ExcludeHistoryActions { get; set; }

    /// <summary>Every action: as <see cref="ExcludeHistoryActions"/>, lists leave out every item of the history.</summary>
    public static IReadOnlySet<ActionType> EveryAction { get; } = Enum.GetValues<ActionType>().ToHashSet();
}

/// <summary>Progress of an evaluation: users done out of the total.</summary>
/// <param name="Done">Users evaluated so far.</param>
/// <param name="Total">Users to evaluate.</param>
/// <param name="Elapsed">Time since the evaluation started.</param>
public readonly record struct EvaluationProgress(int Done, int Total, TimeSpan Elapsed);

/// <summary>The result of an offline evaluation.</summary>
/// <param name="Report">The metrics.</param>
/// <param name="Lists">Each user's recommended list, best first.</param>
/// <param name="LatencyMilliseconds">Each request's wall-clock latency, in milliseconds, in no particular order.</param>
/// <param name="Problems">Lists that broke the evaluation contract (short, duplicated or history items).</param>
public sealed record EvaluationResult(
    MetricsReport Report,
    IReadOnlyDictionary<UserId, IReadOnlyList<ItemId>> Lists,
    IReadOnlyList<double> LatencyMilliseconds,
    ListProblems Problems);

/// <summary>Counts of users whose list broke the evaluation contract.</summary>
/// <param name="ShortLists">Lists with fewer than the requested number of items.</param>
/// <param name="DuplicateItems">Lists that hold an item twice.</param>
/// <param name="HistoryItems">Lists that hold an item of the user's history.</param>
public readonly record struct ListProblems(int ShortLists, int DuplicateItems, int HistoryItems)
{
    /// <summary>Whether any list broke the contract.</summary>
    public bool Any => ShortLists + DuplicateItems + HistoryItems > 0;
}

/// <summary>
/// Replays the held-out cases of a <see cref="DataSplit"/> through a recommender: each user asks for
/// <see cref="EvaluationOptions.TopK"/> items at the time of the held-out interaction, with their history
/// excluded, and the target's rank gives HR@K, NDCG@K and MRR over the full catalogue.
/// </summary>
public static class OfflineEvaluator
{
    /// <summary>Evaluates a recommender.</summary>
    /// <param name="recommender">The recommender; called concurrently, so it must be thread-safe.</param>
    /// <param name="split">The split.</param>
    /// <param name="target">Validation or test targets.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="progress">Receives progress about ten times a second at most; may be <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the evaluation.</param>
    /// <returns>The metrics, lists, latencies and contract problems.</returns>
    public static async Task<EvaluationResult> EvaluateAsync(
        IRecommender recommender,
        DataSplit split,
        SplitTarget target,
        EvaluationOptions? options = null,
        IProgress<EvaluationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(recommender);
        ArgumentNullException.ThrowIfNull(split);
        options ??= new EvaluationOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.TopK, "options.TopK");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxDegreeOfParallelism, "options.MaxDegreeOfParallelism");

        IEnumerable<EvaluationCase> selected = split.Cases(target);
        if (options.MaxUsers is { } max)
        {
            selected = selected.Take(max);
        }

        var cases = selected.ToArray();
        var excluded = options.ExcludeHistoryActions ?? split.TargetActions;
        var lists = new ConcurrentDictionary<UserId, IReadOnlyList<ItemId>>();
        var latencies = new ConcurrentBag<double>();
        int done = 0, shortLists = 0, duplicates = 0, historyItems = 0;
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        var gate = new object();

        await Parallel.ForEachAsync(
            cases,
            new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, CancellationToken = cancellationToken },
            async (c, ct) =>
            {
                var request = new RecommendationRequest(c.User, c.HistoryEvents(), options.TopK, c.Target.Time) { ExcludeHistoryActions = excluded };
                var start = Stopwatch.GetTimestamp();
                var result = await recommender.RecommendAsync(request, ct).ConfigureAwait(false);
                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);

                var items = result.Items.Select(i => i.Item).ToArray();
                lists[c.User] = items;
                if (items.Length < options.TopK)
                {
                    Interlocked.Increment(ref shortLists);
                }

                if (items.Distinct().Count() != items.Length)
                {
                    Interlocked.Increment(ref duplicates);
                }

                if (items.Any(request.ExcludedHistoryItems.Contains))
                {
                    Interlocked.Increment(ref historyItems);
                }

                var n = Interlocked.Increment(ref done);
                if (progress is not null)
                {
                    lock (gate)
                    {
                        var now = clock.Elapsed;
                        if (n == cases.Length || now - lastReport >= TimeSpan.FromMilliseconds(100))
                        {
                            lastReport = now;
                            progress.Report(new EvaluationProgress(n, cases.Length, now));
                        }
                    }
                }
            }).ConfigureAwait(false);

        var outcomes = cases
            .Select(c => new UserOutcome(c.User, c.Target.Item, lists.TryGetValue(c.User, out var l) ? RankingMetrics.RankOf(l, c.Target.Item) : 0))
            .ToArray();
        var coverageK = 10;
        var report = MetricsReport.Compute(
            outcomes,
            lists.Values.SelectMany(l => l.Take(coverageK)),
            split.Dataset.Catalogue.Count,
            options.Cutoffs,
            coverageK);
        return new EvaluationResult(
            report,
            new SortedDictionary<UserId, IReadOnlyList<ItemId>>(lists),
            latencies.ToArray(),
            new ListProblems(shortLists, duplicates, historyItems));
    }
}
