using GenRec.Models;
using GenRec.SemanticIds;
using Microsoft.Extensions.Options;

namespace GenRec.Orleans;

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
