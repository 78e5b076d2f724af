using GenRec.SemanticIds;
using MessagePack;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Storage;

namespace GenRec.Orleans;

/// <summary>Stores an index's chunks (<see cref="SemanticIdIndexChunks"/>) in the silos' chunk store.</summary>
internal static class IndexChunks
{
    /// <summary>Cuts <paramref name="index"/> into chunks and stores them (a chunk already stored is not written again).</summary>
    public static async Task<IndexManifest> StoreAsync(SemanticIdIndex index, IIndexChunkStore store, int chunkBytes)
    {
        var (manifest, chunks) = SemanticIdIndexChunks.Cut(index, chunkBytes);
        await Parallel.ForEachAsync(Enumerable.Range(0, chunks.Count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, _) =>
            await store.PutAsync(manifest.Chunks[i], chunks[i]).ConfigureAwait(false)).ConfigureAwait(false);
        return manifest;
    }
}

/// <summary>Where index chunks live, named by their SHA-256.</summary>
internal interface IIndexChunkStore
{
    Task<bool> ContainsAsync(string sha256);

    /// <summary>Stores a chunk under its hash (the caller computed it); a chunk already stored is left as it is.</summary>
    Task PutAsync(string sha256, ReadOnlyMemory<byte> chunk);

    Task<byte[]?> GetAsync(string sha256);

    Task DeleteAsync(string sha256);
}

/// <summary>Chunks as grain state of the <see cref="GenRecOrleansOptions.StorageName"/> storage (any provider; in memory for development), one state per chunk.</summary>
internal sealed class GrainStorageIndexChunkStore(IServiceProvider services) : IIndexChunkStore
{
    private const string StateName = "chunk";

    private IGrainStorage Storage => GenRecGrainStorage.Get(services);

    public async Task<bool> ContainsAsync(string sha256) => (await ReadAsync(sha256).ConfigureAwait(false)).RecordExists;

    public async Task PutAsync(string sha256, ReadOnlyMemory<byte> chunk)
    {
        var state = await ReadAsync(sha256).ConfigureAwait(false);
        if (!state.RecordExists)
        {
            state.State = new IndexChunkState { Bytes = chunk.ToArray() };
            await Storage.WriteStateAsync(StateName, Id(sha256), state).ConfigureAwait(false);
        }
    }

    public async Task<byte[]?> GetAsync(string sha256)
    {
        var state = await ReadAsync(sha256).ConfigureAwait(false);
        return state.RecordExists ? state.State?.Bytes : null;
    }

    public async Task DeleteAsync(string sha256)
    {
        var state = await ReadAsync(sha256).ConfigureAwait(false);
        if (state.RecordExists)
        {
            await Storage.ClearStateAsync(StateName, Id(sha256), state).ConfigureAwait(false);
        }
    }

    private async Task<GrainState<IndexChunkState>> ReadAsync(string sha256)
    {
        var state = new GrainState<IndexChunkState>(new IndexChunkState());
        await Storage.ReadStateAsync(StateName, Id(sha256), state).ConfigureAwait(false);
        state.State ??= new IndexChunkState();
        return state;
    }

    private static GrainId Id(string sha256) => GrainId.Create("genrec-index-chunk", sha256);
}

/// <summary>One stored index chunk.</summary>
[MessagePackObject]
internal sealed class IndexChunkState
{
    [Key(0)]
    public byte[] Bytes { get; set; } = [];
}
