namespace GenRec.SemanticIds;

/// <summary>
/// The prefix trie of every semantic ID of an index, for constrained decoding: from a node (a valid prefix), the
/// valid next codes and the child node for a code are found in O(1). Node 0 is the empty prefix. Immutable.
/// </summary>
public sealed class PrefixTrie
{
    private readonly int[] _childStart;   // CSR: children of node n are _codes/_children[_childStart[n] .. _childStart[n + 1])
    private readonly int[] _codes;
    private readonly int[] _children;
    private readonly Dictionary<long, int> _edges;
    private readonly int[] _depth;

    internal PrefixTrie(IReadOnlyList<SemanticId> ids)
    {
        // Sorted (codes read big-endian), the distinct prefixes of each depth are that depth's nodes in code order, and
        // each node's children are contiguous: nodes are numbered depth by depth, so the edge into node v is edge v - 1
        // and children always have larger numbers than their parent. O(n log n), no per-node allocation.
        var length = ids.Count == 0 ? 0 : ids[0].Length;
        var keys = new UInt128[ids.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            if (ids[i].Length != length)
            {
                throw new ArgumentException($"A trie's IDs all have one length; ID {i} has {ids[i].Length} codes, the first {length}.", nameof(ids));
            }

            keys[i] = ids[i].SortKey();
        }

        Array.Sort(keys);
        var depth = new List<int>(keys.Length + 1) { 0 };
        var parent = new List<int>(keys.Length + 1) { -1 };
        var code = new List<int>(keys.Length + 1) { 0 };
        var nodeOfKey = new int[keys.Length]; // the node of each key's prefix at the depth being built (the root to start)
        for (var d = 1; d <= length; d++)
        {
            var shift = 16 * (length - d);
            var previous = UInt128.MaxValue;
            var node = -1;
            for (var i = 0; i < keys.Length; i++)
            {
                var prefix = keys[i] >> shift;
                if (node < 0 || prefix != previous)
                {
                    node = depth.Count;
                    depth.Add(d);
                    parent.Add(nodeOfKey[i]);
                    code.Add((int)(ushort)prefix);
                    previous = prefix;
                }

                nodeOfKey[i] = node;
            }
        }

        var nodes = depth.Count;
        _childStart = new int[nodes + 1];
        _codes = new int[nodes - 1];
        _children = new int[nodes - 1];
        _edges = new Dictionary<long, int>(nodes - 1, MixedLongComparer.Instance);
        for (var v = 1; v < nodes; v++)
        {
            _codes[v - 1] = code[v];
            _children[v - 1] = v;
            _childStart[parent[v] + 1]++;
            _edges[Key(parent[v], code[v])] = v;
        }

        for (var n = 0; n < nodes; n++)
        {
            _childStart[n + 1] += _childStart[n];
        }

        _depth = [.. depth];
        // Leaves under each node: children always have larger node numbers, so one backward pass suffices.
        _leaves = new int[nodes];
        for (var n = nodes - 1; n >= 0; n--)
        {
            if (_childStart[n] == _childStart[n + 1])
            {
                _leaves[n] = 1;
            }

            for (var e = _childStart[n]; e < _childStart[n + 1]; e++)
            {
                _leaves[n] += _leaves[_children[e]];
            }
        }
    }

    private readonly int[] _leaves;

    /// <summary>How many full semantic IDs (items) lie under <paramref name="node"/>.</summary>
    /// <param name="node">A node.</param>
    /// <returns>The number of leaves below it (1 for a leaf).</returns>
    public int LeafCount(int node) => _leaves[node];

    /// <summary>
    /// Counts, for every node on the paths of <paramref name="ids"/>, how many of those IDs pass through it. A node
    /// whose count equals its <see cref="LeafCount"/> holds nothing but those IDs.
    /// </summary>
    /// <param name="ids">Full semantic IDs (e.g. the items a request excludes); IDs not in the trie are ignored.</param>
    /// <returns>Counts by node.</returns>
    public Dictionary<int, int> CountPaths(IEnumerable<SemanticId> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var counts = new Dictionary<int, int>();
        foreach (var id in ids.Distinct())
        {
            var node = Root;
            var path = new int[id.Length + 1];
            var ok = true;
            for (var level = 0; level < id.Length && ok; level++)
            {
                ok = TryAdvance(node, id[level], out node);
                path[level + 1] = node;
            }

            if (!ok || LeafCount(node) != 1)
            {
                continue;
            }

            foreach (var n in path)
            {
                counts[n] = counts.GetValueOrDefault(n) + 1;
            }
        }

        return counts;
    }

    /// <summary>The root node: the empty prefix.</summary>
    public const int Root = 0;

    /// <summary>The number of nodes, the root included.</summary>
    public int NodeCount => _depth.Length;

    /// <summary>How many codes lead from the root to <paramref name="node"/>.</summary>
    /// <param name="node">A node.</param>
    /// <returns>The node's depth.</returns>
    public int Depth(int node) => _depth[node];

    /// <summary>The valid next codes after the prefix of <paramref name="node"/>, ascending; empty at a leaf.</summary>
    /// <param name="node">A node.</param>
    /// <returns>The codes.</returns>
    public ReadOnlySpan<int> ValidNext(int node) => _codes.AsSpan(_childStart[node], _childStart[node + 1] - _childStart[node]);

    /// <summary>The child nodes of <paramref name="node"/>, in the order of <see cref="ValidNext"/>'s codes.</summary>
    /// <param name="node">A node.</param>
    /// <returns>Its children.</returns>
    public ReadOnlySpan<int> Children(int node) => _children.AsSpan(_childStart[node], _childStart[node + 1] - _childStart[node]);

    /// <summary>Follows <paramref name="code"/> from <paramref name="node"/>.</summary>
    /// <param name="node">A node.</param>
    /// <param name="code">The next code.</param>
    /// <param name="child">The node of the longer prefix, when valid.</param>
    /// <returns>Whether the longer prefix belongs to some item.</returns>
    public bool TryAdvance(int node, int code, out int child) => _edges.TryGetValue(Key(node, code), out child);

    /// <summary>The node of a prefix, or -1 when no item starts with it.</summary>
    /// <param name="prefix">The codes of the prefix.</param>
    /// <returns>The node, or -1.</returns>
    public int Find(ReadOnlySpan<int> prefix)
    {
        var node = Root;
        foreach (var code in prefix)
        {
            if (!TryAdvance(node, code, out node))
            {
                return -1;
            }
        }

        return node;
    }

    /// <summary>Sets <paramref name="mask"/>[c] to true exactly for the valid next codes after <paramref name="node"/>.</summary>
    /// <param name="node">A node.</param>
    /// <param name="mask">One flag per code of the vocabulary at that level.</param>
    public void FillMask(int node, Span<bool> mask)
    {
        mask.Clear();
        foreach (var code in ValidNext(node))
        {
            if (code < mask.Length)
            {
                mask[code] = true;
            }
        }
    }

    private static long Key(int node, int code) => ((long)node << 16) | (uint)code;
}
