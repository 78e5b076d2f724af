using System.Text;
using GenRec.TestSupport;

namespace GenRec.Data.Tests;

public sealed class MovieLensReaderTests
{
    [Fact]
    public void Reads_the_bundled_file_with_the_counts_its_readme_states()
    {
        var data = TestData.Dataset;

        Assert.Equal(100_004, data.Interactions.Count);
        Assert.Equal(671, data.Users.Count);
        Assert.Equal(9_066, data.Catalogue.Count);
    }

    [Fact]
    public void Parses_quoted_titles_years_genres_and_missing_values()
    {
        var items = TestData.Dataset.Items;

        var deerHunter = items[new ItemId(1263)];
        Assert.Equal("Deer Hunter, The", deerHunter.Text);
        Assert.Equal(1978, deerHunter.PublishedAt?.Year);
        Assert.Equal(new[] { "Drama", "War" }, deerHunter.Categories);

        Assert.Equal("\"Great Performances\" Cats", items[new ItemId(51372)].Text);

        var unknown = items[new ItemId(108583)]; // title and year are NA in the file
        Assert.Equal(string.Empty, unknown.Text);
        Assert.Null(unknown.PublishedAt);

        Assert.Empty(items[new ItemId(128620)].Categories); // "(no genres listed)"
    }

    [Fact]
    public void Keeps_ratings_timestamps_and_file_order()
    {
        var first = TestData.Dataset.Interactions[0]; // 31,"Dangerous Minds",1995,"Drama",1,2.5,1260759144
        Assert.Equal(new Interaction(new UserId(1), new ItemId(31), 2.5f, 1260759144, 0), first);
        Assert.Equal(ActionType.Rate, first.ToEvent().Action);
    }

    [Fact]
    public void Reads_the_grouplens_layout_without_item_metadata()
    {
        var data = Read("userId,movieId,rating,timestamp\n1,10,4.0,100\n1,20,3.5,50\n");

        Assert.Equal(2, data.Interactions.Count);
        Assert.Equal(string.Empty, data.Items[new ItemId(10)].Text);
    }

    [Theory]
    [InlineData("movieId,title,userId,rating\n1,a,1,4\n", "no 'timestamp' column (the schema's events.time")]
    [InlineData("userId,movieId,timestamp\n1,2\n", "test.csv line 2: expected 3 fields (the header's), found 2")]
    [InlineData("userId,movieId,timestamp\n1,2,3\n1,x,3\n", "test.csv line 3, column 'movieId': 'x' is not an integer id")]
    [InlineData("userId,movieId,rating,timestamp\n1,2,high,3\n", "test.csv line 2, column 'rating': 'high' is not a finite number")]
    [InlineData("userId,movieId,title,timestamp\n1,2,\"open,3\n", "line 2: a quoted field is not closed")]
    [InlineData("userId,movieId,timestamp\n", "has a header but no event rows")]
    [InlineData("", "is empty")]
    public void Malformed_input_is_refused_with_the_file_the_line_the_column_and_the_problem(string csv, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => Read(csv));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_named_in_the_error()
    {
        var e = Assert.Throws<FileNotFoundException>(() => MovieLensReader.Read("/no/such/ratings.csv"));
        Assert.Contains("/no/such/ratings.csv", e.Message, StringComparison.Ordinal);
    }

    private static InteractionDataset Read(string csv) =>
        MovieLensReader.Read(new MemoryStream(Encoding.UTF8.GetBytes(csv)), "test.csv");
}
