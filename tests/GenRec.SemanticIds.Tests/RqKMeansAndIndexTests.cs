using GenRec.TestSupport;

namespace GenRec.SemanticIds.Tests;

/// <summary>RQ-KMeans, the index and its trie on vectors built from the real MovieLens catalogue.</summary>
public sealed class RqKMeansAndIndexTests
{
    private static readonly Lazy<ItemEmbeddings> Movies = new(() =>
    {
        var (items, values, d) = MovieFeatures.Build(TestData.Split);
        return new ItemEmbeddings(items, values, d);
    });

    private static readonly Lazy<SemanticIdIndex> Balanced = new(() =>
        new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 3, CodebookSize = 64, MaxIterations = 10 }).Fit(Movies.Value));

    [Fact]
    public void Every_item_gets_a_unique_semantic_id_after_disambiguation()
    {
        var index = Balanced.Value;
        var ids = index.Items.Select(i => index[i]).ToArray();

        Assert.Equal(9_066, index.Count);
        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Equal(4, id.Length));
        Assert.Equal(0, index.Statistics.CollisionRateAfter);
        Assert.True(index.Statistics.CollisionRateBefore > 0, "genre/year vectors do collide at three levels of 64 codes");
        Assert.Equal(index.Statistics.MaxItemsPerTuple, index.VocabularySizes[3]);
    }

    [Fact]
    public void Balanced_assignment_uses_codes_evenly_where_plain_kmeans_does_not()
    {
        var plain = new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 3, CodebookSize = 64, MaxIterations = 10, Balanced = false }).Fit(Movies.Value);
        var balanced = Balanced.Value.Statistics;

        Assert.All(balanced.Utilization, u => Assert.True(u >= 0.95, $"balanced utilization {u:P0}"));
        for (var level = 0; level < 3; level++)
        {
            Assert.True(
                balanced.Perplexity[level] > plain.Statistics.Perplexity[level],
                $"level {level}: balanced perplexity {balanced.Perplexity[level]:0.0} should exceed plain {plain.Statistics.Perplexity[level]:0.0}");
            Assert.True(balanced.Perplexity[level] > 0.8 * 64, $"level {level}: perplexity {balanced.Perplexity[level]:0.0} of 64");
        }
    }

    [Fact]
    public void Reconstruction_error_falls_with_each_level()
    {
        var one = new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 1, CodebookSize = 64, MaxIterations = 10 }).Fit(Movies.Value);

        Assert.True(Balanced.Value.Statistics.ReconstructionMse < one.Statistics.ReconstructionMse);
    }

    [Fact]
    public void Training_is_repeatable_with_a_seed()
    {
        var options = new RqKMeansTrainer.Options { Levels = 2, CodebookSize = 32, MaxIterations = 5, Seed = 7 };
        var a = new RqKMeansTrainer(options).Fit(Movies.Value);
        var b = new RqKMeansTrainer(options).Fit(Movies.Value);

        Assert.Equal(a.Items.Select(i => a[i]), b.Items.Select(i => b[i]));
    }

    [Fact]
    public void Items_with_a_prefix_are_exactly_those_whose_ids_start_with_it()
    {
        var index = Balanced.Value;
        var some = index[index.Items[17]].ToArray();

        for (var levels = 1; levels <= index.Length; levels++)
        {
            var prefix = new SemanticId(some.AsSpan(0, levels));
            var expected = index.Items.Where(i => index[i].ToArray().AsSpan(0, levels).SequenceEqual(some.AsSpan(0, levels)));
            Assert.Equal(expected, index.ItemsWithPrefix(prefix));
        }

        Assert.Equal(index.Count, Enumerable.Range(0, index.VocabularySizes[0]).Sum(c => index.ItemsWithPrefix(new SemanticId([c])).Count));
        Assert.Empty(index.ItemsWithPrefix(new SemanticId([index.VocabularySizes[0] + 5])));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.ItemsWithPrefix(new SemanticId([.. some, 0])));
    }

    [Fact]
    public void The_trie_answers_valid_next_codes_for_every_prefix()
    {
        var index = Balanced.Value;
        var trie = index.Trie;
        foreach (var item in index.Items.Take(500))
        {
            var id = index[item];
            var node = PrefixTrie.Root;
            for (var level = 0; level < id.Length; level++)
            {
                Assert.Contains(id[level], trie.ValidNext(node).ToArray());
                Assert.True(trie.TryAdvance(node, id[level], out node));
                Assert.Equal(level + 1, trie.Depth(node));
            }

            Assert.True(trie.ValidNext(node).IsEmpty, "a full semantic ID is a leaf");
            Assert.Equal(node, trie.Find(id.ToArray()));
        }

        // The children of the root are exactly the level-1 codes in use, ascending.
        var first = index.Items.Select(i => index[i][0]).Distinct().Order().ToArray();
        Assert.Equal(first, trie.ValidNext(PrefixTrie.Root).ToArray());
        var mask = new bool[64];
        trie.FillMask(PrefixTrie.Root, mask);
        Assert.Equal(first, Enumerable.Range(0, 64).Where(c => mask[c]));
        Assert.Equal(-1, trie.Find([999]));
        Assert.False(trie.TryAdvance(PrefixTrie.Root, 999, out _));
    }

    [Fact]
    public void Lookups_go_both_ways_and_unknowns_are_named()
    {
        var index = Balanced.Value;
        var item = new ItemId(260);

        Assert.Equal(item, index[index[item]]);
        Assert.True(index.TryGetSemanticId(item, out var id));
        Assert.True(index.TryGetItem(id, out _));
        var e = Assert.Throws<KeyNotFoundException>(() => index[new ItemId(-5)]);
        Assert.Contains("-5", e.Message, StringComparison.Ordinal);
        Assert.False(index.TryGetItem(new SemanticId([63, 63, 63, 999]), out _));
    }

    [Fact]
    public void New_items_take_the_nearest_codes_of_the_trained_quantizer()
    {
        // Balanced training may place an item in a code that is not its nearest (capacity); a new item has no
        // capacity to respect and takes its nearest codes.
        var index = Balanced.Value;
        var vector = Movies.Value[new ItemId(1196)];
        var next = index.AddItems(new ItemEmbeddings([new ItemId(1_000_002)], vector, Movies.Value.Dimension));

        Assert.Equal(index.Quantizer.Quantize(vector), next[new ItemId(1_000_002)].ToArray()[..3]);
    }

    [Fact]
    public void A_new_item_gets_a_semantic_id_without_retraining_in_a_new_version()
    {
        var index = new RqKMeansTrainer(new RqKMeansTrainer.Options { Levels = 3, CodebookSize = 64, MaxIterations = 10, Balanced = false }).Fit(Movies.Value);
        // A "new" item: a copy of Star Wars' vector under an unused id; it must land in Star Wars' level tuple.
        var starWars = index[new ItemId(260)];
        var fresh = new ItemEmbeddings([new ItemId(1_000_001)], Movies.Value[new ItemId(260)], Movies.Value.Dimension);

        var next = index.AddItems(fresh);

        Assert.Equal(index.Version + 1, next.Version);
        Assert.Equal(index.Count + 1, next.Count);
        var id = next[new ItemId(1_000_001)];
        Assert.Equal(starWars.ToArray()[..3], id.ToArray()[..3]);
        Assert.NotEqual(starWars, id);
        Assert.Equal(new ItemId(1_000_001), next[id]);
        Assert.True(next.Trie.TryAdvance(next.Trie.Find(id.ToArray().AsSpan(0, 3)), id[3], out _));
        Assert.Equal(starWars, next[new ItemId(260)]); // existing items keep their IDs
        Assert.False(index.TryGetSemanticId(new ItemId(1_000_001), out _)); // the old version is unchanged
    }

    [Fact]
    public void Adding_a_known_item_or_a_vector_of_the_wrong_width_is_refused()
    {
        var index = Balanced.Value;

        var known = Assert.Throws<ArgumentException>(() => index.AddItems(Movies.Value.Subset([new ItemId(260)])));
        Assert.Contains("already has the semantic ID", known.Message, StringComparison.Ordinal);
        var width = Assert.Throws<ArgumentException>(() => index.AddItems(new ItemEmbeddings([new ItemId(5_000_000)], [1, 2, 3], 3)));
        Assert.Contains($"{Movies.Value.Dimension}-dimensional", width.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => index.EnsureDimension(384));
        Assert.Throws<ArgumentException>(() => index.Quantizer.Quantize(Enumerable.Repeat(float.NaN, Movies.Value.Dimension).ToArray()));
    }

    [Fact]
    public void Options_out_of_range_are_refused_by_name()
    {
        Assert.Contains("CodebookSize", Assert.Throws<ArgumentOutOfRangeException>(() => new RqKMeansTrainer(levels: 3, codebookSize: 1)).Message, StringComparison.Ordinal);
        Assert.Contains("Levels", Assert.Throws<ArgumentOutOfRangeException>(() => new RqKMeansTrainer(levels: 8)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fewer_items_than_codes_still_give_unique_ids()
    {
        var tiny = Movies.Value.Subset(Movies.Value.Items.Take(10).ToArray());

        var index = new RqKMeansTrainer(levels: 2, codebookSize: 64).Fit(tiny);

        Assert.Equal(10, index.Items.Select(i => index[i]).Distinct().Count());
    }
}
