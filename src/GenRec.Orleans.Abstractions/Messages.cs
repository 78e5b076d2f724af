namespace GenRec.Orleans;

/// <summary>A behaviour event sent to a user session grain.</summary>
/// <param name="Item">The item acted on.</param>
/// <param name="Action">What the user did.</param>
/// <param name="Time">When it happened.</param>
/// <param name="Value">A rating or other value, when the action has one.</param>
/// <param name="EventId">
/// Makes the event idempotent: an event whose id the session already holds is acknowledged and not stored twice.
/// When <see langword="null"/>, the id is the (item, action, time) triple.
/// </param>
[GenerateSerializer]
[Alias("genrec.BehaviourEvent")]
public sealed record BehaviourEvent(
    [property: Id(0)] long Item,
    [property: Id(1)] ActionType Action,
    [property: Id(2)] DateTimeOffset Time,
    [property: Id(3)] float? Value = null,
    [property: Id(4)] string? EventId = null)
{
    /// <summary>The event in the SDK's vocabulary.</summary>
    /// <param name="user">The user it belongs to.</param>
    /// <returns>The event.</returns>
    public UserEvent ToUserEvent(long user) => new(new UserId(user), new ItemId(Item), Action, Time, Value) { EventId = EventId };

    /// <summary>The event as a message.</summary>
    /// <param name="e">An SDK event.</param>
    /// <returns>The message.</returns>
    public static BehaviourEvent From(UserEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return new BehaviourEvent(e.Item.Value, e.Action, e.Timestamp, e.Value, e.EventId);
    }
}

/// <summary>Why an event was not stored.</summary>
public enum RejectionReason
{
    /// <summary>The catalogue (the current semantic-ID index) does not know the item, and the session keeps no more pending events (<c>MaxPendingEvents</c>).</summary>
    UnknownItem = 0,

    /// <summary>The event is later than the session's clock allows (<c>MaxClockSkew</c>).</summary>
    InTheFuture = 1,

    /// <summary>The sequence is full and the event is older than every event it keeps.</summary>
    OlderThanWindow = 2,

    /// <summary>The event has a timestamp before 1970 or an action outside the known ones.</summary>
    Malformed = 3,
}

/// <summary>An event the session did not store, and why.</summary>
/// <param name="Index">Its position in the appended batch.</param>
/// <param name="Reason">Why.</param>
/// <param name="Detail">A sentence for people.</param>
[GenerateSerializer]
[Alias("genrec.RejectedEvent")]
public sealed record RejectedEvent([property: Id(0)] int Index, [property: Id(1)] RejectionReason Reason, [property: Id(2)] string Detail);

/// <summary>What an append did. Stored events are durable when this returns.</summary>
/// <param name="Stored">Events added to the sequence.</param>
/// <param name="Duplicates">Events the session already held (same event id): acknowledged, not stored twice.</param>
/// <param name="Rejected">Events not stored, with the reason.</param>
/// <param name="Evicted">The oldest events dropped to keep the sequence within its bound.</param>
/// <param name="Length">Events in the sequence now.</param>
/// <param name="Pending">
/// Events for items the catalogue does not know yet, kept (durably) until the item is registered; they join the
/// sequence at the first call after the session's silo sees an index that has the item.
/// </param>
[GenerateSerializer]
[Alias("genrec.AppendResult")]
public sealed record AppendResult(
    [property: Id(0)] int Stored,
    [property: Id(1)] int Duplicates,
    [property: Id(2)] IReadOnlyList<RejectedEvent> Rejected,
    [property: Id(3)] int Evicted,
    [property: Id(4)] int Length,
    [property: Id(5)] int Pending = 0);

/// <summary>Which retrieval a session's recommendation uses.</summary>
public enum RetrievalMode
{
    /// <summary>The generative model: semantic IDs decoded by trie-constrained beam search.</summary>
    Generative = 0,

    /// <summary>The dense (two-tower) retriever of <c>GenRecOrleansOptions.DenseModelPath</c>: nearest items to the user's vector.</summary>
    Dense = 1,

    /// <summary>
    /// Both, as LIGER's union, plus a fresh-items channel: generative and dense candidates interleaved for most of the
    /// list, and items registered since the dense model was trained (reached by their content alone) for
    /// <c>GenRecOrleansOptions.FreshItemsShare</c> of it, so a new item can be recommended the day it arrives.
    /// </summary>
    Hybrid = 2,

    /// <summary>
    /// COBRA-style beam fusion: the generative model emits semantic-ID prefixes, the dense retriever scores every item
    /// under them, and the list is ordered by log P(prefix) + weight × similarity (<c>GenRecOrleansOptions.Fusion</c>),
    /// so new items — with content-made IDs — compete in one list by score.
    /// </summary>
    Fusion = 3,
}

/// <summary>A recommendation request to a user session grain.</summary>
/// <param name="Count">How many items.</param>
/// <param name="BeamWidth">Beams kept by the generative search (widened to <paramref name="Count"/>; with <see cref="RetrievalMode.Fusion"/>, the prefixes kept, not widened); 0 for the silo's default.</param>
/// <param name="ExcludeHistory">Whether items in the history are left out.</param>
/// <param name="ExcludedItems">Further items to leave out.</param>
/// <param name="Retrieval">Generative (the default), dense or hybrid retrieval; the last two need a dense model on the silos.</param>
[GenerateSerializer]
[Alias("genrec.RecommendQuery")]
public sealed record RecommendQuery(
    [property: Id(0)] int Count = 10,
    [property: Id(1)] int BeamWidth = 0,
    [property: Id(2)] bool ExcludeHistory = true,
    [property: Id(3)] IReadOnlyList<long>? ExcludedItems = null,
    [property: Id(4)] RetrievalMode Retrieval = RetrievalMode.Generative);

/// <summary>A recommended or ranked item.</summary>
/// <param name="Item">The item.</param>
/// <param name="Score">
/// Its score from the source that found it: a log-probability under the generative model, an inner product with the
/// user's vector for dense retrieval; in a hybrid list, sources' scores are not comparable, the order is the merge's.
/// </param>
/// <param name="Source">What found it: "generative", "dense" or "dense-new" (the fresh-items channel); <see langword="null"/> from older silos.</param>
[GenerateSerializer]
[Alias("genrec.ScoredItem")]
public sealed record ScoredItem([property: Id(0)] long Item, [property: Id(1)] double Score, [property: Id(2)] string? Source = null);

/// <summary>A grain's answer to a recommendation or ranking request.</summary>
/// <param name="Items">The items, best first.</param>
/// <param name="ModelVersion">The model version that scored them.</param>
/// <param name="IndexVersion">The semantic-ID index version used.</param>
/// <param name="CachedState">Whether the user's cached generative state was reused (no history re-encoding; for HSTU ranking, events appended since were added to it by their own tokens).</param>
[GenerateSerializer]
[Alias("genrec.Recommendations")]
public sealed record Recommendations(
    [property: Id(0)] IReadOnlyList<ScoredItem> Items,
    [property: Id(1)] string ModelVersion,
    [property: Id(2)] int IndexVersion,
    [property: Id(3)] bool CachedState);

/// <summary>A model the runners serve.</summary>
/// <param name="Version">The version label (the manifest's producer and the folder's hash, or what the publisher named it).</param>
/// <param name="Path">The model folder every silo loads.</param>
[GenerateSerializer]
[Alias("genrec.ModelReference")]
public sealed record ModelReference([property: Id(0)] string Version, [property: Id(1)] string Path);

/// <summary>A new catalogue item with the embedding its semantic ID is computed from, and the content its dense vector is.</summary>
/// <param name="Item">The item id.</param>
/// <param name="Embedding">The embedding, of the width the index was trained on.</param>
/// <param name="Content">
/// Its content vector for dense retrieval, from the dense model's content source (e.g. all-MiniLM-L6-v2 of its text);
/// <see langword="null"/>: the item gets a semantic ID only, and dense retrieval cannot reach it.
/// </param>
[GenerateSerializer]
[Alias("genrec.NewItem")]
public sealed record NewItem([property: Id(0)] long Item, [property: Id(1)] float[] Embedding, [property: Id(2)] float[]? Content = null);

/// <summary>The content vectors of every item registered with content, in registration order, as of a version.</summary>
/// <param name="Version">Bumped by every registration that added content.</param>
/// <param name="Items">The items.</param>
/// <param name="Values">Their content vectors, row-major [items, width].</param>
/// <param name="Width">The width of a content vector.</param>
[GenerateSerializer]
[Immutable]
[Alias("genrec.RegisteredContent")]
public sealed record RegisteredContent([property: Id(0)] int Version, [property: Id(1)] long[] Items, [property: Id(2)] float[] Values, [property: Id(3)] int Width);

/// <summary>An item and the semantic ID it was given.</summary>
/// <param name="Item">The item id.</param>
/// <param name="Codes">Its semantic ID's codes.</param>
[GenerateSerializer]
[Alias("genrec.RegisteredItem")]
public sealed record RegisteredItem([property: Id(0)] long Item, [property: Id(1)] int[] Codes);

/// <summary>A published semantic-ID index: its version and its bytes (the index file format).</summary>
/// <param name="Version">The index version.</param>
/// <param name="Fingerprint">Its fingerprint.</param>
/// <param name="Bytes">The index, as <c>SemanticIdIndex.ToBytes</c> writes it.</param>
[GenerateSerializer]
[Immutable]
[Alias("genrec.IndexSnapshot")]
public sealed record IndexSnapshot([property: Id(0)] int Version, [property: Id(1)] string Fingerprint, [property: Id(2)] byte[] Bytes);

/// <summary>
/// A published semantic-ID index version as content-addressed chunks: the index file's bytes cut into chunks of
/// <paramref name="ChunkBytes"/> (the last shorter), each named by its SHA-256, so no write or message holds more than
/// a chunk; a reader checks every chunk's hash, the whole's length and SHA-256, and the parsed index's fingerprint.
/// </summary>
/// <param name="Version">The index version.</param>
/// <param name="Fingerprint">Its fingerprint.</param>
/// <param name="Lineage">The fingerprints of the versions it grew from (a new version must list the current one).</param>
/// <param name="Length">The index file's length in bytes.</param>
/// <param name="Sha256">The SHA-256 of the whole file (lower-case hex).</param>
/// <param name="ChunkBytes">The chunk size the file was cut at.</param>
/// <param name="Chunks">The chunks' SHA-256 (lower-case hex), in order.</param>
[GenerateSerializer]
[Immutable]
[Alias("genrec.IndexManifest")]
public sealed record IndexManifest(
    [property: Id(0)] int Version,
    [property: Id(1)] string Fingerprint,
    [property: Id(2)] IReadOnlyList<string> Lineage,
    [property: Id(3)] long Length,
    [property: Id(4)] string Sha256,
    [property: Id(5)] int ChunkBytes,
    [property: Id(6)] IReadOnlyList<string> Chunks);

/// <summary>What a session sends a model runner to rank with HSTU.</summary>
/// <param name="User">The user.</param>
/// <param name="Revision">The session's revision of the history.</param>
/// <param name="History">The whole history, oldest first (encoded when the runner has nothing to reuse).</param>
/// <param name="BaseRevision">The revision the runner last ranked this user at, as far as the session knows; <see langword="null"/> when unknown.</param>
/// <param name="Appended">The events appended since <paramref name="BaseRevision"/>, in arrival order; <see langword="null"/> when unknown (events left the sequence).</param>
/// <param name="Candidates">The candidates (item ids).</param>
/// <param name="RequestTime">The request's time.</param>
[GenerateSerializer]
[Alias("genrec.HstuRankWork")]
public sealed record HstuRankWork(
    [property: Id(0)] long User,
    [property: Id(1)] long Revision,
    [property: Id(2)] IReadOnlyList<BehaviourEvent> History,
    [property: Id(3)] long? BaseRevision,
    [property: Id(4)] IReadOnlyList<BehaviourEvent>? Appended,
    [property: Id(5)] IReadOnlyList<long> Candidates,
    [property: Id(6)] DateTimeOffset RequestTime);

/// <summary>A model runner's answer.</summary>
/// <param name="Items">The items, best first (ranked candidates, or generated items).</param>
/// <param name="ModelVersion">The model that scored them.</param>
/// <param name="CachedState">Whether the runner's kept state of the history was reused or extended (no history re-encoding).</param>
/// <param name="Silo">The name of the silo that ran the model.</param>
/// <param name="IndexVersion">The semantic-ID index version used (generative work; 0 for HSTU ranking).</param>
[GenerateSerializer]
[Alias("genrec.RunnerResult")]
public sealed record RunnerResult(
    [property: Id(0)] IReadOnlyList<ScoredItem> Items,
    [property: Id(1)] string ModelVersion,
    [property: Id(2)] bool CachedState,
    [property: Id(3)] string Silo,
    [property: Id(4)] int IndexVersion = 0);

/// <summary>What a session sends a model runner to recommend by generative retrieval.</summary>
/// <param name="User">The user.</param>
/// <param name="Revision">The session's revision of the history (the runner reuses the context it keeps for it).</param>
/// <param name="History">The whole history, oldest first.</param>
/// <param name="Count">Items wanted.</param>
/// <param name="BeamWidth">Beams (0: the silo's default), at least <paramref name="Count"/>.</param>
/// <param name="Excluded">Items never to generate (the history, when the query excludes it, and the query's own).</param>
[GenerateSerializer]
[Alias("genrec.GenerativeWork")]
public sealed record GenerativeWork(
    [property: Id(0)] long User,
    [property: Id(1)] long Revision,
    [property: Id(2)] IReadOnlyList<BehaviourEvent> History,
    [property: Id(3)] int Count,
    [property: Id(4)] int BeamWidth,
    [property: Id(5)] IReadOnlyList<long> Excluded);
