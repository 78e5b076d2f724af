namespace GenRec;

/// <summary>
/// Features an existing cascade already computes for (request, candidate) pairs — popularity, co-occurrence with the
/// history, genre affinity, freshness. A generative ranker reads them beside the behaviour sequence (Meituan MTGR:
/// keep the DLRM's cross features), so it starts from what the cascade knows instead of relearning it.
/// </summary>
public interface ICandidateFeatures
{
    /// <summary>The feature names, in the order <see cref="Compute"/> writes them; a model trained on them checks this list.</summary>
    IReadOnlyList<string> Names { get; }

    /// <summary>Writes <c>candidates.Count × Names.Count</c> values, candidate by candidate, into <paramref name="destination"/>.</summary>
    /// <param name="request">The request (history and time); nothing after <see cref="RecommendationRequest.RequestTime"/> is read.</param>
    /// <param name="candidates">The candidates.</param>
    /// <param name="destination">At least <c>candidates.Count × Names.Count</c> values. A value the source does not have is NaN (missing); candidates it does not know get zeros.</param>
    void Compute(RecommendationRequest request, IReadOnlyList<Candidate> candidates, Span<float> destination);
}

/// <summary>
/// A ranking training query: a request at a past moment, the candidates the cascade's recall gave for it, which of
/// them the user took next, and their cross features computed without looking at that moment or later.
/// </summary>
/// <param name="Request">The request (history before the target, time of the target).</param>
/// <param name="Candidates">The recalled candidates, in recall order.</param>
/// <param name="Target">Index of the item taken in <paramref name="Candidates"/>, or -1 when the recall missed it.</param>
/// <param name="Features"><c>Candidates.Count × names</c> cross features, candidate by candidate.</param>
public sealed record RankingQuery(RecommendationRequest Request, IReadOnlyList<Candidate> Candidates, int Target, float[] Features);
