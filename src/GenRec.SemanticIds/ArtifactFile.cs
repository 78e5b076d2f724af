using System.Buffers.Binary;
using System.Security.Cryptography;

namespace GenRec.SemanticIds;

/// <summary>
/// The container of every stored artifact: an 8-byte magic naming the kind, the format version (int32), the body
/// length (int64) and the SHA-256 of the body, then the body. Reading checks each in turn, so a foreign, too-new,
/// truncated or corrupted file is refused with a message that says which.
/// </summary>
internal static class ArtifactFile
{
    private const int HeaderLength = 8 + 4 + 8 + 32;

    public static void Write(string path, ReadOnlySpan<byte> magic, int formatVersion, ReadOnlySpan<byte> body)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var bytes = Encode(magic, formatVersion, body);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }

        // Write beside, then move: a reader never sees a half-written file.
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The header and the body as one array (for stores that take bytes: grain storage, caches).</summary>
    public static byte[] Encode(ReadOnlySpan<byte> magic, int formatVersion, ReadOnlySpan<byte> body)
    {
        var bytes = new byte[HeaderLength + body.Length];
        magic.CopyTo(bytes);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), formatVersion);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(12), body.Length);
        SHA256.HashData(body, bytes.AsSpan(20, 32));
        body.CopyTo(bytes.AsSpan(HeaderLength));
        return bytes;
    }

    public static ReadOnlyMemory<byte> Read(string path, ReadOnlySpan<byte> magic, int formatVersion, string kind) =>
        Read(path, magic, [formatVersion], kind, out _);

    public static ReadOnlyMemory<byte> Read(string path, ReadOnlySpan<byte> magic, int[] formatVersions, string kind, out int format)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The {kind} file '{path}' does not exist.", path);
        }

        return Decode(File.ReadAllBytes(path), magic, formatVersions, kind, $"'{path}'", out format);
    }

    /// <summary>Checks the header of <paramref name="bytes"/> (named <paramref name="source"/> in errors) and returns the body.</summary>
    public static ReadOnlyMemory<byte> Decode(byte[] bytes, ReadOnlySpan<byte> magic, int[] formatVersions, string kind, string source, out int format)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length < 8 || !bytes.AsSpan(0, 8).SequenceEqual(magic))
        {
            throw new InvalidDataException($"{source} is not a GenRec {kind} (no {System.Text.Encoding.ASCII.GetString(magic)} header).");
        }

        if (bytes.Length < HeaderLength)
        {
            throw new InvalidDataException($"{source} is truncated: {bytes.Length} bytes, shorter than the {HeaderLength}-byte header.");
        }

        format = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8));
        if (!formatVersions.Contains(format))
        {
            throw new InvalidDataException($"{source} has {kind} format version {format}; this reader understands version {string.Join(" or ", formatVersions)}.");
        }

        var length = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(12));
        if (length != bytes.Length - HeaderLength)
        {
            throw new InvalidDataException($"{source} is truncated or padded: its header announces {length} bytes of body, it holds {bytes.Length - HeaderLength}.");
        }

        var body = bytes.AsMemory(HeaderLength);
        if (!SHA256.HashData(body.Span).AsSpan().SequenceEqual(bytes.AsSpan(20, 32)))
        {
            throw new InvalidDataException($"{source} is corrupted: the SHA-256 of its body does not match its header.");
        }

        return body;
    }
}
