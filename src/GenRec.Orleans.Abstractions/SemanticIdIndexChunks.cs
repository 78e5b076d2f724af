using System.Security.Cryptography;
using GenRec.SemanticIds;

namespace GenRec.Orleans;

/// <summary>
/// The chunked form of a semantic-ID index, as the index grain stores and the silos load it: the index file cut into
/// content-addressed chunks (SHA-256) named by an <see cref="IndexManifest"/>, and put back together with every hash
/// checked. A team can keep chunks in a store of its own with these.
/// </summary>
public static class SemanticIdIndexChunks
{
    /// <summary>The smallest chunk size accepted: 4 KiB.</summary>
    public const int MinChunkBytes = 4 * 1024;

    /// <summary>The largest chunk size accepted: 64 MiB.</summary>
    public const int MaxChunkBytes = 64 * 1024 * 1024;

    /// <summary>A chunk's (or a file's) address: its SHA-256 as 64 lower-case hex digits.</summary>
    /// <param name="bytes">The bytes.</param>
    /// <returns>The hash.</returns>
    public static string Hash(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>The manifest and chunks of <paramref name="index"/>'s file.</summary>
    /// <param name="index">The index.</param>
    /// <param name="chunkBytes">The chunk size, in [<see cref="MinChunkBytes"/>, <see cref="MaxChunkBytes"/>].</param>
    /// <returns>The manifest, and the chunks in its order.</returns>
    public static (IndexManifest Manifest, IReadOnlyList<ReadOnlyMemory<byte>> Chunks) Cut(SemanticIdIndex index, int chunkBytes)
    {
        ArgumentNullException.ThrowIfNull(index);
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

    /// <summary>What is wrong with a manifest's shape (before any chunk is read), or <see langword="null"/>.</summary>
    /// <param name="manifest">The manifest.</param>
    /// <param name="maxChunkBytes">The largest chunk the reader takes.</param>
    /// <returns>The problem, or <see langword="null"/>.</returns>
    public static string? Problem(IndexManifest manifest, int maxChunkBytes)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.Version < 1 || string.IsNullOrEmpty(manifest.Fingerprint) || manifest.Chunks is not { Count: > 0 } || manifest.Lineage is null)
        {
            return "it needs a version of 1 or more, a fingerprint, its lineage and at least one chunk.";
        }

        if (manifest.ChunkBytes < MinChunkBytes || manifest.ChunkBytes > maxChunkBytes)
        {
            return $"its chunks are {manifest.ChunkBytes:N0} bytes; the reader takes chunks of {MinChunkBytes:N0} to {maxChunkBytes:N0} bytes (on a silo: GenRecOrleansOptions.IndexChunkBytes).";
        }

        var full = (long)manifest.ChunkBytes * (manifest.Chunks.Count - 1);
        if (manifest.Length <= full || manifest.Length > full + manifest.ChunkBytes)
        {
            return $"{manifest.Chunks.Count} chunks of {manifest.ChunkBytes:N0} bytes cannot hold {manifest.Length:N0} bytes.";
        }

        return manifest.Chunks.All(IsHash) && IsHash(manifest.Sha256) ? null : "a hash is not 64 lower-case hex digits.";
    }

    /// <summary>Reads every chunk (<paramref name="parallelism"/> at a time), checks it, and parses the index it makes.</summary>
    /// <param name="manifest">The version's manifest.</param>
    /// <param name="read">Reads a chunk by its hash; <see langword="null"/> when it is not stored.</param>
    /// <param name="parallelism">Chunks read at once.</param>
    /// <returns>The index.</returns>
    /// <exception cref="InvalidDataException">A chunk is missing or damaged, or the whole is not the index the manifest names.</exception>
    public static async Task<SemanticIdIndex> ReadAsync(IndexManifest manifest, Func<string, Task<byte[]?>> read, int parallelism)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(read);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(parallelism);
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
