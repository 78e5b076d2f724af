using GenRec.Data;

namespace GenRec.Evaluation;

/// <summary>One setting tried by <see cref="ValidationSearch"/> and the validation NDCG@10 it got.</summary>
/// <typeparam name="T">The kind of setting.</typeparam>
/// <param name="Setting">The setting.</param>
/// <param name="Ndcg10">Validation NDCG@10 of the recommender built with it.</param>
public sealed record SearchTrial<T>(T Setting, double Ndcg10);

/// <summary>The setting <see cref="ValidationSearch"/> kept and every trial.</summary>
/// <typeparam name="T">The kind of setting.</typeparam>
/// <param name="Best">The trial with the highest validation NDCG@10 (the first of equals, so the order of the settings breaks ties).</param>
/// <param name="Trials">Every trial, in the order of the settings.</param>
public sealed record SearchResult<T>(SearchTrial<T> Best, IReadOnlyList<SearchTrial<T>> Trials);

/// <summary>
/// Chooses a setting (a blend weight, a quota, an epoch count) by the validation NDCG@10 of the recommender each one
/// builds: the procedure behind every tuned constant of a composed arm. It reads only the validation target, so the
/// test target stays for reporting.
/// </summary>
public static class ValidationSearch
{
    /// <summary>Builds a recommender per setting, evaluates it on the validation target and keeps the best.</summary>
    /// <typeparam name="T">The kind of setting.</typeparam>
    /// <param name="split">The split; its validation target is the one read (lists leave out the history items of its
    /// <see cref="DataSplit.TargetActions"/>, as <c>genrec eval</c> does).</param>
    /// <param name="settings">The settings to try; at least one.</param>
    /// <param name="build">Builds the recommender of a setting.</param>
    /// <param name="progress">Receives the settings done and their count; may be <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the search.</param>
    /// <returns>The best setting and every trial.</returns>
    /// <exception cref="ArgumentException">No setting was given.</exception>
    public static async Task<SearchResult<T>> ChooseAsync<T>(
        DataSplit split,
        IReadOnlyList<T> settings,
        Func<T, IRecommender> build,
        IProgress<EvaluationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(split);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(build);
        if (settings.Count == 0)
        {
            throw new ArgumentException("A search needs at least one setting.", nameof(settings));
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var trials = new List<SearchTrial<T>>(settings.Count);
        foreach (var setting in settings)
        {
            var result = await OfflineEvaluator.EvaluateAsync(build(setting), split, SplitTarget.Valid, new EvaluationOptions { TopK = 10, Cutoffs = [10] }, cancellationToken: cancellationToken).ConfigureAwait(false);
            trials.Add(new SearchTrial<T>(setting, result.Report["NDCG@10"]));
            progress?.Report(new EvaluationProgress(trials.Count, settings.Count, clock.Elapsed));
        }

        var best = trials[0];
        foreach (var t in trials.Skip(1).Where(t => t.Ndcg10 > best.Ndcg10))
        {
            best = t;
        }

        return new SearchResult<T>(best, trials);
    }
}
