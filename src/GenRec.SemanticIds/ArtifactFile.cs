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
        var header = new byte[HeaderLength];
        magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), formatVersion);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(12), body.Length);
        SHA256.HashData(body, header.AsSpan(20, 32));

        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
        {
            Directory.CreateDirectory(folder);
        }

        // Write beside, then move: a reader never sees a half-written file.
        var temp = path + ".tmp";
        using (var file = File.Create(temp))
        {
            file.Write(header);
            file.Write(body);
        }

        File.Move(temp, path, overwrite: true);
    }

    public static ReadOnlyMemory<byte> Read(string path, ReadOnlySpan<byte> magic, int formatVersion, string kind)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The {kind} file '{path}' does not exist.", path);
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8 || !bytes.AsSpan(0, 8).SequenceEqual(magic))
        {
            throw new InvalidDataException($"'{path}' is not a GenRec {kind} file (no {System.Text.Encoding.ASCII.GetString(magic)} header).");
        }

        if (bytes.Length < HeaderLength)
        {
            throw new InvalidDataException($"'{path}' is truncated: {bytes.Length} bytes, shorter than the {HeaderLength}-byte header.");
        }

        var format = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8));
        if (format != formatVersion)
        {
            throw new InvalidDataException($"'{path}' has {kind} format version {format}; this reader understands version {formatVersion}.");
        }

        var length = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(12));
        if (length != bytes.Length - HeaderLength)
        {
            throw new InvalidDataException($"'{path}' is truncated or padded: its header announces {length} bytes of body, the file holds {bytes.Length - HeaderLength}.");
        }

        var body = bytes.AsMemory(HeaderLength);
        if (!SHA256.HashData(body.Span).AsSpan().SequenceEqual(bytes.AsSpan(20, 32)))
        {
            throw new InvalidDataException($"'{path}' is corrupted: the SHA-256 of its body does not match its header.");
        }

        return body;
    }
}
