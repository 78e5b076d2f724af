namespace GenRec;

/// <summary>
/// How much a user would value each item after their history: the reward a generator is aligned to (OneRec's reward
/// system) and a metric of any recommender's lists. A team's own ranking model can serve as one (its scores only
/// need to order items within a request), or a model trained for it (<c>HstuModel.AsReward</c>: the probability of a
/// good rating plus engagement).
/// </summary>
public interface IRewardModel
{
    /// <summary>The reward's name, in reports.</summary>
    string Name { get; }

    /// <summary>
    /// Writes one reward per item into <paramref name="destination"/>: higher is better; an item the model does not
    /// know gets NaN (missing), never an error.
    /// </summary>
    /// <param name="request">The request (history and time); nothing after <see cref="RecommendationRequest.RequestTime"/> is read.</param>
    /// <param name="items">The items to score.</param>
    /// <param name="destination">At least <c>items.Count</c> values.</param>
    void Score(RecommendationRequest request, IReadOnlyList<ItemId> items, Span<double> destination);
}
