using GenRec.TestSupport;

namespace GenRec.SemanticIds.Tests;

/// <summary>Dense top-k search, exact and partitioned by the first semantic-ID code, on the real MovieLens catalogue's vectors.</summary>
public sealed class ItemVectorIndexTests
{
    private static readonly Lazy<ItemEmbeddings> Movies = new(() =>
    {
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        return new ItemEmbeddings(items, values, d).Normalized();
    });

    private static readonly Lazy<SemanticIdIndex> Ids = new(() =>
        new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 2, CodebookSize = 16, MaxIterations = 5 }).Fit(Movies.Value));

    /// <summary>Queries: item vectors with noise, so many items tie or nearly tie as they would for a user state.</summary>
    private static float[][] Queries(int count)
    {
        var random = new Random(5);
        var movies = Movies.Value;
        return [.. Enumerable.Range(0, count).Select(_ =>
        {
            var query = movies.Row(random.Next(movies.Count)).ToArray();
            for (var j = 0; j < query.Length; j++)
            {
                query[j] += (float)(random.NextDouble() - 0.5) * 0.2f;
            }

            return query;
        })];
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = 0f;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    [Fact]
    public void Exact_search_returns_the_largest_inner_products_in_order()
    {
        var movies = Movies.Value;
        var index = ItemVectorIndex.Exact(movies);
        foreach (var query in Queries(5))
        {
            var found = index.Search(query, 20);
            var expected = movies.Items.Select((item, row) => (item, score: Dot(query, movies.Row(row))))
                .OrderByDescending(x => x.score).ThenBy(x => x.item.Value).Take(20).ToArray();

            Assert.Equal(expected.Select(x => x.item), found.Select(m => m.Item));
            Assert.All(found.Zip(expected), pair => Assert.Equal(pair.Second.score, pair.First.Score, 1e-4f));
        }
    }

    [Fact]
    public void A_partitioned_index_probing_every_partition_returns_what_exact_search_returns()
    {
        var exact = ItemVectorIndex.Exact(Movies.Value);
        var partitioned = ItemVectorIndex.Partitioned(Movies.Value, Ids.Value, probes: 4);

        Assert.Equal(16, partitioned.PartitionCount);
        Assert.Equal(Movies.Value.Count, partitioned.PartitionSizes.Sum());
        foreach (var query in Queries(20))
        {
            Assert.Equal(exact.Search(query, 100), partitioned.Search(query, 100, new ItemVectorSearchOptions { Probes = 16 }));
        }
    }

    [Fact]
    public void Fewer_probes_scan_only_the_nearest_partitions_and_more_probes_never_lose_recall()
    {
        var ids = Ids.Value;
        var exact = ItemVectorIndex.Exact(Movies.Value);
        var partitioned = ItemVectorIndex.Partitioned(Movies.Value, ids, probes: 4);
        foreach (var query in Queries(20))
        {
            var truth = exact.Search(query, 50).Select(m => m.Item).ToHashSet();
            var previous = -1;
            foreach (var probes in new[] { 1, 4, 8, 16 })
            {
                var found = partitioned.Search(query, 50, new ItemVectorSearchOptions { Probes = probes });
                Assert.Equal(50, found.Count);
                Assert.True(found.Select(m => ids[m.Item][0]).Distinct().Count() <= probes);
                var recall = found.Count(m => truth.Contains(m.Item));
                Assert.True(recall >= previous, $"recall fell from {previous} to {recall} going to {probes} probes");
                previous = recall;
            }

            Assert.Equal(50, previous);
        }
    }

    [Fact]
    public void Excluded_items_are_never_returned_and_the_list_is_filled_from_the_next_best()
    {
        var index = ItemVectorIndex.Exact(Movies.Value);
        var query = Queries(1)[0];
        var first = index.Search(query, 30);
        var exclude = first.Take(10).Select(m => m.Item).ToHashSet();

        var second = index.Search(query, 20, new ItemVectorSearchOptions { Exclude = exclude });

        Assert.Equal(first.Skip(10).Take(20), second);
    }

    [Fact]
    public void A_new_item_joins_its_first_code_partition_in_a_new_index_and_is_found_at_once()
    {
        var movies = Movies.Value;
        var partitioned = ItemVectorIndex.Partitioned(movies, Ids.Value, probes: 2);
        var query = Queries(1)[0];
        var fresh = new ItemId(10_000_000);
        var norm = MathF.Sqrt(Dot(query, query));
        var vectors = new ItemEmbeddings([fresh], query.Select(x => x / norm).ToArray(), movies.Dimension);
        var grown = Ids.Value.AddItems(vectors);

        var withNew = partitioned.WithItems(vectors, grown);

        Assert.False(partitioned.Contains(fresh));
        Assert.True(withNew.Contains(fresh));
        Assert.Equal(movies.Count + 1, withNew.Count);
        var everywhere = new ItemVectorSearchOptions { Probes = withNew.PartitionCount };
        Assert.Equal(fresh, withNew.Search(query, 10, everywhere)[0].Item);
        Assert.DoesNotContain(partitioned.Search(query, 10, everywhere), m => m.Item == fresh);
        Assert.Equal(partitioned.PartitionSizes[grown[fresh][0]] + 1, withNew.PartitionSizes[grown[fresh][0]]);
        Assert.Contains("AddItems", Assert.Throws<ArgumentException>(() => partitioned.WithItems(vectors, Ids.Value)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Replacing_an_item_vector_keeps_one_copy_of_the_item()
    {
        var movies = Movies.Value;
        var index = ItemVectorIndex.Exact(movies);
        var item = movies.Items[0];
        var query = Queries(1)[0];
        var vectors = new ItemEmbeddings([item], query, movies.Dimension);

        var replaced = index.WithItems(vectors);

        Assert.Equal(movies.Count, replaced.Count);
        var found = replaced.Search(query, 100);
        Assert.Equal(item, found[0].Item);
        Assert.Single(found, m => m.Item == item);
    }

    [Fact]
    public void Bad_queries_and_settings_get_clear_errors()
    {
        var movies = Movies.Value;
        var index = ItemVectorIndex.Partitioned(movies, Ids.Value, probes: 4);
        var query = Queries(1)[0];
        var nan = query.ToArray();
        nan[3] = float.NaN;

        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => index.Search(nan, 10)).Message, StringComparison.Ordinal);
        Assert.Contains("wide", Assert.Throws<ArgumentException>(() => index.Search(query.AsSpan(1), 10)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(query, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(query, 10, new ItemVectorSearchOptions { Probes = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ItemVectorIndex.Partitioned(movies, Ids.Value, probes: 17));
        var other = new ItemEmbeddings([new ItemId(-5)], new float[movies.Dimension], movies.Dimension);
        Assert.Contains("-5", Assert.Throws<ArgumentException>(() => ItemVectorIndex.Partitioned(other, Ids.Value, 4)).Message, StringComparison.Ordinal);
        var narrow = new ItemEmbeddings([new ItemId(-5)], new float[2], 2);
        Assert.Contains("wide", Assert.Throws<ArgumentException>(() => index.WithItems(narrow, Ids.Value)).Message, StringComparison.Ordinal);
    }
}
