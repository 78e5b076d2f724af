namespace GenRec.Orleans;

/// <summary>
/// One user's generative session, keyed by user id: the behaviour sequence as durable state (bounded, ordered by
/// event time, idempotent by event id) and the cached generative state of that history, reused across requests
/// and recomputed when events arrive.
/// </summary>
[Alias("genrec.IUserSessionGrain")]
public interface IUserSessionGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Adds events, each placed by its time (out-of-order events land where they belong). Returns once the new
    /// sequence is durably stored: an acknowledged event is never lost. An event for an item the catalogue does not
    /// know yet is kept pending (durably, up to the silo's <c>MaxPendingEvents</c>) and joins the sequence at the first
    /// call after the session's silo sees an index that has the item.
    /// </summary>
    /// <param name="events">The events; at most the silo's <c>MaxAppendBatch</c>.</param>
    /// <returns>What was stored, what was a duplicate and what was rejected, with reasons.</returns>
    [Alias("AppendEvents")]
    Task<AppendResult> AppendEventsAsync(IReadOnlyList<BehaviourEvent> events);

    /// <summary>The user's next items from the generative model (trie-constrained beam search over semantic IDs).</summary>
    /// <param name="query">Count, beam width, exclusions.</param>
    /// <returns>The items, most probable first.</returns>
    [Alias("Recommend")]
    Task<Recommendations> RecommendAsync(RecommendQuery query);

    /// <summary>Scores candidate items by their log-probability as the user's next item, best first; unknown items are left out.</summary>
    /// <param name="candidates">Item ids, e.g. from another recall stage.</param>
    /// <returns>The known candidates, best first.</returns>
    [Alias("Rank")]
    Task<Recommendations> RankAsync(IReadOnlyList<long> candidates);

    /// <summary>
    /// Ranks candidates with the silo's HSTU ranker (<c>GenRecOrleansOptions.HstuModelPath</c>): all of them after the
    /// user's history in one pass. The history's keys and values are kept in the session and reused until events
    /// arrive; unknown items are left out.
    /// </summary>
    /// <param name="candidates">Item ids; at most <c>MaxCount</c>.</param>
    /// <returns>The known candidates, best first, with their HSTU scores.</returns>
    [Alias("RankWithHstu")]
    Task<Recommendations> RankWithHstuAsync(IReadOnlyList<long> candidates);

    /// <summary>The stored sequence, oldest first (pending events whose items are now known folded in first).</summary>
    /// <returns>The events.</returns>
    [Alias("GetHistory")]
    Task<IReadOnlyList<BehaviourEvent>> GetHistoryAsync();
}

/// <summary>
/// The model every silo serves. Publishing a new reference makes every silo's runner load it and switch to it
/// without dropping a request; requests in flight finish on the model they started with.
/// </summary>
[Alias("genrec.IModelRegistryGrain")]
public interface IModelRegistryGrain : IGrainWithStringKey
{
    /// <summary>The current model, or <see langword="null"/> before one is published.</summary>
    /// <returns>The reference.</returns>
    [Alias("Get")]
    Task<ModelReference?> GetAsync();

    /// <summary>Publishes a model folder (it must exist on every silo).</summary>
    /// <param name="model">The model.</param>
    /// <returns>A task.</returns>
    [Alias("Publish")]
    Task PublishAsync(ModelReference model);

    /// <summary>Publishes <paramref name="model"/> only when no model is published yet (what a silo does with its configured seed).</summary>
    /// <param name="model">The model.</param>
    /// <returns>The model published now (the seed, or the one that was there).</returns>
    [Alias("Seed")]
    Task<ModelReference> SeedAsync(ModelReference model);
}

/// <summary>
/// Model work placed apart from the sessions: activations (one per key, keys spread users over
/// <c>GenRecOrleansOptions.ModelRunnerPartitions</c>) live only on silos marked as model runners (those with an
/// accelerator; silo metadata <c>genrec.model-runner=true</c>, <c>UseGenRecModelRunnerRole</c>), so CPU silos keep the
/// sessions while the marked silos run the models; with no silo marked, anywhere. Each keeps its users' encoded HSTU
/// histories and generative contexts (bounded) and extends the HSTU ones with appended events. Sessions call it for
/// HSTU ranking and generative retrieval when <c>GenRecOrleansOptions.ModelRunners</c> is on.
/// </summary>
[Alias("genrec.IModelRunnerGrain")]
public interface IModelRunnerGrain : IGrainWithIntegerKey
{
    /// <summary>The generative model the runner's silo serves, or <see langword="null"/> when none is published.</summary>
    /// <returns>The model.</returns>
    [Alias("GetModel")]
    Task<ModelReference?> GetModelAsync();

    /// <summary>Ranks a user's candidates with the silo's HSTU ranker, reusing or extending the user's kept history state.</summary>
    /// <param name="work">The user's history, what was appended since the runner last saw it, and the candidates.</param>
    /// <returns>The known candidates, best first, and where and how they were scored.</returns>
    [Alias("RankWithHstu")]
    Task<RunnerResult> RankWithHstuAsync(HstuRankWork work);

    /// <summary>Generates a user's items with the silo's generative model and index, reusing the user's kept context at the same revision.</summary>
    /// <param name="work">The user's history, its revision and the query.</param>
    /// <returns>The generated items, best first, and where and how they were generated.</returns>
    [Alias("RecommendGenerative")]
    Task<RunnerResult> RecommendGenerativeAsync(GenerativeWork work);
}

/// <summary>
/// The versioned semantic-ID index of a catalogue (keyed by catalogue name). A version is stored as content-addressed
/// chunks (<see cref="IndexManifest"/>): upload the chunks, then publish the manifest; silos load a new version in the
/// background, check it, and serve the previous one until it is complete. <c>PublishAsync(SemanticIdIndex)</c> in
/// GenRec.Orleans does both steps.
/// </summary>
[Alias("genrec.ISemanticIdIndexGrain")]
public interface ISemanticIdIndexGrain : IGrainWithStringKey
{
    /// <summary>The current version, or 0 before an index is published.</summary>
    /// <returns>The version.</returns>
    [Alias("GetVersion")]
    Task<int> GetVersionAsync();

    /// <summary>The current version's manifest when it is newer than <paramref name="knownVersion"/>; otherwise <see langword="null"/>.</summary>
    /// <param name="knownVersion">The version the caller holds (0 for none).</param>
    /// <returns>The manifest, or <see langword="null"/>.</returns>
    [Alias("GetManifestIfNewer")]
    Task<IndexManifest?> GetManifestIfNewerAsync(int knownVersion);

    /// <summary>A stored chunk, by its SHA-256 (what a client reads an index with; silos read the store directly).</summary>
    /// <param name="sha256">The chunk's SHA-256, lower-case hex.</param>
    /// <returns>The chunk's bytes.</returns>
    /// <exception cref="KeyNotFoundException">No chunk with that hash is stored.</exception>
    [Alias("GetChunk")]
    Task<byte[]> GetChunkAsync(string sha256);

    /// <summary>Stores one chunk of an index version about to be published (idempotent: a chunk already stored is not written again).</summary>
    /// <param name="chunk">The chunk's bytes, at most the silos' <c>GenRecOrleansOptions.IndexChunkBytes</c>.</param>
    /// <returns>Its SHA-256, lower-case hex.</returns>
    [Alias("UploadChunk")]
    Task<string> UploadChunkAsync(byte[] chunk);

    /// <summary>
    /// Publishes an index version whose chunks are all stored; refused unless every chunk is there and it grows from
    /// the current version (or there is none yet). Publishing the current version again is a no-op.
    /// </summary>
    /// <param name="manifest">The version's manifest.</param>
    /// <returns>A task.</returns>
    [Alias("PublishManifest")]
    Task PublishAsync(IndexManifest manifest);

    /// <summary>
    /// Publishes an index version sent whole (small indexes): the grain cuts it into chunks and stores them first; refused
    /// unless it grows from the current one (or there is none yet). Publishing the current version again is a no-op.
    /// </summary>
    /// <param name="snapshot">The index.</param>
    /// <returns>A task.</returns>
    [Alias("Publish")]
    Task PublishAsync(IndexSnapshot snapshot);

    /// <summary>Publishes <paramref name="snapshot"/> only when the catalogue has no index yet (what a silo does with its configured seed).</summary>
    /// <param name="snapshot">The index.</param>
    /// <returns>A task.</returns>
    [Alias("Seed")]
    Task SeedAsync(IndexSnapshot snapshot);
}

/// <summary>
/// Registers new items of a catalogue (keyed by catalogue name): each gets a semantic ID in a new index version and,
/// when it comes with content, a dense vector on every silo, so it can be recommended at once.
/// </summary>
[Alias("genrec.ICatalogueGrain")]
public interface ICatalogueGrain : IGrainWithStringKey
{
    /// <summary>
    /// Assigns semantic IDs to new items (quantizer codes plus the next free disambiguation code) and publishes the new
    /// index version; stores the content of those that carry it (durable when this returns), which every silo's dense
    /// retriever picks up within its refresh interval. Nothing is stored when any item is refused.
    /// </summary>
    /// <param name="items">The new items with their embeddings (and content).</param>
    /// <returns>The items' semantic IDs.</returns>
    /// <exception cref="ArgumentException">An item is already in the index, or a vector is not finite or of the wrong width.</exception>
    [Alias("Register")]
    Task<IReadOnlyList<RegisteredItem>> RegisterItemsAsync(IReadOnlyList<NewItem> items);

    /// <summary>The content of the items registered with content, when there is a version newer than <paramref name="knownVersion"/>.</summary>
    /// <param name="knownVersion">The version the caller holds (0 for none).</param>
    /// <returns>Every registered item's content, or <see langword="null"/> when nothing is newer.</returns>
    [Alias("GetContent")]
    Task<RegisteredContent?> GetContentIfNewerAsync(int knownVersion);
}
