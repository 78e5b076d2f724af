using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using Microsoft.Extensions.Options;

namespace GenRec.Orleans;

/// <summary>The published model of a catalogue, durable.</summary>
internal sealed class ModelRegistryGrain(
    [PersistentState("model", GenRecOrleansOptions.StorageName)] IPersistentState<ModelRegistryState> state) : Grain, IModelRegistryGrain
{
    public Task<ModelReference?> GetAsync() =>
        Task.FromResult(state.State.Version is { } v && state.State.Path is { } p ? new ModelReference(v, p) : null);

    public async Task PublishAsync(ModelReference model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (string.IsNullOrWhiteSpace(model.Version) || !Directory.Exists(model.Path))
        {
            throw new ArgumentException($"A model needs a version label and a folder that exists on every silo; '{model.Path}' does not exist here.", nameof(model));
        }

        state.State.Version = model.Version;
        state.State.Path = model.Path;
        await state.WriteStateAsync().ConfigureAwait(true);
    }

    public async Task<ModelReference> SeedAsync(ModelReference model)
    {
        if (await GetAsync().ConfigureAwait(true) is { } current)
        {
            return current;
        }

        await PublishAsync(model).ConfigureAwait(true);
        return model;
    }
}

/// <summary>
/// The versioned semantic-ID index of a catalogue, durable: its state is the current version's manifest, the index
/// itself content-addressed chunks in the silos' chunk store, so no write holds more than a chunk. A new version must
/// grow from the current one, and is published only once every chunk is stored.
/// </summary>
internal sealed class SemanticIdIndexGrain(
    [PersistentState("index", GenRecOrleansOptions.StorageName)] IPersistentState<IndexState> state,
    IIndexChunkStore chunks,
    IOptions<GenRecOrleansOptions> options) : Grain, ISemanticIdIndexGrain
{
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Bytes.Length > 0)
        {
            // Written whole by an earlier version: moved to chunks, so the state no longer holds the index.
            var index = SemanticIdIndex.FromBytes(state.State.Bytes);
            await CommitAsync(await IndexChunks.StoreAsync(index, chunks, options.Value.IndexChunkBytes).ConfigureAwait(true)).ConfigureAwait(true);
        }
    }

    public Task<int> GetVersionAsync() => Task.FromResult(state.State.Version);

    public Task<IndexManifest?> GetManifestIfNewerAsync(int knownVersion) =>
        Task.FromResult(state.State.Version > knownVersion ? state.State.Manifest() : null);

    public async Task<byte[]> GetChunkAsync(string sha256)
    {
        ArgumentNullException.ThrowIfNull(sha256);
        return await chunks.GetAsync(sha256).ConfigureAwait(true) ?? throw new KeyNotFoundException($"No index chunk {sha256} is stored.");
    }

    public async Task<string> UploadChunkAsync(byte[] chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        if (chunk.Length == 0 || chunk.Length > options.Value.IndexChunkBytes)
        {
            throw new ArgumentException($"An index chunk of {chunk.Length:N0} bytes is empty or over this cluster's {options.Value.IndexChunkBytes:N0} (GenRecOrleansOptions.IndexChunkBytes).", nameof(chunk));
        }

        var hash = IndexChunks.Hash(chunk);
        await chunks.PutAsync(hash, chunk).ConfigureAwait(true);
        return hash;
    }

    public async Task PublishAsync(IndexManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.Fingerprint == state.State.Fingerprint)
        {
            return;
        }

        if (IndexChunks.Problem(manifest, options.Value.IndexChunkBytes) is { } problem)
        {
            throw new ArgumentException($"Index manifest version {manifest.Version} is refused: {problem}", nameof(manifest));
        }

        EnsureGrows(manifest.Version, manifest.Fingerprint, manifest.Lineage);
        var distinct = manifest.Chunks.Distinct().ToArray();
        var stored = await Task.WhenAll(distinct.Select(chunks.ContainsAsync)).ConfigureAwait(true);
        var missing = distinct.Where((_, i) => !stored[i]).ToArray();
        if (missing.Length > 0)
        {
            throw new ArgumentException($"Index version {manifest.Version} is not published: {missing.Length} of its {manifest.Chunks.Count} chunks are not stored (first: {missing[0]}). Upload them with UploadChunkAsync first.", nameof(manifest));
        }

        await CommitAsync(manifest).ConfigureAwait(true);
    }

    public async Task PublishAsync(IndexSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var index = SemanticIdIndex.FromBytes(snapshot.Bytes);
        if (index.Fingerprint == state.State.Fingerprint)
        {
            return;
        }

        EnsureGrows(index.Version, index.Fingerprint, index.Lineage);
        await CommitAsync(await IndexChunks.StoreAsync(index, chunks, options.Value.IndexChunkBytes).ConfigureAwait(true)).ConfigureAwait(true);
    }

    public Task SeedAsync(IndexSnapshot snapshot) => state.State.Version > 0 ? Task.CompletedTask : PublishAsync(snapshot);

    private void EnsureGrows(int version, string fingerprint, IReadOnlyList<string> lineage)
    {
        if (state.State.Version > 0 && (version <= state.State.Version || !lineage.Contains(state.State.Fingerprint)))
        {
            throw new ArgumentException($"Index version {version} ({fingerprint}) does not grow from the published version {state.State.Version} ({state.State.Fingerprint}): publish indexes made by AddItems from it.");
        }
    }

    /// <summary>Makes <paramref name="manifest"/> the current version; then deletes the chunks only the version before the previous one used.</summary>
    private async Task CommitAsync(IndexManifest manifest)
    {
        var previous = state.State;
        var retired = previous.PreviousChunks.Except(previous.Chunks).Except(manifest.Chunks).ToArray();
        state.State = new IndexState
        {
            Version = manifest.Version,
            Fingerprint = manifest.Fingerprint,
            Lineage = [.. manifest.Lineage],
            Length = manifest.Length,
            Sha256 = manifest.Sha256,
            ChunkBytes = manifest.ChunkBytes,
            Chunks = [.. manifest.Chunks],
            PreviousChunks = previous.Chunks,
        };
        try
        {
            await state.WriteStateAsync().ConfigureAwait(true);
        }
        catch
        {
            // Not published: the grain keeps what storage holds; the caller retries.
            state.State = previous;
            throw;
        }

        foreach (var chunk in retired)
        {
            await chunks.DeleteAsync(chunk).ConfigureAwait(true);
        }
    }
}

/// <summary>
/// Registers new items: semantic IDs from the quantizer, then a new index version for every silo; the content of those
/// that carry it is durable state, read by every silo's dense retriever (<see cref="SiloDenseHost"/>).
/// </summary>
internal sealed class CatalogueGrain(
    [PersistentState("catalogue", GenRecOrleansOptions.StorageName)] IPersistentState<CatalogueState> state,
    IGrainFactory grains,
    SiloIndexCache indexes,
    IIndexChunkStore chunks,
    IOptions<GenRecOrleansOptions> options) : Grain, ICatalogueGrain
{
    private int? _denseWidth;

    public async Task<IReadOnlyList<RegisteredItem>> RegisterItemsAsync(IReadOnlyList<NewItem> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            return [];
        }

        var indexGrain = grains.GetGrain<ISemanticIdIndexGrain>(this.GetPrimaryKeyString());
        var manifest = await indexGrain.GetManifestIfNewerAsync(0).ConfigureAwait(true)
            ?? throw new InvalidOperationException($"Catalogue '{this.GetPrimaryKeyString()}' has no index to add items to: publish one first.");
        var index = await indexes.ReadAsync(manifest).ConfigureAwait(true);
        var width = items[0]?.Embedding?.Length ?? 0;
        if (items.Any(i => i?.Embedding is null || i.Embedding.Length != width))
        {
            throw new ArgumentException("Every new item needs an embedding, all of the same width.", nameof(items));
        }

        // Everything is checked before anything is stored: the index (it throws for a known item or a bad vector) and the content.
        var embeddings = new ItemEmbeddings(items.Select(i => new ItemId(i.Item)).ToArray(), items.SelectMany(i => i.Embedding).ToArray(), width);
        var next = index.AddItems(embeddings);
        var withContent = items.Where(i => i.Content is not null).ToArray();
        if (withContent.Length > 0)
        {
            CheckContent(withContent);

            // Content first: a retry after a failed index write finds the content stored and the item not yet in the index.
            var held = state.State.Items.ToHashSet();
            var added = withContent.Where(i => !held.Contains(i.Item)).ToArray();
            if (added.Length > 0)
            {
                var (items0, values0, width0, version0) = (state.State.Items, state.State.Values, state.State.Width, state.State.Version);
                state.State.Items = [.. items0, .. added.Select(i => i.Item)];
                state.State.Values = [.. values0, .. added.SelectMany(i => i.Content!)];
                state.State.Width = added[0].Content!.Length;
                state.State.Version++;
                try
                {
                    await state.WriteStateAsync().ConfigureAwait(true);
                }
                catch
                {
                    // Not stored: the grain keeps what storage holds, and the caller's retry stores it.
                    (state.State.Items, state.State.Values, state.State.Width, state.State.Version) = (items0, values0, width0, version0);
                    throw;
                }
            }
        }

        await indexGrain.PublishAsync(await IndexChunks.StoreAsync(next, chunks, options.Value.IndexChunkBytes).ConfigureAwait(true)).ConfigureAwait(true);
        return items.Select(i => new RegisteredItem(i.Item, next[new ItemId(i.Item)].ToArray())).ToArray();
    }

    public Task<RegisteredContent?> GetContentIfNewerAsync(int knownVersion) =>
        Task.FromResult(state.State.Version > knownVersion
            ? new RegisteredContent(state.State.Version, [.. state.State.Items], [.. state.State.Values], state.State.Width)
            : null);

    private void CheckContent(NewItem[] items)
    {
        // The width the silos' dense model reads, when this silo has one; else the width of the content already stored.
        _denseWidth ??= options.Value.DenseModelPath is { } path ? DenseOnnxManifest.Load(path).ContentDimension : null;
        var width = _denseWidth ?? (state.State.Items.Count > 0 ? state.State.Width : items[0].Content!.Length);
        foreach (var item in items)
        {
            var content = item.Content!;
            if (content.Length != width)
            {
                throw new ArgumentException($"Item {item.Item}'s content vector is {content.Length}-wide; the catalogue's dense content is {width}-wide. Nothing was registered.", nameof(items));
            }

            if (!content.All(float.IsFinite))
            {
                throw new ArgumentException($"Item {item.Item}'s content vector holds a value that is not finite. Nothing was registered.", nameof(items));
            }
        }
    }
}
