namespace GenRec.SemanticIds.Tests;

public sealed class ItemEmbeddingsTests
{
    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Non_finite_values_are_refused_naming_the_item(float bad)
    {
        var e = Assert.Throws<ArgumentException>(() => new ItemEmbeddings([new ItemId(1), new ItemId(7)], [0, 1, 2, bad], 2));
        Assert.Contains("item 7", e.Message, StringComparison.Ordinal);
        Assert.Contains("position 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sizes_and_duplicates_are_checked()
    {
        Assert.Throws<ArgumentException>(() => new ItemEmbeddings([new ItemId(1)], [1, 2, 3], 2));
        Assert.Throws<ArgumentException>(() => new ItemEmbeddings([new ItemId(1), new ItemId(1)], [1, 2], 1));
        var mixed = Assert.Throws<ArgumentException>(() => ItemEmbeddings.FromRows([(new ItemId(1), new float[] { 1, 2 }), (new ItemId(2), new float[] { 1 })]));
        Assert.Contains("item 2", mixed.Message, StringComparison.OrdinalIgnoreCase);
        var missing = Assert.Throws<ArgumentException>(() => ItemEmbeddings.FromItemVectors([new ItemRecord(new ItemId(3), "x", [])]));
        Assert.Contains("Item 3 has no vector", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Concat_normalises_each_part_and_keeps_common_items()
    {
        var a = new ItemEmbeddings([new ItemId(1), new ItemId(2)], [3, 4, 0, 2], 2);
        var b = new ItemEmbeddings([new ItemId(2), new ItemId(9)], [5, 1], 1);

        var both = a.Concat(b);

        Assert.Equal(new[] { new ItemId(2) }, both.Items);
        Assert.Equal(new float[] { 0, 1, 1 }, both[new ItemId(2)].ToArray());
    }

    [Fact]
    public void Team_vectors_become_embeddings()
    {
        var e = ItemEmbeddings.FromItemVectors([new ItemRecord(new ItemId(5), "a", []) { Vector = new float[] { 1, 2, 3 } }]);

        Assert.Equal(3, e.Dimension);
        Assert.Equal(new float[] { 1, 2, 3 }, e[new ItemId(5)].ToArray());
    }

    [Fact]
    public void With_adds_new_rows_after_the_kept_ones_and_replaces_an_item_in_both()
    {
        var a = new ItemEmbeddings([new ItemId(1), new ItemId(2)], [1f, 0f, 0f, 1f], 2);
        var b = new ItemEmbeddings([new ItemId(2), new ItemId(3)], [5f, 5f, 7f, 7f], 2);

        var both = a.With(b);

        Assert.Equal([1L, 2, 3], both.Items.Select(i => i.Value));
        Assert.Equal([5f, 5f], both[new ItemId(2)].ToArray());
        Assert.Equal([1f, 0f], both[new ItemId(1)].ToArray());
        Assert.Throws<ArgumentException>(() => a.With(new ItemEmbeddings([new ItemId(9)], [1f, 2f, 3f], 3)));
    }
}
