using System.Buffers;
using System.Runtime.InteropServices;
using MessagePack;

namespace GenRec.SemanticIds;

/// <summary>
/// Saves and loads <see cref="ItemEmbeddings"/>: an artifact file (magic <c>GRITEMEM</c>, format version 1, SHA-256)
/// whose MessagePack body holds the source name, the width, the item ids and the float32 values. Embedding a large
/// catalogue with a sentence model takes minutes; this makes it a one-off.
/// </summary>
public static class ItemEmbeddingsFile
{
    private const int FormatVersion = 1;
    private static readonly byte[] Magic = "GRITEMEM"u8.ToArray();

    /// <summary>Saves embeddings.</summary>
    /// <param name="embeddings">The embeddings.</param>
    /// <param name="path">The file.</param>
    /// <param name="source">What produced them, e.g. "content:all-MiniLM-L6-v2"; checked by <see cref="Load"/> when asked.</param>
    public static void Save(ItemEmbeddings embeddings, string path, string source)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        var body = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(body);
        w.WriteArrayHeader(4);
        w.Write(source);
        w.Write(embeddings.Dimension);
        w.Write(MemoryMarshal.AsBytes(embeddings.Items.Select(i => i.Value).ToArray().AsSpan()));
        w.Write(MemoryMarshal.AsBytes(embeddings.Values));
        w.Flush();
        ArtifactFile.Write(path, Magic, FormatVersion, body.WrittenSpan);
    }

    /// <summary>Loads embeddings, refusing a damaged file or one made by another source.</summary>
    /// <param name="path">The file.</param>
    /// <param name="expectedSource">When set, the source the file must have been saved with.</param>
    /// <returns>The embeddings.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is damaged, inconsistent, or from another source.</exception>
    public static ItemEmbeddings Load(string path, string? expectedSource = null)
    {
        var body = ArtifactFile.Read(path, Magic, FormatVersion, "item-embeddings");
        try
        {
            var r = new MessagePackReader(body);
            if (r.ReadArrayHeader() != 4)
            {
                throw new InvalidDataException($"'{path}' has an unexpected body layout.");
            }

            var source = r.ReadString() ?? string.Empty;
            if (expectedSource is not null && source != expectedSource)
            {
                throw new InvalidDataException($"'{path}' holds '{source}' embeddings, not '{expectedSource}'.");
            }

            var dimension = r.ReadInt32();
            var ids = MemoryMarshal.Cast<byte, long>((r.ReadBytes() ?? default).ToArray()).ToArray();
            var values = MemoryMarshal.Cast<byte, float>((r.ReadBytes() ?? default).ToArray()).ToArray();
            return new ItemEmbeddings(ids.Select(i => new ItemId(i)).ToArray(), values, dimension);
        }
        catch (Exception e) when (e is MessagePackSerializationException or ArgumentException)
        {
            throw new InvalidDataException($"'{path}' is inconsistent: {e.Message}", e);
        }
    }
}
