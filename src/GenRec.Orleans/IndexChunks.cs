using System.Security.Cryptography;
using GenRec.SemanticIds;
using MessagePack;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Storage;

namespace GenRec.Orleans;

/// <summary>Cuts an index file into content-addressed chunks and puts it back together, checking every hash.</summary>
internal static class IndexChunks
{
    /// <summary>The smallest and largest chunk size accepted.</summary>
    public const int MinChunkBytes = 4 * 1024, MaxChunkBytes = 64 * 1024 * 1024;

    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>The manifest and chunks of <paramref name="index"/>'s file.</summary>
    public static (IndexManifest Manifest, IReadOnlyList<ReadOnlyMemory<byte>> Chunks) Cut(SemanticIdIndex index, int chunkBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, MinChunkBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(chunkBytes, MaxChunkBytes);
        var bytes = index.ToBytes();
        var chunks = new List<ReadOnlyMemory<byte>>((bytes.Length / chunkBytes) + 1);
        for (var at = 0; at < bytes.Length; at += chunkBytes)
        {
            chunks.Add(bytes.AsMemory(at, Math.Min(chunkBytes, bytes.Length - at)));
        }

        var hashes = chunks.AsParallel().AsOrdered().Select(c => Hash(c.Span)).ToArray();
        return (new IndexManifest(index.Version, index.Fingerprint, [.. index.Lineage], bytes.Length, Hash(bytes), chunkBytes, hashes), chunks);
    }

    /// <summary>Cuts <paramref name="index"/> into chunks and stores them (a chunk already stored is not written again).</summary>
    public static async Task<IndexManifest> StoreAsync(SemanticIdIndex index, IIndexChunkStore store, int chunkBytes)
    {
        var (manifest, chunks) = Cut(index, chunkBytes);
        await Parallel.ForEachAsync(Enumerable.Range(0, chunks.Count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, _) =>
            await store.PutAsync(manifest.Chunks[i], chunks[i]).ConfigureAwait(false)).ConfigureAwait(false);
        return manifest;
    }

    /// <summary>What is wrong with a manifest's shape (before any chunk is read), or <see langword="null"/>.</summary>
    public static string? Problem(IndexManifest manifest, int maxChunkBytes)
    {
        if (manifest.Version < 1 || string.IsNullOrEmpty(manifest.Fingerprint) || manifest.Chunks is not { Count: > 0 } || manifest.Lineage is null)
        {
            return "it needs a version of 1 or more, a fingerprint, its lineage and at least one chunk.";
        }

        if (manifest.ChunkBytes < MinChunkBytes || manifest.ChunkBytes > maxChunkBytes)
        {
            return $"its chunks are {manifest.ChunkBytes:N0} bytes; this cluster takes chunks of {MinChunkBytes:N0} to {maxChunkBytes:N0} bytes (GenRecOrleansOptions.IndexChunkBytes).";
        }

        var full = (long)manifest.ChunkBytes * (manifest.Chunks.Count - 1);
        if (manifest.Length <= full || manifest.Length > full + manifest.ChunkBytes)
        {
            return $"{manifest.Chunks.Count} chunks of {manifest.ChunkBytes:N0} bytes cannot hold {manifest.Length:N0} bytes.";
        }

        return manifest.Chunks.All(IsHash) && IsHash(manifest.Sha256) ? null : "a hash is not 64 lower-case hex digits.";
    }

    /// <summary>Reads every chunk (<paramref name="parallelism"/> at a time), checks it, and parses the index it makes.</summary>
    /// <exception cref="InvalidDataException">A chunk is missing or damaged, or the whole is not the index the manifest names.</exception>
    public static async Task<SemanticIdIndex> ReadAsync(IndexManifest manifest, Func<string, Task<byte[]?>> read, int parallelism)
    {
        var bytes = new byte[manifest.Length];
        await Parallel.ForEachAsync(Enumerable.Range(0, manifest.Chunks.Count), new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (i, _) =>
        {
            var hash = manifest.Chunks[i];
            var chunk = await read(hash).ConfigureAwait(false)
                ?? throw new InvalidDataException($"Index version {manifest.Version}: chunk {i + 1} of {manifest.Chunks.Count} ({hash[..12]}…) is not stored.");
            var expected = (int)Math.Min(manifest.ChunkBytes, manifest.Length - ((long)i * manifest.ChunkBytes));
            if (chunk.Length != expected || Hash(chunk) != hash)
            {
                throw new InvalidDataException($"Index version {manifest.Version}: chunk {i + 1} of {manifest.Chunks.Count} ({hash[..12]}…) is damaged ({chunk.Length:N0} bytes, {expected:N0} expected, or its SHA-256 differs).");
            }

            chunk.CopyTo(bytes, (long)i * manifest.ChunkBytes);
        }).ConfigureAwait(false);
        if (Hash(bytes) != manifest.Sha256)
        {
            throw new InvalidDataException($"Index version {manifest.Version}: its chunks put together do not have the manifest's SHA-256.");
        }

        var index = SemanticIdIndex.FromBytes(bytes);
        if (index.Version != manifest.Version || index.Fingerprint != manifest.Fingerprint)
        {
            throw new InvalidDataException($"The manifest names index version {manifest.Version} ({manifest.Fingerprint}); its chunks hold version {index.Version} ({index.Fingerprint}).");
        }

        return index;
    }

    private static bool IsHash(string? hash) => hash is { Length: 64 } && hash.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');
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
