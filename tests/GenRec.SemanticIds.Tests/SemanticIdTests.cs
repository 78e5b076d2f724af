namespace GenRec.SemanticIds.Tests;

public sealed class SemanticIdTests
{
    [Fact]
    public void Codes_round_trip_through_the_packed_value_and_text()
    {
        var id = new SemanticId([32, 61, 55, 0]);

        Assert.Equal(4, id.Length);
        Assert.Equal(new[] { 32, 61, 55, 0 }, id.ToArray());
        Assert.Equal("<32, 61, 55, 0>", id.ToString());
        Assert.Equal(id, SemanticId.Parse("<32, 61, 55, 0>"));
        Assert.Equal(id, SemanticId.Parse("32,61,55,0"));
        Assert.Equal(65535, new SemanticId([65535, 0, 1, 2, 3, 4, 5, 6])[0]);
    }

    [Fact]
    public void Equality_depends_on_length_and_every_code()
    {
        Assert.NotEqual(new SemanticId([1, 2]), new SemanticId([1, 2, 0]));
        Assert.NotEqual(new SemanticId([1, 2, 3]), new SemanticId([1, 2, 4]));
        Assert.Equal(new SemanticId([1, 2, 3]).GetHashCode(), new SemanticId([1, 2, 3]).GetHashCode());
    }

    [Theory]
    [InlineData(new int[0], "1 to 8 codes")]
    [InlineData(new[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, "1 to 8 codes")]
    [InlineData(new[] { 1, 65536 }, "out of range")]
    [InlineData(new[] { -1 }, "out of range")]
    public void Invalid_codes_are_refused(int[] codes, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => new SemanticId(codes));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_that_is_not_a_semantic_id_is_refused()
    {
        Assert.Throws<FormatException>(() => SemanticId.Parse("<1, x>"));
        Assert.Throws<FormatException>(() => SemanticId.Parse("<>"));
    }
}
