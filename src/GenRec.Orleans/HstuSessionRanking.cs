using GenRec.Inference;

namespace GenRec.Orleans;

/// <summary>
/// One HSTU ranking for a user, shared by the session grain (model work in process) and the model runner grain:
/// reuse a kept history state, extend it with the events appended since where the ranker can do that exactly, or
/// encode the history; then score the distinct candidates.
/// </summary>
internal static class HstuSessionRanking
{
    /// <summary>Runs on the caller's thread (callers put it on the thread pool, off the grain scheduler).</summary>
    /// <param name="ranker">The silo's HSTU ranker.</param>
    /// <param name="kept">A state of this user's history at an earlier revision, or <see langword="null"/>.</param>
    /// <param name="appended">The events appended since <paramref name="kept"/> (empty: it is current).</param>
    /// <param name="history">The whole history, oldest first.</param>
    /// <param name="user">The user.</param>
    /// <param name="candidates">The candidates (item ids; duplicates count once).</param>
    /// <param name="now">The request's time.</param>
    /// <returns>The state now, the known candidates best first, and whether the kept state was reused or extended.</returns>
    public static (HstuHistoryState State, ScoredItem[] Ranked, bool Reused) Rank(
        HstuOnnxRanker ranker, HstuHistoryState? kept, IReadOnlyList<UserEvent> appended, UserEvent[] history, UserId user, IReadOnlyList<long> candidates, DateTimeOffset now)
    {
        HstuHistoryState? reused = null;
        if (kept is not null && kept.ModelId == ranker.Manifest.History.Sha256)
        {
            reused = appended.Count == 0 ? kept : ranker.TryExtend(kept, appended, out var extended) ? extended : null;
        }

        var state = reused ?? ranker.Encode(history);
        var distinct = candidates.Distinct().Select(i => new Candidate(new ItemId(i), 0, "session")).ToArray();
        var request = new RecommendationRequest(user, history, Math.Max(1, distinct.Length), now);
        var scores = ranker.Score(state, request, distinct);
        var ranked = distinct.Zip(scores).Where(p => !double.IsNegativeInfinity(p.Second)).OrderByDescending(p => p.Second).Select(p => new ScoredItem(p.First.Item.Value, p.Second)).ToArray();
        return (state, ranked, reused is not null);
    }

    /// <summary>The version label of an HSTU ranker.</summary>
    public static string Version(HstuOnnxRanker ranker) => $"hstu:{ranker.Manifest.History.Sha256[..12]}";
}
