using GenRec.Data;

namespace GenRec.Evaluation;

/// <summary>How well a reward model knows the held-out interactions.</summary>
/// <param name="RatingAuc">
/// AUC of the reward as a predictor of a good rating (≥ the threshold) of each held-out target, scored after the
/// user's history: the probability that a well-rated target outscores a poorly rated one (0.5: no skill).
/// </param>
/// <param name="RatedTargets">Held-out targets with a rating the reward could score.</param>
/// <param name="EngagementAuc">
/// The probability that the reward scores each held-out target above a catalogue item the user never interacted
/// with (sampled), ties counting a half: how well it knows what the user takes.
/// </param>
/// <param name="EngagementTargets">Held-out targets the reward could score.</param>
public sealed record RewardAccuracy(double RatingAuc, int RatedTargets, double EngagementAuc, int EngagementTargets);

/// <summary>Measures an <see cref="IRewardModel"/> on a split's held-out interactions.</summary>
public static class RewardEvaluation
{
    /// <summary>Scores every held-out target of <paramref name="target"/> (and sampled negatives) after the user's history.</summary>
    /// <param name="reward">The reward model.</param>
    /// <param name="split">The split.</param>
    /// <param name="target">Validation or test targets.</param>
    /// <param name="negatives">Items sampled per target for the engagement AUC; 1 or more. Default: 20.</param>
    /// <param name="goodRating">The rating from which a target counts as well rated. Default: 4.</param>
    /// <param name="seed">Seed of the negative sampling. Default: 42.</param>
    /// <param name="cancellationToken">Cancels the pass.</param>
    /// <returns>The two AUCs; NaN where no target could be scored (or all ratings fall on one side).</returns>
    public static RewardAccuracy Evaluate(IRewardModel reward, DataSplit split, SplitTarget target, int negatives = 20, float goodRating = 4, int seed = 42, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reward);
        ArgumentNullException.ThrowIfNull(split);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(negatives);
        var random = new Random(seed);
        var catalogue = split.Dataset.Catalogue.ToArray();
        var rated = new List<(double Score, bool Good)>();
        double engagement = 0;
        var engaged = 0;
        var scores = new double[negatives + 1];
        foreach (var c in split.Cases(target))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var request = new RecommendationRequest(c.User, c.HistoryEvents(), 1, c.Target.Time);
            var seen = c.History.Select(h => h.Item).Append(c.Target.Item).ToHashSet();
            var items = new List<ItemId>(negatives + 1) { c.Target.Item };
            while (items.Count <= negatives && seen.Count < catalogue.Length)
            {
                var candidate = catalogue[random.Next(catalogue.Length)];
                if (seen.Add(candidate))
                {
                    items.Add(candidate);
                }
            }

            reward.Score(request, items, scores);
            var score = scores[0];
            if (double.IsNaN(score))
            {
                continue;
            }

            if (!float.IsNaN(c.Target.Rating))
            {
                rated.Add((score, c.Target.Rating >= goodRating));
            }

            var compared = 0;
            double wins = 0;
            for (var i = 1; i < items.Count; i++)
            {
                if (!double.IsNaN(scores[i]))
                {
                    wins += score > scores[i] ? 1 : score == scores[i] ? 0.5 : 0;
                    compared++;
                }
            }

            if (compared > 0)
            {
                engagement += wins / compared;
                engaged++;
            }
        }

        return new RewardAccuracy(Auc(rated), rated.Count, engaged > 0 ? engagement / engaged : double.NaN, engaged);
    }

    /// <summary>Mann–Whitney AUC with ties counting a half; NaN when either class is empty.</summary>
    internal static double Auc(IReadOnlyList<(double Score, bool Positive)> values)
    {
        var positives = values.Count(v => v.Positive);
        var negatives = values.Count - positives;
        if (positives == 0 || negatives == 0)
        {
            return double.NaN;
        }

        // Average ranks (1-based) over ties, then the positives' rank sum.
        var sorted = values.OrderBy(v => v.Score).ToArray();
        double positiveRanks = 0;
        for (var i = 0; i < sorted.Length;)
        {
            var j = i;
            while (j < sorted.Length && sorted[j].Score == sorted[i].Score)
            {
                j++;
            }

            var rank = (i + 1 + j) / 2.0;
            for (var k = i; k < j; k++)
            {
                positiveRanks += sorted[k].Positive ? rank : 0;
            }

            i = j;
        }

        return (positiveRanks - (positives * (positives + 1) / 2.0)) / ((double)positives * negatives);
    }
}
