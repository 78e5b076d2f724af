namespace GenRec.Orleans;

/// <summary>
/// Generative recall served by the cluster: asks the request's user session grain (which holds the history and its
/// cached encoding) for recommendations. The request's history is not sent: the session's own sequence is used, so
/// events must reach it through <see cref="IUserSessionGrain.AppendEventsAsync"/>.
/// </summary>
/// <param name="grains">The cluster client (or a grain factory inside a silo).</param>
/// <param name="name">The stage's name. Default: "generative".</param>
/// <param name="beamWidth">Beams of the search; 0 for the silo's default.</param>
public sealed class UserSessionRecall(IGrainFactory grains, string name = "generative", int beamWidth = 0) : IRecallStage
{
    /// <inheritdoc />
    public string Name => name;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        // The grain excludes its whole history or none of it: a request that excludes the items of some actions only
        // names them itself.
        var byAction = request.ExcludeHistory && request.ExcludeHistoryActions is not null;
        var excluded = (byAction ? request.ExcludedHistoryItems.Concat(request.ExcludedItems ?? Enumerable.Empty<ItemId>()) : request.ExcludedItems)?.Select(i => i.Value).ToArray();
        var result = await grains.GetGrain<IUserSessionGrain>(request.User.Value)
            .RecommendAsync(new RecommendQuery(count, beamWidth, request.ExcludeHistory && !byAction, excluded))
            .WaitAsync(cancellationToken)
            .ConfigureAwait(false);
        return result.Items.Select(i => new Candidate(new ItemId(i.Item), i.Score, name)).Where(c => !request.IsExcluded(c.Item)).ToArray();
    }
}

/// <summary>Generative ranking served by the cluster: the user session grain scores candidates by their log-probability as the next item.</summary>
/// <param name="grains">The cluster client.</param>
/// <param name="name">The stage's name. Default: "generative-rank".</param>
public sealed class UserSessionRanking(IGrainFactory grains, string name = "generative-rank") : IRankingStage
{
    /// <inheritdoc />
    public string Name => name;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        var ranked = await grains.GetGrain<IUserSessionGrain>(request.User.Value)
            .RankAsync(candidates.Select(c => c.Item.Value).ToArray())
            .WaitAsync(cancellationToken)
            .ConfigureAwait(false);
        return Rescored(candidates, ranked);
    }

    /// <summary>
    /// The candidates a grain ranked, in its order, with its scores (the first of any repeated item), then the candidates it
    /// did not rank (items its model does not know) in their recall order with a score of negative infinity: the same items,
    /// re-scored, as <see cref="IRankingStage.RankAsync"/> promises.
    /// </summary>
    internal static IReadOnlyList<Candidate> Rescored(IReadOnlyList<Candidate> candidates, Recommendations ranked)
    {
        var byItem = candidates.GroupBy(c => c.Item).ToDictionary(g => g.Key, g => g.First());
        var scored = ranked.Items.Where(i => byItem.ContainsKey(new ItemId(i.Item))).DistinctBy(i => i.Item)
            .Select(i => byItem[new ItemId(i.Item)] with { Score = i.Score }).ToList();
        var seen = scored.Select(c => c.Item).ToHashSet();
        scored.AddRange(candidates.Where(c => seen.Add(c.Item)).Select(c => c with { Score = double.NegativeInfinity }));
        return scored;
    }
}

/// <summary>
/// HSTU ranking served by the users' session grains (<see cref="IUserSessionGrain.RankWithHstuAsync"/>): the
/// session keeps the history's keys and values, so repeated rankings for a user skip the history pass. Items the
/// model does not know are kept, last.
/// </summary>
/// <param name="grains">The cluster client.</param>
/// <param name="name">The stage's name. Default: "hstu".</param>
public sealed class UserSessionHstuRanking(IGrainFactory grains, string name = "hstu") : IRankingStage
{
    /// <inheritdoc />
    public string Name => name;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        var ranked = await grains.GetGrain<IUserSessionGrain>(request.User.Value)
            .RankWithHstuAsync(candidates.Select(c => c.Item.Value).ToArray())
            .WaitAsync(cancellationToken)
            .ConfigureAwait(false);
        return UserSessionRanking.Rescored(candidates, ranked);
    }
}
