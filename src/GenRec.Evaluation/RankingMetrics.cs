namespace GenRec.Evaluation;

/// <summary>
/// Single-target ranking metrics on a 1-based rank, the convention of leave-one-out full-ranking evaluation:
/// a rank of 0 means the target is absent from the list and scores 0 on every metric.
/// </summary>
public static class RankingMetrics
{
    /// <summary>HR@K: 1 when the target is within the first <paramref name="k"/> items.</summary>
    /// <param name="rank">The target's 1-based rank, or 0 when absent.</param>
    /// <param name="k">The cut-off; positive.</param>
    /// <returns>1 or 0.</returns>
    public static double HitRate(int rank, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        return rank >= 1 && rank <= k ? 1.0 : 0.0;
    }

    /// <summary>NDCG@K with one relevant item: 1 / log2(rank + 1) when within the first <paramref name="k"/>, else 0.</summary>
    /// <param name="rank">The target's 1-based rank, or 0 when absent.</param>
    /// <param name="k">The cut-off; positive.</param>
    /// <returns>A value in [0, 1].</returns>
    public static double Ndcg(int rank, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        return rank >= 1 && rank <= k ? 1.0 / Math.Log2(rank + 1) : 0.0;
    }

    /// <summary>The reciprocal rank over the whole list: 1 / rank, or 0 when absent.</summary>
    /// <param name="rank">The target's 1-based rank, or 0 when absent.</param>
    /// <returns>A value in [0, 1].</returns>
    public static double ReciprocalRank(int rank) => rank >= 1 ? 1.0 / rank : 0.0;

    /// <summary>The 1-based rank of <paramref name="target"/> in <paramref name="list"/>, or 0 when absent.</summary>
    /// <param name="list">A ranked list, best first.</param>
    /// <param name="target">The held-out item.</param>
    /// <returns>The rank.</returns>
    public static int RankOf(IReadOnlyList<ItemId> list, ItemId target)
    {
        ArgumentNullException.ThrowIfNull(list);
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] == target)
            {
                return i + 1;
            }
        }

        return 0;
    }
}
