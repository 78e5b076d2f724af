namespace GenRec.SemanticIds.Tests;

/// <summary>The prefix trie against the prefixes of its IDs enumerated by brute force.</summary>
public sealed class PrefixTrieTests
{
    [Fact]
    public void Every_prefix_of_the_ids_and_nothing_else_is_a_node_with_its_next_codes_and_leaf_count()
    {
        var random = new Random(17);
        // Small codes so that prefixes are shared at every level; each ID once.
        var ids = Enumerable.Range(0, 3000)
            .Select(_ => new SemanticId([random.Next(6), random.Next(40), random.Next(300), random.Next(3)]))
            .Distinct().ToArray();

        var trie = new PrefixTrie(ids);

        var prefixes = ids.SelectMany(id => Enumerable.Range(0, id.Length + 1).Select(n => id.ToArray()[..n])).DistinctBy(p => string.Join(",", p)).ToArray();
        Assert.Equal(prefixes.Length, trie.NodeCount);
        foreach (var prefix in prefixes)
        {
            var node = trie.Find(prefix);
            Assert.True(node >= 0, $"prefix {string.Join(",", prefix)} has no node");
            Assert.Equal(prefix.Length, trie.Depth(node));
            var under = ids.Where(id => id.ToArray().AsSpan(0, prefix.Length).SequenceEqual(prefix)).ToArray();
            Assert.Equal(under.Length, trie.LeafCount(node));
            var next = under.Where(id => id.Length > prefix.Length).Select(id => id[prefix.Length]).Distinct().Order().ToArray();
            Assert.Equal(next, trie.ValidNext(node).ToArray());
            var children = trie.Children(node).ToArray();
            Assert.All(children, c => Assert.True(c > node, "a child is numbered after its parent"));
            for (var i = 0; i < next.Length; i++)
            {
                Assert.True(trie.TryAdvance(node, next[i], out var child));
                Assert.Equal(children[i], child);
            }
        }

        Assert.Equal(-1, trie.Find([6]));
        Assert.Equal(-1, trie.Find([ids[0][0], ids[0][1], 300]));
        Assert.False(trie.TryAdvance(PrefixTrie.Root, 7, out _));
    }

    [Fact]
    public void Ids_of_different_lengths_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new PrefixTrie([new SemanticId([1, 2]), new SemanticId([1, 2, 3])]));
    }
}
