namespace GenRec.SemanticIds;

/// <summary>
/// Dense vectors for a set of items: one row of <see cref="Dimension"/> floats per item, every value finite.
/// This is what tokenizers read, whatever produced the vectors (a content model, a collaborative model, or the
/// team's own vectors).
/// </summary>
public sealed class ItemEmbeddings
{
    private readonly float[] _values;
    private readonly Dictionary<ItemId, int> _rows;

    /// <summary>Creates embeddings from a row-major matrix.</summary>
    /// <param name="items">The items, one per row; distinct.</param>
    /// <param name="values">Row-major values, <paramref name="items"/>.Count × <paramref name="dimension"/> of them; copied.</param>
    /// <param name="dimension">Floats per vector; 1 or more.</param>
    /// <exception cref="ArgumentException">A duplicate item, a size mismatch, or a NaN or infinite value (the message names the item).</exception>
    public ItemEmbeddings(IReadOnlyList<ItemId> items, ReadOnlySpan<float> values, int dimension)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        if (values.Length != (long)items.Count * dimension)
        {
            throw new ArgumentException($"Expected {items.Count} × {dimension} = {(long)items.Count * dimension} values, got {values.Length}.", nameof(values));
        }

        _rows = new Dictionary<ItemId, int>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            if (!_rows.TryAdd(items[i], i))
            {
                throw new ArgumentException($"Item {items[i]} appears twice.", nameof(items));
            }
        }

        for (var i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                throw new ArgumentException(
                    $"The vector of item {items[i / dimension]} has {values[i]} at position {i % dimension}; embeddings must be finite.", nameof(values));
            }
        }

        Items = items.ToArray();
        _values = values.ToArray();
        Dimension = dimension;
    }

    /// <summary>Creates embeddings from per-item vectors, e.g. vectors a team already has.</summary>
    /// <param name="rows">Items with their vectors; every vector of the same length.</param>
    /// <returns>The embeddings.</returns>
    /// <exception cref="ArgumentException">No rows, vectors of different lengths, a duplicate item, or a non-finite value.</exception>
    public static ItemEmbeddings FromRows(IEnumerable<(ItemId Item, ReadOnlyMemory<float> Vector)> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var list = rows.ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException("No vectors given.", nameof(rows));
        }

        var dimension = list[0].Vector.Length;
        var values = new float[list.Count * dimension];
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i].Vector.Length != dimension)
            {
                throw new ArgumentException($"Item {list[i].Item} has a vector of {list[i].Vector.Length} values; the first had {dimension}.", nameof(rows));
            }

            list[i].Vector.Span.CopyTo(values.AsSpan(i * dimension, dimension));
        }

        return new ItemEmbeddings(list.Select(r => r.Item).ToArray(), values, dimension);
    }

    /// <summary>Creates embeddings from the <see cref="ItemRecord.Vector"/> of item records (the team's own vectors).</summary>
    /// <param name="items">Items that all carry a vector.</param>
    /// <returns>The embeddings.</returns>
    /// <exception cref="ArgumentException">An item has no vector, or the vectors are inconsistent.</exception>
    public static ItemEmbeddings FromItemVectors(IEnumerable<ItemRecord> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        return FromRows(items.Select(i => i.Vector.IsEmpty
            ? throw new ArgumentException($"Item {i.Id} has no vector.", nameof(items))
            : (i.Id, i.Vector)));
    }

    /// <summary>The items, in row order.</summary>
    public IReadOnlyList<ItemId> Items { get; }

    /// <summary>Floats per vector.</summary>
    public int Dimension { get; }

    /// <summary>The number of items.</summary>
    public int Count => Items.Count;

    /// <summary>The vector of the item in row <paramref name="row"/>.</summary>
    /// <param name="row">The row.</param>
    /// <returns>The vector.</returns>
    public ReadOnlySpan<float> Row(int row) => _values.AsSpan(row * Dimension, Dimension);

    /// <summary>The vector of <paramref name="item"/>.</summary>
    /// <param name="item">The item.</param>
    /// <returns>The vector.</returns>
    /// <exception cref="KeyNotFoundException">The item has no vector here.</exception>
    public ReadOnlySpan<float> this[ItemId item] =>
        _rows.TryGetValue(item, out var row) ? Row(row) : throw new KeyNotFoundException($"Item {item} has no embedding.");

    /// <summary>Whether <paramref name="item"/> has a vector here.</summary>
    /// <param name="item">The item.</param>
    /// <returns><see langword="true"/> when it has.</returns>
    public bool Contains(ItemId item) => _rows.ContainsKey(item);

    /// <summary>All values, row-major.</summary>
    public ReadOnlySpan<float> Values => _values;

    /// <summary>A copy with every vector scaled to unit length (zero vectors stay zero).</summary>
    /// <returns>The normalised embeddings.</returns>
    public ItemEmbeddings Normalized()
    {
        var values = _values.ToArray();
        for (var r = 0; r < Count; r++)
        {
            var row = values.AsSpan(r * Dimension, Dimension);
            var norm = MathF.Sqrt(VectorMath.Dot(row, row));
            if (norm > 0)
            {
                for (var j = 0; j < row.Length; j++)
                {
                    row[j] /= norm;
                }
            }
        }

        return new ItemEmbeddings(Items, values, Dimension);
    }

    /// <summary>
    /// Joins two embeddings of the same items side by side, each part normalised to unit length first so neither
    /// dominates (e.g. content and collaborative vectors). Items missing from either side are left out.
    /// </summary>
    /// <param name="other">The second embeddings.</param>
    /// <returns>Embeddings of <see cref="Dimension"/> + <paramref name="other"/>.Dimension floats.</returns>
    public ItemEmbeddings Concat(ItemEmbeddings other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var left = Normalized();
        var right = other.Normalized();
        var items = Items.Where(other.Contains).ToArray();
        var dimension = Dimension + other.Dimension;
        var values = new float[items.Length * dimension];
        for (var i = 0; i < items.Length; i++)
        {
            left[items[i]].CopyTo(values.AsSpan(i * dimension, Dimension));
            right[items[i]].CopyTo(values.AsSpan((i * dimension) + Dimension, other.Dimension));
        }

        return new ItemEmbeddings(items, values, dimension);
    }

    /// <summary>The rows of <paramref name="items"/>, in that order.</summary>
    /// <param name="items">Items that all have a vector here.</param>
    /// <returns>The subset.</returns>
    public ItemEmbeddings Subset(IReadOnlyList<ItemId> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var values = new float[items.Count * Dimension];
        for (var i = 0; i < items.Count; i++)
        {
            this[items[i]].CopyTo(values.AsSpan(i * Dimension, Dimension));
        }

        return new ItemEmbeddings(items, values, Dimension);
    }

    /// <summary>
    /// These rows with <paramref name="other"/>'s added: an item in both takes <paramref name="other"/>'s vector; the
    /// items only here keep their order and come first.
    /// </summary>
    /// <param name="other">Vectors of the same width.</param>
    /// <returns>The combined embeddings.</returns>
    /// <exception cref="ArgumentException">The widths differ.</exception>
    public ItemEmbeddings With(ItemEmbeddings other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Dimension != Dimension)
        {
            throw new ArgumentException($"These vectors are {Dimension}-wide; the added ones are {other.Dimension}-wide.", nameof(other));
        }

        var kept = Items.Where(i => !other.Contains(i)).ToArray();
        var values = new float[(kept.Length + other.Count) * Dimension];
        for (var i = 0; i < kept.Length; i++)
        {
            this[kept[i]].CopyTo(values.AsSpan(i * Dimension, Dimension));
        }

        other.Values.CopyTo(values.AsSpan(kept.Length * Dimension));
        return new ItemEmbeddings([.. kept, .. other.Items], values, Dimension);
    }
}
