namespace GenRec.SemanticIds;

/// <summary>
/// One immutable version of a dense retriever's catalogue: each item's content vector (what its vector is computed
/// from), its unit item vector, and the index searches run on. Adding items returns a new version and leaves this one
/// as it is, so a search in flight finishes on the version it started with. When the catalogue knows which items the
/// model was trained with, it also keeps an exact index of the others — the fresh items, whose vectors come from
/// their content alone — for a recall channel of their own (<see cref="RecallFresh"/>).
/// </summary>
public sealed class DenseItemCatalogue
{
    private ItemEmbeddings? _contentOnly;

    private DenseItemCatalogue(ItemEmbeddings content, ItemEmbeddings vectors, ItemVectorIndex index, int? probes, IReadOnlySet<ItemId>? trained, ItemVectorIndex? fresh)
    {
        Content = content;
        Vectors = vectors;
        Index = index;
        Probes = probes;
        Trained = trained;
        Fresh = fresh;
    }

    /// <summary>Each item's content vector.</summary>
    public ItemEmbeddings Content { get; }

    /// <summary>Each item's unit vector.</summary>
    public ItemEmbeddings Vectors { get; }

    /// <summary>The index over <see cref="Vectors"/>.</summary>
    public ItemVectorIndex Index { get; }

    /// <summary>Partitions a search scans (<see langword="null"/>: the index's default).</summary>
    public int? Probes { get; }

    /// <summary>The items the model learned a collaborative vector for; <see langword="null"/> when not given.</summary>
    public IReadOnlySet<ItemId>? Trained { get; }

    /// <summary>An exact index of the items outside <see cref="Trained"/> (new since training); <see langword="null"/> when <see cref="Trained"/> is.</summary>
    public ItemVectorIndex? Fresh { get; }

    /// <summary>
    /// Every item's content-only unit vector (the item tower with no ID embedding, as items registered after training
    /// have), computed by <paramref name="embedContentOnly"/> from <see cref="Content"/> the first time it is asked for
    /// and kept with this version. Trained with ID dropout, these put warm and new items on one scale, where
    /// <see cref="Vectors"/> favour the items that carry an ID embedding.
    /// </summary>
    /// <param name="embedContentOnly">The runtime's item tower with no ID embedding, over content vectors.</param>
    /// <returns>The content-only vectors of every item of this version.</returns>
    public ItemEmbeddings ContentOnlyVectors(Func<ItemEmbeddings, ItemEmbeddings> embedContentOnly)
    {
        ArgumentNullException.ThrowIfNull(embedContentOnly);
        if (Volatile.Read(ref _contentOnly) is { } cached)
        {
            return cached;
        }

        var vectors = embedContentOnly(Content);
        return Interlocked.CompareExchange(ref _contentOnly, vectors, null) ?? vectors;
    }

    /// <summary>A catalogue served by exact search.</summary>
    /// <param name="content">Each item's content vector.</param>
    /// <param name="vectors">The same items' unit vectors.</param>
    /// <param name="trained">
    /// The items the model learned a collaborative vector for: the rest are indexed apart too, for <see cref="RecallFresh"/>.
    /// <see langword="null"/>: no fresh-items index.
    /// </param>
    /// <returns>The catalogue.</returns>
    /// <exception cref="ArgumentException">The two do not hold the same items.</exception>
    public static DenseItemCatalogue Create(ItemEmbeddings content, ItemEmbeddings vectors, IReadOnlySet<ItemId>? trained = null)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(vectors);
        if (content.Count != vectors.Count || content.Items.Any(i => !vectors.Contains(i)))
        {
            throw new ArgumentException($"The content vectors ({content.Count} items) and the item vectors ({vectors.Count}) must hold the same items.", nameof(vectors));
        }

        return new DenseItemCatalogue(content, vectors, ItemVectorIndex.Exact(vectors), null, trained, trained is null ? null : ItemVectorIndex.Exact(Untrained(vectors, trained)));
    }

    /// <summary>A new version with these items added (a known item takes its new vectors); partitioned indexes place them by <paramref name="ids"/>.</summary>
    /// <param name="content">The items' content vectors.</param>
    /// <param name="vectors">The same items' unit vectors.</param>
    /// <param name="ids">For a partitioned index: semantic IDs that include the items.</param>
    /// <returns>The new version.</returns>
    public DenseItemCatalogue WithItems(ItemEmbeddings content, ItemEmbeddings vectors, SemanticIdIndex? ids = null)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(vectors);
        var fresh = Fresh is null ? null : Untrained(vectors, Trained!) is { Count: > 0 } added ? Fresh.WithItems(added) : Fresh;
        return new DenseItemCatalogue(Content.With(content), Vectors.With(vectors), Index.WithItems(vectors, ids), Probes, Trained, fresh);
    }

    /// <summary>The same items served by an index partitioned by the first code of their semantic IDs.</summary>
    /// <param name="ids">Semantic IDs of every item.</param>
    /// <param name="probes">Partitions a search scans.</param>
    /// <returns>The new version.</returns>
    public DenseItemCatalogue WithPartitions(SemanticIdIndex ids, int probes) =>
        new(Content, Vectors, ItemVectorIndex.Partitioned(Vectors, ids, probes), probes, Trained, Fresh);

    /// <summary>The items with the largest inner product with <paramref name="query"/>, none of <paramref name="exclude"/>.</summary>
    /// <param name="query">A unit query vector.</param>
    /// <param name="count">How many at most.</param>
    /// <param name="exclude">Items never returned; may be <see langword="null"/>.</param>
    /// <returns>Items and inner products, best first.</returns>
    public IReadOnlyList<VectorMatch> Search(ReadOnlySpan<float> query, int count, IReadOnlySet<ItemId>? exclude) =>
        Index.Search(query, count, new ItemVectorSearchOptions { Exclude = exclude, Probes = Probes });

    /// <summary>Recall for a request: the nearest items to its query vector, none the request excludes, as candidates.</summary>
    /// <param name="request">The request (its history and excluded items are never returned).</param>
    /// <param name="query">The request's unit query vector.</param>
    /// <param name="count">How many at most.</param>
    /// <param name="source">The candidates' source name.</param>
    /// <returns>Candidates scored by inner product, best first.</returns>
    public IReadOnlyList<Candidate> Recall(RecommendationRequest request, ReadOnlySpan<float> query, int count, string source)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        IReadOnlySet<ItemId>? exclude = request.ExcludeHistory ? request.ExcludedHistoryItems : null;
        if (request.ExcludedItems is { Count: > 0 } extra)
        {
            exclude = exclude is null ? extra : exclude.Union(extra).ToHashSet();
        }

        return [.. Search(query, count, exclude).Select(m => new Candidate(m.Item, m.Score, source))];
    }

    /// <summary>
    /// Recall among the fresh items only (outside <see cref="Trained"/>: registered after training, or never seen in
    /// its train part), by exact search of their own index: their content-only vectors rarely outrank warm items' in
    /// one list, so a channel of their own with a quota is how they reach users.
    /// </summary>
    /// <param name="request">The request (its history and excluded items are never returned).</param>
    /// <param name="query">The request's unit query vector.</param>
    /// <param name="count">How many at most.</param>
    /// <param name="source">The candidates' source name.</param>
    /// <returns>Candidates scored by inner product, best first; fewer than <paramref name="count"/> when fewer fresh items exist.</returns>
    /// <exception cref="InvalidOperationException">The catalogue was made without the set of trained items.</exception>
    public IReadOnlyList<Candidate> RecallFresh(RecommendationRequest request, ReadOnlySpan<float> query, int count, string source)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var fresh = Fresh ?? throw new InvalidOperationException("This catalogue does not know which items were trained (DenseItemCatalogue.Create without them): it has no fresh-items index.");
        if (fresh.Count == 0)
        {
            return [];
        }

        IReadOnlySet<ItemId>? exclude = request.ExcludeHistory ? request.ExcludedHistoryItems : null;
        if (request.ExcludedItems is { Count: > 0 } extra)
        {
            exclude = exclude is null ? extra : exclude.Union(extra).ToHashSet();
        }

        return [.. fresh.Search(query, count, new ItemVectorSearchOptions { Exclude = exclude }).Select(m => new Candidate(m.Item, m.Score, source))];
    }

    /// <summary>
    /// Re-scores candidates by the inner product of their vectors with <paramref name="query"/>, best first; candidates
    /// without a vector keep their order after the others, scored negative infinity. Equal scores keep the incoming order.
    /// </summary>
    /// <param name="query">The request's unit query vector.</param>
    /// <param name="candidates">The candidates.</param>
    /// <returns>The same candidates, re-scored and ordered.</returns>
    public IReadOnlyList<Candidate> Rank(ReadOnlySpan<float> query, IReadOnlyList<Candidate> candidates) => Rank(query, candidates, Vectors, 0);

    /// <summary>
    /// Re-scores candidates by the inner product of <paramref name="vectors"/>' rows with the query, plus
    /// <paramref name="freshOffset"/> for every item outside <see cref="Trained"/>, best first; candidates without a
    /// vector keep their order after the others, scored negative infinity. Equal scores keep the incoming order.
    /// </summary>
    /// <param name="query">The request's unit query vector.</param>
    /// <param name="candidates">The candidates.</param>
    /// <param name="vectors">The item vectors to score with: <see cref="Vectors"/>, or content-only vectors of the same items.</param>
    /// <param name="freshOffset">Added to the score of the items without a collaborative vector (0 when <see cref="Trained"/> is not known).</param>
    /// <returns>The same candidates, re-scored and ordered.</returns>
    public IReadOnlyList<Candidate> Rank(ReadOnlySpan<float> query, IReadOnlyList<Candidate> candidates, ItemEmbeddings vectors, double freshOffset)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        ArgumentNullException.ThrowIfNull(candidates);
        var trained = freshOffset == 0 ? null : Trained;
        var scored = new (Candidate Candidate, int At)[candidates.Count];
        for (var i = 0; i < candidates.Count; i++)
        {
            var c = candidates[i];
            var score = vectors.Contains(c.Item) ? VectorMath.Dot(query, vectors[c.Item]) + (trained is null || trained.Contains(c.Item) ? 0 : freshOffset) : double.NegativeInfinity;
            scored[i] = (c with { Score = score }, i);
        }

        return [.. scored.OrderByDescending(p => p.Candidate.Score).ThenBy(p => p.At).Select(p => p.Candidate)];
    }

    /// <summary>
    /// Re-scores groups of candidates, each against its own query (COBRA's prefix-conditioned queries), as
    /// <see cref="Rank(ReadOnlySpan{float}, IReadOnlyList{Candidate}, ItemEmbeddings, double)"/> does; the groups' lists
    /// one after the other, each best first.
    /// </summary>
    /// <param name="queries">One unit query per group, row-major [groups, d].</param>
    /// <param name="groups">The candidates of each group.</param>
    /// <param name="vectors">The item vectors to score with.</param>
    /// <param name="freshOffset">Added to the score of the items without a collaborative vector.</param>
    /// <returns>Every candidate, re-scored.</returns>
    /// <exception cref="ArgumentException">There are not as many queries as groups.</exception>
    public IReadOnlyList<Candidate> RankGroups(ReadOnlySpan<float> queries, IReadOnlyList<IReadOnlyList<Candidate>> groups, ItemEmbeddings vectors, double freshOffset)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(vectors);
        var d = vectors.Dimension;
        if (queries.Length != groups.Count * d)
        {
            throw new ArgumentException($"{groups.Count} groups need {groups.Count} queries of {d} values; got {queries.Length} values.", nameof(queries));
        }

        var scored = new List<Candidate>(groups.Sum(g => g.Count));
        for (var g = 0; g < groups.Count; g++)
        {
            scored.AddRange(Rank(queries.Slice(g * d, d), groups[g], vectors, freshOffset));
        }

        return scored;
    }

    /// <summary>
    /// The events of a history a user tower reads: the last <paramref name="maxHistory"/> whose item this catalogue holds,
    /// oldest first (the positions of <see cref="HistoryInput"/>, for a tower that reads more of each event than its item).
    /// </summary>
    /// <param name="history">The user's events, oldest first.</param>
    /// <param name="maxHistory">The most items the tower reads.</param>
    /// <returns>The events read.</returns>
    public IReadOnlyList<UserEvent> KnownHistory(IReadOnlyList<UserEvent> history, int maxHistory)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxHistory);
        return history.Where(e => Vectors.Contains(e.Item)).TakeLast(maxHistory).ToArray();
    }

    /// <summary>
    /// A user tower's input for a history: the vectors of its last <paramref name="maxHistory"/> items this catalogue
    /// holds (unknown items skipped), oldest first, and which positions are real; one padding position when none is.
    /// </summary>
    /// <param name="history">The user's events, oldest first.</param>
    /// <param name="maxHistory">The most items the tower reads.</param>
    /// <returns>Row-major vectors [length, d], the valid mask [length], and the length.</returns>
    public (float[] Vectors, bool[] Valid, int Length) HistoryInput(IReadOnlyList<UserEvent> history, int maxHistory)
    {
        var known = KnownHistory(history, maxHistory);
        var d = Vectors.Dimension;
        var t = Math.Max(1, known.Count);
        var input = new float[t * d];
        var valid = new bool[t];
        for (var i = 0; i < known.Count; i++)
        {
            Vectors[known[i].Item].CopyTo(input.AsSpan(i * d, d));
            valid[i] = true;
        }

        return (input, valid, t);
    }

    private static ItemEmbeddings Untrained(ItemEmbeddings vectors, IReadOnlySet<ItemId> trained) =>
        vectors.Subset([.. vectors.Items.Where(i => !trained.Contains(i))]);
}
