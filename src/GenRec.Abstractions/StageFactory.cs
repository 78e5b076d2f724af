namespace GenRec;

/// <summary>Wraps a team's own code as a recall stage in one line: <c>RecallStage.From("mine", (request, count, ct) => …)</c>.</summary>
public static class RecallStage
{
    /// <summary>A recall stage that calls <paramref name="recall"/>.</summary>
    /// <param name="name">The stage's name.</param>
    /// <param name="recall">Proposes up to <c>count</c> candidates for a request, best first.</param>
    /// <returns>The stage.</returns>
    public static IRecallStage From(string name, Func<RecommendationRequest, int, CancellationToken, ValueTask<IReadOnlyList<Candidate>>> recall)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(recall);
        return new Delegated(name, recall);
    }

    private sealed class Delegated(string name, Func<RecommendationRequest, int, CancellationToken, ValueTask<IReadOnlyList<Candidate>>> recall) : IRecallStage
    {
        public string Name => name;

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default) => recall(request, count, cancellationToken);
    }
}

/// <summary>Wraps a team's own ranker as a ranking stage in one line: <c>RankingStage.From("mine", (request, candidates, ct) => …)</c>.</summary>
public static class RankingStage
{
    /// <summary>A ranking stage that calls <paramref name="rank"/>.</summary>
    /// <param name="name">The stage's name.</param>
    /// <param name="rank">Scores the candidates and returns them best first.</param>
    /// <returns>The stage.</returns>
    public static IRankingStage From(string name, Func<RecommendationRequest, IReadOnlyList<Candidate>, CancellationToken, ValueTask<IReadOnlyList<Candidate>>> rank)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(rank);
        return new Delegated(name, rank);
    }

    /// <summary>
    /// A ranking stage that orders the candidates by a reward model's score after the request's history (e.g. a
    /// generator's list re-ranked by the reward it could have been aligned to); candidates the reward cannot score
    /// keep their order after the others, with a score of negative infinity.
    /// </summary>
    /// <param name="reward">The reward model.</param>
    /// <param name="name">The stage's name. Default: "reward:" and the reward's name.</param>
    /// <returns>The stage.</returns>
    public static IRankingStage FromReward(IRewardModel reward, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(reward);
        return new Delegated(name ?? $"reward:{reward.Name}", (request, candidates, cancellationToken) =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            var scores = new double[candidates.Count];
            reward.Score(request, [.. candidates.Select(c => c.Item)], scores);
            for (var i = 0; i < scores.Length; i++)
            {
                scores[i] = double.IsNaN(scores[i]) ? double.NegativeInfinity : scores[i];
            }

            return ValueTask.FromResult(Order(candidates, scores));
        });
    }

    /// <summary>
    /// The candidates re-scored with <paramref name="scores"/> (one per candidate, in order) and ordered best first;
    /// ties keep the candidates' order. What a ranker returns once it has scored the candidates.
    /// </summary>
    /// <param name="candidates">The candidates.</param>
    /// <param name="scores">Their new scores (negative infinity for one the ranker cannot score).</param>
    /// <returns>The ranked candidates.</returns>
    public static IReadOnlyList<Candidate> Order(IReadOnlyList<Candidate> candidates, IReadOnlyList<double> scores)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Count != candidates.Count)
        {
            throw new ArgumentException($"Expected {candidates.Count} scores, got {scores.Count}.", nameof(scores));
        }

        return Enumerable.Range(0, candidates.Count)
            .OrderByDescending(i => scores[i])
            .ThenBy(i => i)
            .Select(i => candidates[i] with { Score = scores[i] })
            .ToArray();
    }

    private sealed class Delegated(string name, Func<RecommendationRequest, IReadOnlyList<Candidate>, CancellationToken, ValueTask<IReadOnlyList<Candidate>>> rank) : IRankingStage
    {
        public string Name => name;

        public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default) => rank(request, candidates, cancellationToken);
    }
}

/// <summary>Wraps a team's whole recommender in one line: <c>Recommender.From("mine", (request, ct) => …)</c>.</summary>
public static class Recommender
{
    /// <summary>A recommender that calls <paramref name="recommend"/>.</summary>
    /// <param name="name">Its name.</param>
    /// <param name="recommend">Produces the final list for a request.</param>
    /// <returns>The recommender.</returns>
    public static IRecommender From(string name, Func<RecommendationRequest, CancellationToken, ValueTask<IReadOnlyList<Candidate>>> recommend)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(recommend);
        return new Delegated(name, recommend);
    }

    private sealed class Delegated(string name, Func<RecommendationRequest, CancellationToken, ValueTask<IReadOnlyList<Candidate>>> recommend) : IRecommender
    {
        public string Name => name;

        public async ValueTask<RecommendationResult> RecommendAsync(RecommendationRequest request, CancellationToken cancellationToken = default)
        {
            var start = System.Diagnostics.Stopwatch.GetTimestamp();
            var items = await recommend(request, cancellationToken).ConfigureAwait(false);
            return new RecommendationResult(items, [new StageTiming(name, StageKind.EndToEnd, System.Diagnostics.Stopwatch.GetElapsedTime(start), items.Count)]);
        }
    }
}
