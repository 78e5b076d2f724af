using System.Buffers;
using System.Runtime.InteropServices;
using MessagePack;

namespace GenRec.SemanticIds;

/// <summary>
/// The semantic-ID index file: an <see cref="ArtifactFile"/> with magic <c>GRSIDIDX</c> and a MessagePack body: index version, creation time, the quantizer (method,
/// widths, encoder/decoder layers, codebooks as little-endian float32 arrays), the items with their codes, and the
/// statistics; from format version 2, the fingerprints of the versions the index descends from. A reader refuses a
/// foreign, truncated, corrupted, too-new or inconsistent file with a clear error, and reads version 1 files.
/// </summary>
internal static class SemanticIdIndexFile
{
    public const int FormatVersion = 2;
    private static readonly byte[] Magic = "GRSIDIDX"u8.ToArray();

    public static void Write(SemanticIdIndex index, string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArtifactFile.Write(path, Magic, FormatVersion, Body(index).WrittenSpan);
    }

    public static byte[] ToBytes(SemanticIdIndex index) => ArtifactFile.Encode(Magic, FormatVersion, Body(index).WrittenSpan);

    public static SemanticIdIndex FromBytes(byte[] bytes)
    {
        var body = ArtifactFile.Decode(bytes, Magic, [1, FormatVersion], "semantic-ID index", "the stored semantic-ID index", out var format);
        return Parse(body, format, "the stored semantic-ID index");
    }

    private static ArrayBufferWriter<byte> Body(SemanticIdIndex index)
    {
        ArgumentNullException.ThrowIfNull(index);
        var body = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(body);
        var q = index.Quantizer;
        w.WriteArrayHeader(12);
        w.Write(index.Version);
        w.Write(index.CreatedAt.ToUnixTimeMilliseconds());
        w.Write(q.Method);
        w.Write(q.InputDimension);
        w.Write(q.CodebookSize);
        WriteLayers(ref w, q.Encoder);
        WriteLayers(ref w, q.Decoder);
        w.WriteArrayHeader(q.Levels);
        foreach (var codebook in q.Codebooks)
        {
            w.Write(MemoryMarshal.AsBytes(codebook.AsSpan()));
        }

        var items = index.Items;
        var itemIds = new long[items.Count];
        var codes = new ushort[items.Count * index.Length];
        for (var i = 0; i < items.Count; i++)
        {
            itemIds[i] = items[i].Value;
            var id = index[items[i]];
            for (var l = 0; l < index.Length; l++)
            {
                codes[(i * index.Length) + l] = (ushort)id[l];
            }
        }

        w.Write(MemoryMarshal.AsBytes(itemIds.AsSpan()));
        w.Write(MemoryMarshal.AsBytes(codes.AsSpan()));
        var s = index.Statistics;
        w.WriteArrayHeader(7);
        w.Write(s.Items);
        w.Write(s.CollisionRateBefore);
        w.Write(s.CollisionRateAfter);
        w.Write(s.MaxItemsPerTuple);
        WriteDoubles(ref w, s.Utilization);
        WriteDoubles(ref w, s.Perplexity);
        w.Write(s.ReconstructionMse);
        w.WriteArrayHeader(index.Lineage.Count);
        foreach (var fingerprint in index.Lineage)
        {
            w.Write(fingerprint);
        }

        w.Flush();
        return body;
    }

    public static SemanticIdIndex Read(string path)
    {
        var body = ArtifactFile.Read(path, Magic, [1, FormatVersion], "semantic-ID index", out var format);
        return Parse(body, format, $"'{path}'");
    }

    private static SemanticIdIndex Parse(ReadOnlyMemory<byte> body, int format, string source)
    {
        try
        {
            return ReadBody(body, format);
        }
        catch (MessagePackSerializationException e)
        {
            throw new InvalidDataException($"{source} has a malformed body: {e.Message}", e);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{source} is inconsistent: {e.Message}", e);
        }
    }

    private static SemanticIdIndex ReadBody(ReadOnlyMemory<byte> body, int format)
    {
        var r = new MessagePackReader(body);
        Expect(r.ReadArrayHeader(), format == 1 ? 11 : 12, "body fields");
        var version = r.ReadInt32();
        var createdAt = DateTimeOffset.FromUnixTimeMilliseconds(r.ReadInt64());
        var method = r.ReadString() ?? throw new InvalidDataException("the quantizer has no method name.");
        var inputDimension = r.ReadInt32();
        var codebookSize = r.ReadInt32();
        var encoder = ReadLayers(ref r);
        var decoder = ReadLayers(ref r);
        var levels = r.ReadArrayHeader();
        var codebooks = new float[levels][];
        for (var l = 0; l < levels; l++)
        {
            codebooks[l] = ReadArray<float>(ref r);
        }

        var quantizer = new ResidualQuantizer(method, inputDimension, codebookSize, codebooks, encoder, decoder);
        var itemIds = ReadArray<long>(ref r);
        var codes = ReadArray<ushort>(ref r);
        var length = levels + 1;
        if (codes.Length != (long)itemIds.Length * length)
        {
            throw new InvalidDataException($"{itemIds.Length} items need {itemIds.Length * length} codes; the file holds {codes.Length}.");
        }

        var items = itemIds.Select(i => new ItemId(i)).ToArray();
        var ids = new SemanticId[items.Length];
        var buffer = new int[length];
        for (var i = 0; i < items.Length; i++)
        {
            for (var l = 0; l < length; l++)
            {
                buffer[l] = codes[(i * length) + l];
                if (l < levels && buffer[l] >= codebookSize)
                {
                    throw new InvalidDataException($"item {items[i]} has code {buffer[l]} at level {l}; the codebook has {codebookSize}.");
                }
            }

            ids[i] = new SemanticId(buffer);
        }

        Expect(r.ReadArrayHeader(), 7, "statistics fields");
        var stats = new SemanticIdStatistics(r.ReadInt32(), r.ReadDouble(), r.ReadDouble(), r.ReadInt32(), ReadDoubles(ref r), ReadDoubles(ref r), r.ReadDouble());
        var lineage = new string[format == 1 ? 0 : r.ReadArrayHeader()];
        for (var i = 0; i < lineage.Length; i++)
        {
            lineage[i] = r.ReadString() ?? throw new InvalidDataException("a lineage fingerprint is nil.");
        }

        return new SemanticIdIndex(version, createdAt, quantizer, items, ids, stats, lineage);
    }

    private static void WriteLayers(ref MessagePackWriter w, IReadOnlyList<DenseLayer> layers)
    {
        w.WriteArrayHeader(layers.Count);
        foreach (var layer in layers)
        {
            w.WriteArrayHeader(5);
            w.Write(layer.In);
            w.Write(layer.Out);
            w.Write(layer.Relu);
            w.Write(MemoryMarshal.AsBytes(layer.Weight.AsSpan()));
            w.Write(MemoryMarshal.AsBytes(layer.Bias.AsSpan()));
        }
    }

    private static DenseLayer[] ReadLayers(ref MessagePackReader r)
    {
        var layers = new DenseLayer[r.ReadArrayHeader()];
        for (var i = 0; i < layers.Length; i++)
        {
            Expect(r.ReadArrayHeader(), 5, "layer fields");
            var input = r.ReadInt32();
            var output = r.ReadInt32();
            var relu = r.ReadBoolean();
            layers[i] = new DenseLayer(input, output, ReadArray<float>(ref r), ReadArray<float>(ref r), relu);
        }

        return layers;
    }

    private static void WriteDoubles(ref MessagePackWriter w, IReadOnlyList<double> values)
    {
        w.WriteArrayHeader(values.Count);
        foreach (var v in values)
        {
            w.Write(v);
        }
    }

    private static double[] ReadDoubles(ref MessagePackReader r)
    {
        var values = new double[r.ReadArrayHeader()];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = r.ReadDouble();
        }

        return values;
    }

    private static T[] ReadArray<T>(ref MessagePackReader r)
        where T : unmanaged
    {
        var bytes = r.ReadBytes() ?? throw new InvalidDataException("an expected binary field is nil.");
        if (bytes.Length % System.Runtime.CompilerServices.Unsafe.SizeOf<T>() != 0)
        {
            throw new InvalidDataException($"a binary field of {bytes.Length} bytes is not a whole number of {typeof(T).Name} values.");
        }

        return MemoryMarshal.Cast<byte, T>(bytes.ToArray()).ToArray();
    }

    private static void Expect(int actual, int expected, string what)
    {
        if (actual != expected)
        {
            throw new InvalidDataException($"expected {expected} {what}, found {actual}.");
        }
    }
}
