using Microsoft.Extensions.VectorData;

namespace GenRec.Inference;

/// <summary>
/// Dense recall from a vector store a team already runs, through the <c>Microsoft.Extensions.VectorData</c>
/// abstractions (<see cref="IVectorSearchable{TRecord}"/>: any <c>VectorStoreCollection</c> — Qdrant, Redis, Azure AI
/// Search, Postgres, SQL Server, an in-memory store): the request's query vector (e.g. the dense retriever's user
/// tower, <see cref="OnnxDenseRetriever.UserVector"/>) is searched in the store, and the records become candidates in
/// the store's order (best first), the request's history and excluded items skipped.
/// </summary>
/// <typeparam name="TRecord">The store's record type.</typeparam>
public sealed class VectorStoreRecall<TRecord> : IRecallStage
    where TRecord : class
{
    private readonly IVectorSearchable<TRecord> _store;
    private readonly Func<RecommendationRequest, ReadOnlyMemory<float>> _query;
    private readonly Func<TRecord, ItemId> _item;

    /// <summary>Creates the stage.</summary>
    /// <param name="name">The channel's name.</param>
    /// <param name="store">The team's vector collection; its vectors must be in the query's space (e.g. the dense retriever's item vectors).</param>
    /// <param name="query">The request's query vector.</param>
    /// <param name="item">The item a record stands for.</param>
    public VectorStoreRecall(string name, IVectorSearchable<TRecord> store, Func<RecommendationRequest, ReadOnlyMemory<float>> query, Func<TRecord, ItemId> item)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(item);
        Name = name;
        _store = store;
        _query = query;
        _item = item;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>
    /// Searches the store for <paramref name="count"/> records plus as many as the request excludes (the store cannot
    /// filter on a per-request item list), then drops excluded items.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="count">The most candidates; positive.</param>
    /// <param name="cancellationToken">Cancels the search.</param>
    /// <returns>Candidates with the store's scores, best first.</returns>
    public async ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var vector = _query(request);
        var excluded = (request.ExcludeHistory ? request.ExcludedHistoryItems.Count : 0) + (request.ExcludedItems?.Count ?? 0);
        var result = new List<Candidate>(count);
        var seen = new HashSet<ItemId>();
        await foreach (var match in _store.SearchAsync(vector, count + excluded, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            var item = _item(match.Record);
            if (!request.IsExcluded(item) && seen.Add(item))
            {
                result.Add(new Candidate(item, match.Score ?? double.NaN, Name));
                if (result.Count == count)
                {
                    break;
                }
            }
        }

        return result;
    }
}
