namespace GenRec.Experiments;

/// <summary>
/// Computes an online experiment's metrics from its log: for each exposure, the user's first event after it within
/// the attribution window is the outcome, and its rank in the exposed list gives HR@K, NDCG@K and MRR, as offline.
/// Exposures without a later event in the window have no outcome and are left out (their count is in the report's
/// sample size). Arms serve different users, so comparisons are unpaired; shadow arms appear as arms of their own.
/// </summary>
public static class OnlineAnalysis
{
    /// <summary>Analyses a log.</summary>
    /// <param name="log">The exposures and events.</param>
    /// <param name="control">The control arm's name.</param>
    /// <param name="items">Item metadata (genres) and the catalogue size, for diversity and coverage.</param>
    /// <param name="window">How long after an exposure an event still counts as its outcome.</param>
    /// <param name="options">Guardrail limits and bootstrap settings; defaults when <see langword="null"/>.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">The control or another arm has fewer than two exposures with an outcome.</exception>
    public static ExperimentReport Analyze(IExposureLog log, string control, Data.InteractionDataset items, TimeSpan window, ReplayOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(items);
        options ??= new ReplayOptions();
        var events = log.Events.GroupBy(e => e.User).ToDictionary(g => g.Key, g => g.OrderBy(e => e.Timestamp).ToArray());
        var features = new ItemFeatures(items);
        var arms = new List<ArmMeasurements>();
        foreach (var group in log.Exposures.GroupBy(e => e.Arm).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var rows = new List<(Exposure Exposure, int Rank)>();
            foreach (var exposure in group)
            {
                if (!events.TryGetValue(exposure.User, out var later))
                {
                    continue;
                }

                var next = later.FirstOrDefault(e => e.Timestamp > exposure.Time && e.Timestamp <= exposure.Time + window);
                if (next is not null)
                {
                    rows.Add((exposure, Evaluation.RankingMetrics.RankOf(exposure.Items, next.Item)));
                }
            }

            var perUser = OfflineReplay.PerUserMetrics.ToDictionary(m => m, _ => new double[rows.Count]);
            for (var i = 0; i < rows.Count; i++)
            {
                var (exposure, rank) = rows[i];
                var top = exposure.Items.Take(10).ToArray();
                perUser["HR@10"][i] = Evaluation.RankingMetrics.HitRate(rank, 10);
                perUser["NDCG@10"][i] = Evaluation.RankingMetrics.Ndcg(rank, 10);
                perUser["HR@50"][i] = Evaluation.RankingMetrics.HitRate(rank, 50);
                perUser["NDCG@50"][i] = Evaluation.RankingMetrics.Ndcg(rank, 50);
                perUser["MRR"][i] = Evaluation.RankingMetrics.ReciprocalRank(rank);
                perUser["ILD@10"][i] = features.IntraListDiversity(top);
                perUser["novelty@10"][i] = features.Novelty(top);
            }

            var all = group.ToArray();
            arms.Add(new ArmMeasurements(
                group.Key,
                rows.Select(r => r.Exposure.User).ToArray(),
                perUser,
                rows.Select(r => r.Exposure.Items.Take(10).ToArray()).ToArray(),
                all.Select(e => e.LatencyMs).ToArray(),
                all.Count(e => e.Failed),
                null,
                rows.Count));
        }

        if (arms.All(a => a.Name != control))
        {
            throw new ArgumentException($"The log has no exposure of the control '{control}'.", nameof(control));
        }

        var thin = arms.FirstOrDefault(a => a.Requests < 2);
        if (thin is not null)
        {
            throw new ArgumentException($"Arm '{thin.Name}' has {thin.Requests} exposures with an outcome; at least two are needed to compare.", nameof(log));
        }

        return ExperimentReport.Build(arms, control, items.Catalogue.Count, options, paired: false);
    }
}
