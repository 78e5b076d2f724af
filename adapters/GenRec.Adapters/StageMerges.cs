namespace GenRec.Adapters;

/// <summary>The merges and the shadow comparison the adapters share.</summary>
internal static class StageMerges
{
    public static IReadOnlyList<Candidate> Blend(RecommendationRequest request, IReadOnlyList<Candidate> baseline, IReadOnlyList<Candidate> generative, int count, AdapterOptions options) =>
        options.Blend == BlendMethod.Quota
            ? Interleave(request, baseline, generative, count, Cap(count, options))
            : ScoreBlend(baseline, generative, count, options.GenerativeWeight, request);

    /// <summary>The most generative items a quota blend of <paramref name="count"/> takes.</summary>
    public static int Cap(int count, AdapterOptions options) => Math.Max(1, (int)Math.Ceiling(count * options.GenerativeShare));

    /// <summary>Baseline and generative interleaved by rank (the baseline first at each rank), the generative side capped, each item once.</summary>
    public static IReadOnlyList<Candidate> Interleave(RecommendationRequest request, IReadOnlyList<Candidate> baseline, IReadOnlyList<Candidate> generative, int count, int cap)
    {
        var result = new List<Candidate>(count);
        var seen = new HashSet<ItemId>();
        int b = 0, g = 0, fromGenerative = 0;
        while (result.Count < count && (b < baseline.Count || (g < generative.Count && fromGenerative < cap)))
        {
            if (b < baseline.Count)
            {
                var c = baseline[b++];
                if (!request.IsExcluded(c.Item) && seen.Add(c.Item))
                {
                    result.Add(c);
                }
            }

            while (g < generative.Count && fromGenerative < cap && result.Count < count)
            {
                var c = generative[g++];
                if (!request.IsExcluded(c.Item) && seen.Add(c.Item))
                {
                    result.Add(c);
                    fromGenerative++;
                    break;
                }
            }
        }

        return result;
    }

    /// <summary>Scores normalised to [0, 1] within each side, combined with weight <paramref name="weight"/> on the generative side.</summary>
    public static IReadOnlyList<Candidate> ScoreBlend(IReadOnlyList<Candidate> baseline, IReadOnlyList<Candidate> generative, int count, double weight, RecommendationRequest? request = null)
    {
        var combined = new Dictionary<ItemId, (Candidate Candidate, double Score)>();
        foreach (var (list, w) in new[] { (baseline, 1 - weight), (generative, weight) })
        {
            var normalised = Normalise(list);
            for (var i = 0; i < list.Count; i++)
            {
                var c = list[i];
                if (request?.IsExcluded(c.Item) == true)
                {
                    continue;
                }

                var score = w * normalised[i];
                combined[c.Item] = combined.TryGetValue(c.Item, out var existing) ? (existing.Candidate, existing.Score + score) : (c, score);
            }
        }

        return combined.Values
            .OrderByDescending(x => x.Score)
            .ThenBy(x => x.Candidate.Item.Value)
            .Take(count)
            .Select(x => x.Candidate with { Score = x.Score })
            .ToArray();
    }

    /// <summary>Reports the generative side's answer beside the served one, once it arrives; never throws into the request.</summary>
    public static void InBackground(Task<(IReadOnlyList<Candidate>? Value, string Outcome, TimeSpan Elapsed)> generative, IReadOnlyList<Candidate> served, RecommendationRequest request, StageGuard guard) =>
        _ = generative.ContinueWith(
            t =>
            {
                var (value, outcome, elapsed) = t.Result;
                var top = served.Take(guard.Options.CompareTop).Select(c => c.Item).ToArray();
                var other = (value ?? []).Take(guard.Options.CompareTop).Select(c => c.Item).ToArray();
                var overlap = top.Length == 0 ? 0 : top.Intersect(other).Count() / (double)top.Length;
                if (value is not null)
                {
                    guard.RecordOverlap(overlap);
                }

                guard.Report(new ShadowComparison(guard.Name, request.User, top, other, overlap, elapsed, outcome));
            },
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnRanToCompletion,
            TaskScheduler.Default);

    private static double[] Normalise(IReadOnlyList<Candidate> list)
    {
        if (list.Count == 0)
        {
            return [];
        }

        // A side's non-finite scores (an item it cannot score: −∞, or NaN) count 0, as an item it lacks does.
        var finite = list.Where(c => double.IsFinite(c.Score)).Select(c => c.Score).ToArray();
        if (finite.Length == 0)
        {
            return new double[list.Count];
        }

        double min = finite.Min(), max = finite.Max();
        return list.Select(c => !double.IsFinite(c.Score) ? 0 : max > min ? (c.Score - min) / (max - min) : 1.0).ToArray();
    }
}
