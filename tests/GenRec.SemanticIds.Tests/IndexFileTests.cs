using GenRec.TestSupport;

namespace GenRec.SemanticIds.Tests;

public sealed class IndexFileTests
{
    private static SemanticIdIndex Small()
    {
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        var embeddings = new ItemEmbeddings(items, values, d);
        return new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 2, CodebookSize = 16, MaxIterations = 5 }).Fit(embeddings);
    }

    [Fact]
    public void An_index_round_trips_through_its_file()
    {
        using var folder = TestData.TempFolder();
        var index = Small();
        var path = folder.File("a.sid");

        index.Save(path);
        var loaded = SemanticIdIndex.Load(path);

        Assert.Equal(index.Version, loaded.Version);
        Assert.Equal(index.CreatedAt.ToUnixTimeMilliseconds(), loaded.CreatedAt.ToUnixTimeMilliseconds());
        Assert.Equal(index.Items, loaded.Items);
        Assert.Equal(index.Items.Select(i => index[i]), loaded.Items.Select(i => loaded[i]));
        Assert.Equal(index.Statistics.Utilization, loaded.Statistics.Utilization);
        Assert.Equal(index.Statistics.ReconstructionMse, loaded.Statistics.ReconstructionMse);
        Assert.Equal(index.Trie.NodeCount, loaded.Trie.NodeCount);
        Assert.Equal(index.Fingerprint, loaded.Fingerprint);
        var probe = new float[index.Quantizer.InputDimension];
        probe[0] = 1;
        Assert.Equal(index.Quantizer.Quantize(probe), loaded.Quantizer.Quantize(probe));
    }

    [Fact]
    public void Both_versions_stay_readable_after_an_incremental_update()
    {
        using var folder = TestData.TempFolder();
        var v1 = Small();
        var extra = new ItemEmbeddings([new ItemId(2_000_000)], new float[v1.Quantizer.InputDimension], v1.Quantizer.InputDimension);
        var v2 = v1.AddItems(extra);
        v1.Save(folder.File("v1.sid"));
        v2.Save(folder.File("v2.sid"));

        var old = SemanticIdIndex.Load(folder.File("v1.sid"));
        var current = SemanticIdIndex.Load(folder.File("v2.sid"));

        Assert.Equal(1, old.Version);
        Assert.Equal(2, current.Version);
        Assert.False(old.TryGetSemanticId(new ItemId(2_000_000), out _));
        Assert.NotEqual(old.Fingerprint, current.Fingerprint);
        Assert.True(current.TryGetSemanticId(new ItemId(2_000_000), out _));

        // A model trained on v1 can be served with v2 (every v1 item keeps its ID), never the other way round.
        Assert.Equal([old.Fingerprint], current.Lineage);
        Assert.True(current.Serves(old.Fingerprint));
        Assert.True(current.Serves(current.Fingerprint));
        Assert.False(old.Serves(current.Fingerprint));
        Assert.All(old.Items, i => Assert.Equal(old[i], current[i]));
    }

    [Fact]
    public void An_index_round_trips_through_bytes_and_damaged_bytes_are_refused()
    {
        var v1 = Small();
        var v2 = v1.AddItems(new ItemEmbeddings([new ItemId(2_000_001)], new float[v1.Quantizer.InputDimension], v1.Quantizer.InputDimension));
        var bytes = v2.ToBytes();

        var back = SemanticIdIndex.FromBytes(bytes);

        Assert.Equal(v2.Fingerprint, back.Fingerprint);
        Assert.Equal(v2.Version, back.Version);
        Assert.Equal(v2.Lineage, back.Lineage);
        var damaged = bytes.ToArray();
        damaged[^10] ^= 0x01;
        Assert.Contains("corrupted", Assert.Throws<InvalidDataException>(() => SemanticIdIndex.FromBytes(damaged)).Message, StringComparison.Ordinal);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => SemanticIdIndex.FromBytes(bytes[..^1])).Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, Func<byte[], byte[]>, string> Damage => new()
    {
        { "truncated body", b => b[..^100], "truncated" },
        { "truncated header", b => b[..30], "truncated" },
        { "a flipped byte", b => { var c = b.ToArray(); c[^50] ^= 0xFF; return c; }, "corrupted" },
        { "another file", b => "hello, world, not an index at all............................"u8.ToArray(), "not a GenRec semantic-ID index" },
        { "an empty file", b => [], "not a GenRec semantic-ID index" },
        { "a newer format", b => { var c = b.ToArray(); c[8] = 9; return c; }, "format version 9" },
        { "trailing bytes", b => [.. b, 1, 2, 3], "padded" },
    };

    [Theory]
    [MemberData(nameof(Damage))]
    public void A_damaged_file_is_refused_with_a_clear_error(string what, Func<byte[], byte[]> damage, string expected)
    {
        using var folder = TestData.TempFolder();
        var path = folder.File("x.sid");
        Small().Save(path);
        File.WriteAllBytes(path, damage(File.ReadAllBytes(path)));

        var e = Assert.Throws<InvalidDataException>(() => SemanticIdIndex.Load(path));

        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), $"{what}: {e.Message}");
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var e = Assert.Throws<FileNotFoundException>(() => SemanticIdIndex.Load("/no/such.sid"));
        Assert.Contains("/no/such.sid", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Embeddings_round_trip_and_a_file_of_another_source_is_refused()
    {
        using var folder = TestData.TempFolder();
        var e = new ItemEmbeddings([new ItemId(1), new ItemId(2)], [1, 2, 3, 4], 2);
        ItemEmbeddingsFile.Save(e, folder.File("e.emb"), "test-source");

        var back = ItemEmbeddingsFile.Load(folder.File("e.emb"), "test-source");

        Assert.Equal(e.Items, back.Items);
        Assert.Equal(e.Values.ToArray(), back.Values.ToArray());
        Assert.Contains("not 'other'", Assert.Throws<InvalidDataException>(() => ItemEmbeddingsFile.Load(folder.File("e.emb"), "other")).Message, StringComparison.Ordinal);
        File.WriteAllBytes(folder.File("e.emb"), File.ReadAllBytes(folder.File("e.emb"))[..^3]);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => ItemEmbeddingsFile.Load(folder.File("e.emb"))).Message, StringComparison.Ordinal);
    }
}
