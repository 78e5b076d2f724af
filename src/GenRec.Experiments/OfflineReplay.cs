using System.Diagnostics;
using GenRec.Data;
using GenRec.Evaluation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace GenRec.Experiments;

/// <summary>An arm to compare: a name and the recommender (a whole cascade) that serves it.</summary>
/// <param name="Name">The arm's name.</param>
/// <param name="Recommender">What serves the arm.</param>
/// <param name="Fallbacks">Reads how many requests the arm served from a fallback so far (adapters count these); <see langword="null"/> when the arm has none.</param>
public sealed record ReplayArm(string Name, IRecommender Recommender, Func<long>? Fallbacks = null);

/// <summary>Options of an <see cref="OfflineReplay"/>.</summary>
public sealed class ReplayOptions
{
    /// <summary>Items per list. Default: 100.</summary>
    public int TopK { get; set; } = 100;

    /// <summary>The control arm's name. Default: the first arm.</summary>
    public string? Control { get; set; }

    /// <summary>Replay only the first this many users; <see langword="null"/> for all. Default: all.</summary>
    public int? MaxUsers { get; set; }

    /// <summary>
    /// The actions whose history items every arm's lists leave out (<see cref="EvaluationOptions.ExcludeHistoryActions"/>).
    /// Default: <see langword="null"/>, the split's target actions (every action when it has none).
    /// </summary>
    public IReadOnlySet<ActionType>? ExcludeHistoryActions { get; set; }

    /// <summary>Bootstrap resamples. Default: 2,000.</summary>
    public int BootstrapIterations { get; set; } = 2000;

    /// <summary>Seed of the bootstrap. Default: 42.</summary>
    public int Seed { get; set; } = 42;

    /// <summary>Guardrail: the most p99 latency an arm may have, in milliseconds. Default: 100 (the serving budget).</summary>
    public double MaxP99LatencyMs { get; set; } = 100;

    /// <summary>Guardrail: the most share of requests that may fail. Default: 0.01.</summary>
    public double MaxErrorRate { get; set; } = 0.01;

    /// <summary>Guardrail: the most share of requests that may be served by a fallback. Default: 0.05.</summary>
    public double MaxFallbackRate { get; set; } = 0.05;

    /// <summary>Users replayed at once. Default: 1, so latencies are not inflated by contention between arms' requests.</summary>
    public int MaxDegreeOfParallelism { get; set; } = 1;

    /// <summary>
    /// A reward model (e.g. <c>HstuModel.AsReward</c>): when set, every arm also reports <c>reward@10</c>, the mean
    /// reward of each list's top 10 after the user's history (items the reward does not know are left out; 0 for a
    /// list with none it knows), compared with the control like the other per-user metrics. Default: none.
    /// </summary>
    public IRewardModel? Reward { get; set; }

    /// <summary>
    /// Where failed requests are logged: the first <see cref="LoggedErrorsPerArm"/> of each arm with their exceptions
    /// (warning), then one summary per arm with its error count. Default: none (the counts are in the report either way).
    /// </summary>
    public ILogger? Logger { get; set; }

    /// <summary>How many failures of one arm are logged with their exceptions. Default: 5.</summary>
    public int LoggedErrorsPerArm { get; set; } = 5;
}

/// <summary>Progress of a replay.</summary>
/// <param name="Arm">The arm being replayed.</param>
/// <param name="ArmIndex">Its position among the arms (0-based).</param>
/// <param name="Arms">Arms in all.</param>
/// <param name="Done">Users done for this arm.</param>
/// <param name="Total">Users per arm.</param>
public readonly record struct ReplayProgress(string Arm, int ArmIndex, int Arms, int Done, int Total);

/// <summary>
/// Offline replay: every arm serves every held-out case of a split (leave-one-out, or a temporal window), so arms are
/// compared on the same users; per-user accuracy (HR@10, NDCG@10, MRR), beyond-accuracy (intra-list genre diversity,
/// novelty) and latency are measured, and each arm is compared with the control by paired statistics. A failing
/// arm's requests are counted as errors (an empty list), not hidden, and its guardrails say so.
/// </summary>
public static partial class OfflineReplay
{
    /// <summary>The per-user metrics, in report order.</summary>
    public static readonly string[] PerUserMetrics = ["HR@10", "NDCG@10", "HR@50", "NDCG@50", "MRR", "ILD@10", "novelty@10"];

    /// <summary>The per-user metric <see cref="ReplayOptions.Reward"/> adds.</summary>
    public const string RewardMetric = "reward@10";

    /// <summary>Replays the cases through every arm and compares them with the control.</summary>
    /// <param name="arms">The arms; at least two, distinct names.</param>
    /// <param name="split">The split whose held-out cases are replayed.</param>
    /// <param name="target">Validation or test cases.</param>
    /// <param name="options">Options; defaults when <see langword="null"/>.</param>
    /// <param name="progress">Receives progress; may be <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the replay.</param>
    /// <returns>The report.</returns>
    public static async Task<ExperimentReport> RunAsync(
        IReadOnlyList<ReplayArm> arms,
        DataSplit split,
        SplitTarget target,
        ReplayOptions? options = null,
        IProgress<ReplayProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arms);
        ArgumentNullException.ThrowIfNull(split);
        options ??= new ReplayOptions();
        if (arms.Count < 2 || arms.Select(a => a.Name).Distinct().Count() != arms.Count)
        {
            throw new ArgumentException("A replay needs at least two arms with distinct names.", nameof(arms));
        }

        var control = options.Control ?? arms[0].Name;
        if (arms.All(a => a.Name != control))
        {
            throw new ArgumentException($"The control '{control}' is none of the arms ({string.Join(", ", arms.Select(a => a.Name))}).", nameof(options));
        }

        var features = new ItemFeatures(split);
        var results = new List<ArmMeasurements>();
        for (var a = 0; a < arms.Count; a++)
        {
            var arm = arms[a];
            var guarded = new GuardedRecommender(arm.Recommender, options.Logger ?? NullLogger.Instance, options.LoggedErrorsPerArm);
            var fallbacksBefore = arm.Fallbacks?.Invoke() ?? 0;
            var index = a;
            var evaluation = await OfflineEvaluator.EvaluateAsync(
                guarded,
                split,
                target,
                new EvaluationOptions { TopK = options.TopK, MaxUsers = options.MaxUsers, MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, ExcludeHistoryActions = options.ExcludeHistoryActions },
                progress is null ? null : new Relay(p => progress.Report(new ReplayProgress(arm.Name, index, arms.Count, p.Done, p.Total))),
                cancellationToken).ConfigureAwait(false);
            var fallbacks = arm.Fallbacks is null ? (long?)null : arm.Fallbacks() - fallbacksBefore;
            var measured = Measure(arm.Name, evaluation, features, guarded.Errors, fallbacks);
            if (guarded.Errors > 0)
            {
                ArmErrors(options.Logger ?? NullLogger.Instance, arm.Name, guarded.Errors, evaluation.Report.Users);
            }

            if (options.Reward is { } reward)
            {
                measured.PerUser[RewardMetric] = ListRewards(reward, split, target, measured.Users, measured.Top10, cancellationToken);
            }

            results.Add(measured);
        }

        return ExperimentReport.Build(results, control, split.Dataset.Catalogue.Count, options);
    }

    private static ArmMeasurements Measure(string name, EvaluationResult evaluation, ItemFeatures features, int errors, long? fallbacks)
    {
        var outcomes = evaluation.Report.Outcomes;
        var perUser = new Dictionary<string, double[]>();
        foreach (var metric in PerUserMetrics)
        {
            perUser[metric] = new double[outcomes.Count];
        }

        var top10 = new ItemId[outcomes.Count][];
        for (var u = 0; u < outcomes.Count; u++)
        {
            var o = outcomes[u];
            var list = evaluation.Lists.TryGetValue(o.User, out var l) ? l : [];
            top10[u] = list.Take(10).ToArray();
            perUser["HR@10"][u] = RankingMetrics.HitRate(o.Rank, 10);
            perUser["NDCG@10"][u] = RankingMetrics.Ndcg(o.Rank, 10);
            perUser["HR@50"][u] = RankingMetrics.HitRate(o.Rank, 50);
            perUser["NDCG@50"][u] = RankingMetrics.Ndcg(o.Rank, 50);
            perUser["MRR"][u] = RankingMetrics.ReciprocalRank(o.Rank);
            perUser["ILD@10"][u] = features.IntraListDiversity(top10[u]);
            perUser["novelty@10"][u] = features.Novelty(top10[u]);
        }

        return new ArmMeasurements(name, outcomes.Select(o => o.User).ToArray(), perUser, top10, evaluation.LatencyMilliseconds.ToArray(), errors, fallbacks, outcomes.Count);
    }

    /// <summary>Each user's mean reward of their top 10 (known items only; 0 when none is known).</summary>
    private static double[] ListRewards(IRewardModel reward, DataSplit split, SplitTarget target, UserId[] users, ItemId[][] top10, CancellationToken cancellationToken)
    {
        var values = new double[users.Length];
        var scores = new double[10];
        for (var u = 0; u < users.Length; u++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (top10[u].Length == 0)
            {
                continue;
            }

            var c = split.Case(users[u], target);
            reward.Score(new RecommendationRequest(c.User, c.HistoryEvents(), top10[u].Length, c.Target.Time), top10[u], scores);
            var known = scores.Take(top10[u].Length).Where(double.IsFinite).ToArray();
            values[u] = known.Length > 0 ? known.Average() : 0;
        }

        return values;
    }

    private sealed class Relay(Action<EvaluationProgress> report) : IProgress<EvaluationProgress>
    {
        public void Report(EvaluationProgress value) => report(value);
    }

    [LoggerMessage(1, LogLevel.Warning, "GenRec replay: arm {Arm} failed for user {User} (counted as an error with an empty list).")]
    private static partial void RequestFailed(ILogger logger, string arm, long user, Exception error);

    [LoggerMessage(2, LogLevel.Warning, "GenRec replay: arm {Arm} failed on {Errors} of {Users} users (its error-rate guardrail reports it).")]
    private static partial void ArmErrors(ILogger logger, string arm, int errors, int users);

    /// <summary>Counts an arm's failures as errors with an empty list, so one bad arm cannot stop the comparison; logs the first few.</summary>
    private sealed class GuardedRecommender(IRecommender inner, ILogger logger, int logged) : IRecommender
    {
        private int _errors;

        public int Errors => _errors;

        public string Name => inner.Name;

        public async ValueTask<RecommendationResult> RecommendAsync(RecommendationRequest request, CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.RecommendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // Counted and reported as the arm's error rate (a guardrail), never silently dropped.
                if (Interlocked.Increment(ref _errors) <= logged)
                {
                    RequestFailed(logger, inner.Name, request.User.Value, e);
                }

                return new RecommendationResult([], []);
            }
        }
    }
}

/// <summary>What one arm measured on every user (users in the same order for every arm).</summary>
internal sealed record ArmMeasurements(
    string Name,
    UserId[] Users,
    Dictionary<string, double[]> PerUser,
    ItemId[][] Top10,
    double[] LatencyMs,
    int Errors,
    long? Fallbacks,
    int Requests);

/// <summary>Genres and training popularity of items, for diversity and novelty.</summary>
internal sealed class ItemFeatures
{
    private readonly Dictionary<ItemId, HashSet<string>> _genres;
    private readonly Dictionary<ItemId, int> _counts;
    private readonly double _total;
    private readonly int _catalogue;

    public ItemFeatures(DataSplit split)
        : this(split.Dataset, split.TrainInteractions)
    {
    }

    public ItemFeatures(InteractionDataset dataset, IReadOnlyList<Interaction>? popularity = null)
    {
        popularity ??= dataset.Interactions;
        _genres = dataset.Items.ToDictionary(p => p.Key, p => p.Value.Categories.ToHashSet(StringComparer.Ordinal));
        _counts = popularity.GroupBy(i => i.Item).ToDictionary(g => g.Key, g => g.Count());
        _total = popularity.Count;
        _catalogue = dataset.Catalogue.Count;
    }

    /// <summary>Mean pairwise genre Jaccard distance within a list (0 for fewer than two items).</summary>
    public double IntraListDiversity(IReadOnlyList<ItemId> list)
    {
        if (list.Count < 2)
        {
            return 0;
        }

        double sum = 0;
        var pairs = 0;
        for (var i = 0; i < list.Count; i++)
        {
            for (var j = i + 1; j < list.Count; j++)
            {
                var a = _genres.GetValueOrDefault(list[i]) ?? [];
                var b = _genres.GetValueOrDefault(list[j]) ?? [];
                var union = a.Union(b).Count();
                sum += union == 0 ? 0 : 1 - (a.Intersect(b).Count() / (double)union);
                pairs++;
            }
        }

        return sum / pairs;
    }

    /// <summary>Mean self-information −log2 p(item) of a list, p from smoothed training counts (0 for an empty list).</summary>
    public double Novelty(IReadOnlyList<ItemId> list) =>
        list.Count == 0 ? 0 : list.Average(i => -Math.Log2((_counts.GetValueOrDefault(i) + 1) / (_total + _catalogue)));
}
