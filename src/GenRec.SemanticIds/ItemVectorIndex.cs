namespace GenRec.SemanticIds;

/// <summary>An item and its inner product with the query.</summary>
/// <param name="Item">The item.</param>
/// <param name="Score">The inner product of the item's vector with the query; higher is better.</param>
public readonly record struct VectorMatch(ItemId Item, float Score);

/// <summary>Options of one <see cref="ItemVectorIndex.Search"/>.</summary>
public sealed record ItemVectorSearchOptions
{
    /// <summary>
    /// Partitions scanned (the ones whose centroid has the largest inner product with the query); <see langword="null"/>
    /// uses the index's <see cref="ItemVectorIndex.DefaultProbes"/>. Scanning every partition is exact search.
    /// </summary>
    public int? Probes { get; init; }

    /// <summary>Items never returned (the user's history, items already proposed by another channel).</summary>
    public IReadOnlySet<ItemId>? Exclude { get; init; }
}

/// <summary>
/// Top-k maximum-inner-product search over item vectors, in memory, for dense retrieval. Built
/// <see cref="Exact"/> (one scan over every item: right for catalogues up to about a hundred thousand items) or
/// <see cref="Partitioned"/> by the first code of each item's semantic ID: the tokenizer's first level is an inverted
/// file whose lists are already balanced, so a query scans only the partitions whose centroid (the mean of their items'
/// vectors, in this index's space) is nearest to it. Items' vectors are stored contiguously per partition and scored
/// with SIMD. Ties are broken by item ID, so exact search returns the same list in any scan order.
/// Immutable and thread-safe: new items go through <see cref="WithItems"/>, which returns a new index and shares
/// every partition it does not touch.
/// </summary>
public sealed class ItemVectorIndex
{
    private readonly Partition[] _partitions;
    private readonly Dictionary<ItemId, int> _partitionOf;

    private ItemVectorIndex(int dimension, Partition[] partitions, Dictionary<ItemId, int> partitionOf, int defaultProbes, bool byFirstCode)
    {
        Dimension = dimension;
        _partitions = partitions;
        _partitionOf = partitionOf;
        DefaultProbes = defaultProbes;
        IsPartitioned = byFirstCode;
    }

    /// <summary>The vectors' width.</summary>
    public int Dimension { get; }

    /// <summary>Items in the index.</summary>
    public int Count => _partitionOf.Count;

    /// <summary>Partitions (1 for an exact index; the first level's codebook size for a partitioned one).</summary>
    public int PartitionCount => _partitions.Length;

    /// <summary>Partitions a search scans when its options do not say.</summary>
    public int DefaultProbes { get; }

    /// <summary>Whether items are partitioned by the first code of their semantic ID.</summary>
    public bool IsPartitioned { get; }

    /// <summary>Whether the item is in the index.</summary>
    public bool Contains(ItemId item) => _partitionOf.ContainsKey(item);

    /// <summary>Items per partition, in partition order (how balanced the inverted file is).</summary>
    public IReadOnlyList<int> PartitionSizes => [.. _partitions.Select(p => p.Count)];

    /// <summary>An index that scans every item for every query.</summary>
    /// <param name="vectors">The items' vectors.</param>
    public static ItemVectorIndex Exact(ItemEmbeddings vectors)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        var partitionOf = new Dictionary<ItemId, int>(vectors.Count);
        var rows = new List<int>(vectors.Count);
        for (var row = 0; row < vectors.Count; row++)
        {
            partitionOf.Add(vectors.Items[row], 0);
            rows.Add(row);
        }

        return new ItemVectorIndex(vectors.Dimension, [Partition.Create(vectors, rows)], partitionOf, 1, byFirstCode: false);
    }

    /// <summary>
    /// An index partitioned by the first code of each item's semantic ID (one partition per code of the first level).
    /// </summary>
    /// <param name="vectors">The items' vectors (any space: the partitions' centroids are computed in it).</param>
    /// <param name="ids">Semantic IDs of every item in <paramref name="vectors"/> (assign new items with
    /// <see cref="SemanticIdIndex.AddItems"/> first).</param>
    /// <param name="probes">Partitions a search scans by default.</param>
    public static ItemVectorIndex Partitioned(ItemEmbeddings vectors, SemanticIdIndex ids, int probes)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        ArgumentNullException.ThrowIfNull(ids);
        var partitions = ids.Quantizer.CodebookSize;
        if (probes < 1 || probes > partitions)
        {
            throw new ArgumentOutOfRangeException(nameof(probes), probes, $"Probes must be between 1 and the {partitions} partitions of the first level.");
        }

        var members = Enumerable.Range(0, partitions).Select(_ => new List<int>()).ToArray();
        var partitionOf = new Dictionary<ItemId, int>(vectors.Count);
        for (var row = 0; row < vectors.Count; row++)
        {
            var code = FirstCode(ids, vectors.Items[row]);
            members[code].Add(row);
            partitionOf.Add(vectors.Items[row], code);
        }

        return new ItemVectorIndex(vectors.Dimension, [.. members.Select(m => Partition.Create(vectors, m))], partitionOf, probes, byFirstCode: true);
    }

    /// <summary>
    /// A new index with these items added (an item already in the index gets the new vector); this index is unchanged.
    /// Partitions are not re-clustered: a new item joins the partition of its semantic ID's first code, and that
    /// partition's centroid is recomputed.
    /// </summary>
    /// <param name="vectors">The new items' vectors, as wide as the index's.</param>
    /// <param name="ids">For a partitioned index, semantic IDs that include the new items; ignored by an exact one.</param>
    public ItemVectorIndex WithItems(ItemEmbeddings vectors, SemanticIdIndex? ids = null)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        if (vectors.Dimension != Dimension)
        {
            throw new ArgumentException($"The new vectors are {vectors.Dimension}-wide; this index holds {Dimension}-wide vectors.", nameof(vectors));
        }

        if (IsPartitioned && ids is null)
        {
            throw new ArgumentNullException(nameof(ids), "A partitioned index places new items by their semantic ID: pass the index that holds them.");
        }

        var partitionOf = new Dictionary<ItemId, int>(_partitionOf);
        var added = new Dictionary<int, List<int>>();
        var replaced = new Dictionary<int, HashSet<ItemId>>();
        for (var row = 0; row < vectors.Count; row++)
        {
            var item = vectors.Items[row];
            var target = IsPartitioned ? FirstCode(ids!, item) : 0;
            if (partitionOf.TryGetValue(item, out var old))
            {
                (replaced.TryGetValue(old, out var set) ? set : replaced[old] = []).Add(item);
            }

            partitionOf[item] = target;
            (added.TryGetValue(target, out var list) ? list : added[target] = []).Add(row);
        }

        var partitions = (Partition[])_partitions.Clone();
        foreach (var p in added.Keys.Union(replaced.Keys))
        {
            partitions[p] = partitions[p].With(replaced.GetValueOrDefault(p), vectors, added.GetValueOrDefault(p) ?? []);
        }

        return new ItemVectorIndex(Dimension, partitions, partitionOf, DefaultProbes, IsPartitioned);
    }

    /// <summary>The <paramref name="top"/> items with the largest inner product with <paramref name="query"/>, best first.</summary>
    /// <param name="query">The query vector (a user's state in this index's space).</param>
    /// <param name="top">How many items to return at most.</param>
    /// <param name="options">Probes and excluded items.</param>
    public IReadOnlyList<VectorMatch> Search(ReadOnlySpan<float> query, int top, ItemVectorSearchOptions? options = null)
    {
        if (query.Length != Dimension)
        {
            throw new ArgumentException($"The query is {query.Length}-wide; this index holds {Dimension}-wide vectors.", nameof(query));
        }

        foreach (var x in query)
        {
            if (!float.IsFinite(x))
            {
                throw new ArgumentException("The query has a NaN or infinite value.", nameof(query));
            }
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        var probes = options?.Probes ?? DefaultProbes;
        if (probes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), probes, "Probes must be at least 1.");
        }

        var heap = new TopK(top);
        var exclude = options?.Exclude;
        foreach (var p in Route(query, Math.Min(probes, _partitions.Length)))
        {
            _partitions[p].Scan(query, heap, exclude);
        }

        return heap.Sorted();
    }

    /// <summary>The partitions to scan: every non-empty one when probes cover them all, else the nearest by centroid.</summary>
    private int[] Route(ReadOnlySpan<float> query, int probes)
    {
        if (probes >= _partitions.Length)
        {
            return [.. Enumerable.Range(0, _partitions.Length)];
        }

        var scores = new float[_partitions.Length];
        var order = new int[_partitions.Length];
        for (var p = 0; p < _partitions.Length; p++)
        {
            order[p] = p;
            scores[p] = _partitions[p].Count == 0 ? float.NegativeInfinity : VectorMath.Dot(query, _partitions[p].Centroid);
        }

        Array.Sort(scores, order);
        return order[^probes..];
    }

    private static int FirstCode(SemanticIdIndex ids, ItemId item) =>
        ids.TryGetSemanticId(item, out var id)
            ? id[0]
            : throw new ArgumentException($"Item {item} has no semantic ID in index version {ids.Version}: assign new items with SemanticIdIndex.AddItems first.", nameof(ids));

    /// <summary>One partition's items and their vectors, contiguous, with the mean vector that routes queries to it.</summary>
    private sealed class Partition
    {
        private readonly ItemId[] _items;
        private readonly float[] _vectors;
        private readonly int _dimension;

        private Partition(ItemId[] items, float[] vectors, int dimension)
        {
            _items = items;
            _vectors = vectors;
            _dimension = dimension;
            Centroid = new float[dimension];
            if (items.Length == 0)
            {
                return;
            }

            for (var i = 0; i < items.Length; i++)
            {
                var row = vectors.AsSpan(i * dimension, dimension);
                for (var j = 0; j < dimension; j++)
                {
                    Centroid[j] += row[j];
                }
            }

            for (var j = 0; j < dimension; j++)
            {
                Centroid[j] /= items.Length;
            }
        }

        public float[] Centroid { get; }

        public int Count => _items.Length;

        public static Partition Create(ItemEmbeddings source, List<int> rows)
        {
            var d = source.Dimension;
            var items = new ItemId[rows.Count];
            var vectors = new float[rows.Count * d];
            for (var i = 0; i < rows.Count; i++)
            {
                items[i] = source.Items[rows[i]];
                source.Row(rows[i]).CopyTo(vectors.AsSpan(i * d, d));
            }

            return new Partition(items, vectors, d);
        }

        /// <summary>A copy without <paramref name="removed"/> and with the rows of <paramref name="source"/> appended.</summary>
        public Partition With(HashSet<ItemId>? removed, ItemEmbeddings source, List<int> rows)
        {
            var d = _dimension;
            var items = new List<ItemId>(_items.Length + rows.Count);
            var vectors = new List<float>((_items.Length + rows.Count) * d);
            for (var i = 0; i < _items.Length; i++)
            {
                if (removed is null || !removed.Contains(_items[i]))
                {
                    items.Add(_items[i]);
                    vectors.AddRange(_vectors.AsSpan(i * d, d));
                }
            }

            foreach (var row in rows)
            {
                items.Add(source.Items[row]);
                vectors.AddRange(source.Row(row));
            }

            return new Partition([.. items], [.. vectors], d);
        }

        public void Scan(ReadOnlySpan<float> query, TopK heap, IReadOnlySet<ItemId>? exclude)
        {
            const int Block = 256;
            var d = _dimension;
            Span<float> scores = stackalloc float[Block];
            for (var start = 0; start < _items.Length; start += Block)
            {
                var n = Math.Min(Block, _items.Length - start);
                VectorMath.DotRows(query, _vectors.AsSpan(start * d, n * d), scores[..n]);
                for (var i = 0; i < n; i++)
                {
                    var item = _items[start + i];
                    if (heap.Admits(scores[i], item) && (exclude is null || !exclude.Contains(item)))
                    {
                        heap.Add(scores[i], item);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The best k seen so far in a binary min-heap: higher score first, then lower item ID, so the result does not
    /// depend on the order items are scanned in.
    /// </summary>
    private sealed class TopK(int k)
    {
        private readonly float[] _scores = new float[k];
        private readonly ItemId[] _items = new ItemId[k];
        private int _count;

        public bool Admits(float score, ItemId item) => _count < k || Better(score, item, _scores[0], _items[0]);

        public void Add(float score, ItemId item)
        {
            if (_count < k)
            {
                var i = _count++;
                _scores[i] = score;
                _items[i] = item;
                while (i > 0)
                {
                    var parent = (i - 1) / 2;
                    if (!Better(_scores[parent], _items[parent], _scores[i], _items[i]))
                    {
                        break;
                    }

                    Swap(i, parent);
                    i = parent;
                }

                return;
            }

            _scores[0] = score;
            _items[0] = item;
            var at = 0;
            while (true)
            {
                var worst = at;
                foreach (var child in (ReadOnlySpan<int>)[(2 * at) + 1, (2 * at) + 2])
                {
                    if (child < _count && Better(_scores[worst], _items[worst], _scores[child], _items[child]))
                    {
                        worst = child;
                    }
                }

                if (worst == at)
                {
                    return;
                }

                Swap(at, worst);
                at = worst;
            }
        }

        public VectorMatch[] Sorted()
        {
            var result = new VectorMatch[_count];
            for (var i = 0; i < _count; i++)
            {
                result[i] = new VectorMatch(_items[i], _scores[i]);
            }

            Array.Sort(result, static (a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Item.Value.CompareTo(b.Item.Value));
            return result;
        }

        private static bool Better(float score, ItemId item, float otherScore, ItemId otherItem) =>
            score > otherScore || (score == otherScore && item.Value < otherItem.Value);

        private void Swap(int a, int b)
        {
            (_scores[a], _scores[b]) = (_scores[b], _scores[a]);
            (_items[a], _items[b]) = (_items[b], _items[a]);
        }
    }
}
