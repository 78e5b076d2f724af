namespace GenRec;

/// <summary>
/// A recall (candidate generation) stage: proposes items from the whole catalogue for a request.
/// Popularity, item-to-item co-occurrence and generative retrieval are recall stages.
/// </summary>
public interface IRecallStage
{
    /// <summary>A short, stable name for the channel, used in <see cref="Candidate.Source"/> and in metrics.</summary>
    string Name { get; }

    /// <summary>Proposes up to <paramref name="count"/> candidates, best first, none of them excluded by the request.</summary>
    /// <param name="request">The request.</param>
    /// <param name="count">The most candidates to return; positive.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Candidates, best first.</returns>
    ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default);
}

/// <summary>
/// A ranking stage: scores a set of candidates for a request and orders them. A DLRM ranker and a generative
/// ranker (HSTU) are ranking stages.
/// </summary>
public interface IRankingStage
{
    /// <summary>A short, stable name for the ranker.</summary>
    string Name { get; }

    /// <summary>Scores <paramref name="candidates"/> and returns them ordered best first, with the ranker's scores.</summary>
    /// <param name="request">The request.</param>
    /// <param name="candidates">The candidates to rank; may be empty.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The same items, re-scored and ordered best first.</returns>
    ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default);
}

/// <summary>
/// An end-to-end recommender: from a request to the final list. A whole cascade is one; so is a generative
/// model that produces the final list directly (OneRec).
/// </summary>
public interface IRecommender
{
    /// <summary>A short, stable name for the recommender.</summary>
    string Name { get; }

    /// <summary>Produces up to <see cref="RecommendationRequest.Count"/> items, best first.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The final list and how long each stage took.</returns>
    ValueTask<RecommendationResult> RecommendAsync(RecommendationRequest request, CancellationToken cancellationToken = default);
}

/// <summary>The outcome of a recommendation: the final list and the time spent in each stage.</summary>
/// <param name="Items">The recommended items, best first.</param>
/// <param name="Stages">The time each stage took, in the order the stages ran.</param>
public sealed record RecommendationResult(IReadOnlyList<Candidate> Items, IReadOnlyList<StageTiming> Stages);

/// <summary>How long one stage of a recommendation took and how many items it produced.</summary>
/// <param name="Stage">The stage's name (a recall channel's name, "merge", a ranker's name...).</param>
/// <param name="Kind">Which part of the cascade the stage belongs to.</param>
/// <param name="Elapsed">The wall-clock time the stage took.</param>
/// <param name="Items">How many items the stage produced.</param>
public readonly record struct StageTiming(string Stage, StageKind Kind, TimeSpan Elapsed, int Items);

/// <summary>The part of a cascade a stage belongs to.</summary>
public enum StageKind
{
    /// <summary>A recall channel.</summary>
    Recall = 0,

    /// <summary>The merge of recall channels.</summary>
    Merge = 1,

    /// <summary>The ranking stage.</summary>
    Ranking = 2,

    /// <summary>A whole end-to-end recommender.</summary>
    EndToEnd = 3,
}
