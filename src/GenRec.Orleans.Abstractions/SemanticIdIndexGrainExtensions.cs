using GenRec.SemanticIds;

namespace GenRec.Orleans;

/// <summary>Publishing and reading a catalogue's semantic-ID index from a client, chunk by chunk.</summary>
public static class SemanticIdIndexGrainExtensions
{
    /// <summary>The default chunk size, and the silos' default <c>GenRecOrleansOptions.IndexChunkBytes</c>: 4 MiB.</summary>
    public const int DefaultChunkBytes = 4 * 1024 * 1024;

    /// <summary>
    /// Publishes <paramref name="index"/> as content-addressed chunks: uploads each (chunks already stored are not written
    /// again), then the manifest. The silos pick the version up within their refresh interval and serve the previous one
    /// until they have loaded and checked it. Refused, with nothing published, unless it grows from the current version.
    /// </summary>
    /// <param name="grain">The catalogue's index grain.</param>
    /// <param name="index">The new version (a first index, or one made by <see cref="SemanticIdIndex.AddItems"/> from the current version).</param>
    /// <param name="chunkBytes">The chunk size, at most the silos' <c>GenRecOrleansOptions.IndexChunkBytes</c>.</param>
    /// <param name="progress">Reports the chunks uploaded so far.</param>
    /// <param name="cancellationToken">Stops the upload (nothing is published then).</param>
    /// <returns>The published manifest.</returns>
    public static async Task<IndexManifest> PublishAsync(this ISemanticIdIndexGrain grain, SemanticIdIndex index, int chunkBytes = DefaultChunkBytes, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grain);
        ArgumentNullException.ThrowIfNull(index);
        var (manifest, chunks) = SemanticIdIndexChunks.Cut(index, chunkBytes);
        var uploaded = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, chunks.Count), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken }, async (i, _) =>
        {
            var hash = await grain.UploadChunkAsync(chunks[i].ToArray()).ConfigureAwait(false);
            if (hash != manifest.Chunks[i])
            {
                throw new InvalidOperationException($"The index grain stored chunk {i + 1} under {hash}; its hash here is {manifest.Chunks[i]}.");
            }

            progress?.Report(Interlocked.Increment(ref uploaded));
        }).ConfigureAwait(false);
        await grain.PublishAsync(manifest).ConfigureAwait(false);
        return manifest;
    }

    /// <summary>The published version, read chunk by chunk through the grain and checked; <see langword="null"/> when none is published.</summary>
    /// <param name="grain">The catalogue's index grain.</param>
    /// <returns>The index, or <see langword="null"/>.</returns>
    /// <exception cref="InvalidDataException">A chunk is missing or damaged.</exception>
    public static async Task<SemanticIdIndex?> ReadAsync(this ISemanticIdIndexGrain grain)
    {
        ArgumentNullException.ThrowIfNull(grain);
        return await grain.GetManifestIfNewerAsync(0).ConfigureAwait(false) is { } manifest
            ? await SemanticIdIndexChunks.ReadAsync(manifest, async hash => await grain.GetChunkAsync(hash).ConfigureAwait(false), parallelism: 4).ConfigureAwait(false)
            : null;
    }
}
