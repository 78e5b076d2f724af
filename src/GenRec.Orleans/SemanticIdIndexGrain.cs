using GenRec.SemanticIds;
using Microsoft.Extensions.Options;

namespace GenRec.Orleans;

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

        var hash = SemanticIdIndexChunks.Hash(chunk);
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

        if (SemanticIdIndexChunks.Problem(manifest, options.Value.IndexChunkBytes) is { } problem)
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
