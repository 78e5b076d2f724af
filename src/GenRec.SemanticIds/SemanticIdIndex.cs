namespace GenRec.SemanticIds;

/// <summary>
/// An immutable, versioned snapshot of a catalogue's semantic IDs: the quantizer (codebooks, and an encoder for
/// RQ-VAE), item ↔ semantic ID in both directions, and the prefix trie for constrained decoding. Every semantic ID
/// has <see cref="Levels"/> codes from the quantizer and a last code that tells apart items whose levels collide.
/// New items get IDs through <see cref="AddItems"/>, which returns a new version and leaves this one as it was.
/// Thread-safe: nothing changes after construction.
/// </summary>
public sealed class SemanticIdIndex
{
    private readonly Dictionary<ItemId, SemanticId> _byItem;
    private readonly Dictionary<SemanticId, ItemId> _byId;
    private readonly Dictionary<SemanticId, int> _nextDisambiguation; // by level prefix (Levels codes)
    private readonly ItemId[] _items;
    private readonly Dictionary<SemanticId, ItemId[]>?[] _byPrefix = new Dictionary<SemanticId, ItemId[]>?[SemanticId.MaxLength];

    internal SemanticIdIndex(int version, DateTimeOffset createdAt, ResidualQuantizer quantizer, ItemId[] items, SemanticId[] ids, SemanticIdStatistics statistics, IReadOnlyList<string>? lineage = null)
    {
        Lineage = lineage ?? [];
        Version = version;
        CreatedAt = createdAt;
        Quantizer = quantizer;
        Statistics = statistics;
        _items = items;
        _byItem = new Dictionary<ItemId, SemanticId>(items.Length);
        _byId = new Dictionary<SemanticId, ItemId>(items.Length);
        _nextDisambiguation = [];
        for (var i = 0; i < items.Length; i++)
        {
            var id = ids[i];
            if (id.Length != quantizer.Levels + 1)
            {
                throw new InvalidDataException($"Item {items[i]} has a semantic ID of {id.Length} codes; this index uses {quantizer.Levels + 1}.");
            }

            if (!_byItem.TryAdd(items[i], id))
            {
                throw new InvalidDataException($"Item {items[i]} appears twice in the index.");
            }

            if (!_byId.TryAdd(id, items[i]))
            {
                throw new InvalidDataException($"Items {_byId[id]} and {items[i]} share the semantic ID {id}.");
            }

            var prefix = Prefix(id);
            _nextDisambiguation[prefix] = Math.Max(_nextDisambiguation.GetValueOrDefault(prefix), id[quantizer.Levels] + 1);
        }

        Trie = new PrefixTrie(ids);
        VocabularySizes = [.. Enumerable.Repeat(quantizer.CodebookSize, quantizer.Levels), Math.Max(1, _nextDisambiguation.Values.DefaultIfEmpty(1).Max())];
    }

    /// <summary>
    /// A digest of the item → semantic ID mapping (16 hex digits of its SHA-256): two indexes with the same
    /// fingerprint map every item to the same codes. Models record it, so a model is never served with an index
    /// it was not trained on.
    /// </summary>
    public string Fingerprint => _fingerprint ??= ComputeFingerprint();

    /// <summary>
    /// The fingerprints of the earlier versions this index grew from by <see cref="AddItems"/>, oldest first: every
    /// item of those versions keeps its semantic ID here, so a model trained on one of them can be served with this
    /// index (it reads and generates the new items through the codes they share; see <see cref="Serves"/>).
    /// </summary>
    public IReadOnlyList<string> Lineage { get; }

    /// <summary>
    /// Whether a model trained on the index with fingerprint <paramref name="fingerprint"/> can be served with this
    /// one: it is this index or one it grew from.
    /// </summary>
    /// <param name="fingerprint">The model's <see cref="Fingerprint"/>.</param>
    /// <returns><see langword="true"/> when the model's items all keep their IDs here.</returns>
    public bool Serves(string fingerprint) => fingerprint == Fingerprint || Lineage.Contains(fingerprint);

    /// <summary>The index as bytes in its file format (version header and checksum included), for stores that take bytes.</summary>
    /// <returns>The bytes <see cref="FromBytes"/> reads.</returns>
    public byte[] ToBytes() => SemanticIdIndexFile.ToBytes(this);

    /// <summary>Reads an index from <see cref="ToBytes"/>'s bytes, refusing damaged or foreign ones with a clear error.</summary>
    /// <param name="bytes">The bytes.</param>
    /// <returns>The index.</returns>
    /// <exception cref="InvalidDataException">The bytes are not a valid index; the message says why.</exception>
    public static SemanticIdIndex FromBytes(byte[] bytes) => SemanticIdIndexFile.FromBytes(bytes);

    private string? _fingerprint;

    private string ComputeFingerprint()
    {
        var bytes = new byte[_items.Length * (8 + (2 * Length))];
        var at = 0;
        foreach (var item in _items)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at), item.Value);
            at += 8;
            var id = _byItem[item];
            for (var l = 0; l < Length; l++)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at), (ushort)id[l]);
                at += 2;
            }
        }

        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))[..16];
    }

    /// <summary>The version of this snapshot; 1 for a freshly trained index, +1 for each <see cref="AddItems"/>.</summary>
    public int Version { get; }

    /// <summary>When this snapshot was made.</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>The quantizer that assigns level codes.</summary>
    public ResidualQuantizer Quantizer { get; }

    /// <summary>Levels of the quantizer (the semantic ID has one more code, the disambiguation code).</summary>
    public int Levels => Quantizer.Levels;

    /// <summary>Codes per semantic ID: <see cref="Levels"/> + 1.</summary>
    public int Length => Quantizer.Levels + 1;

    /// <summary>The number of distinct codes at each position of a semantic ID (the last is the largest collision group).</summary>
    public IReadOnlyList<int> VocabularySizes { get; }

    /// <summary>How the tokenizer did when the index was trained.</summary>
    public SemanticIdStatistics Statistics { get; }

    /// <summary>The prefix trie of every semantic ID, for constrained decoding.</summary>
    public PrefixTrie Trie { get; }

    /// <summary>The number of items.</summary>
    public int Count => _items.Length;

    /// <summary>The items, in the order they were added.</summary>
    public IReadOnlyList<ItemId> Items => _items;

    /// <summary>The semantic ID of an item.</summary>
    /// <param name="item">The item.</param>
    /// <exception cref="KeyNotFoundException">The item is not in the index.</exception>
    public SemanticId this[ItemId item] =>
        _byItem.TryGetValue(item, out var id) ? id : throw new KeyNotFoundException($"Item {item} is not in semantic-ID index version {Version}.");

    /// <summary>The item of a semantic ID.</summary>
    /// <param name="id">A full semantic ID.</param>
    /// <exception cref="KeyNotFoundException">No item has that ID.</exception>
    public ItemId this[SemanticId id] =>
        _byId.TryGetValue(id, out var item) ? item : throw new KeyNotFoundException($"No item has the semantic ID {id} in index version {Version}.");

    /// <summary>Looks up an item's semantic ID.</summary>
    /// <param name="item">The item.</param>
    /// <param name="id">Its semantic ID, when found.</param>
    /// <returns>Whether the item is in the index.</returns>
    public bool TryGetSemanticId(ItemId item, out SemanticId id) => _byItem.TryGetValue(item, out id);

    /// <summary>Looks up the item of a semantic ID.</summary>
    /// <param name="id">A full semantic ID.</param>
    /// <param name="item">The item, when found.</param>
    /// <returns>Whether some item has that ID.</returns>
    public bool TryGetItem(SemanticId id, out ItemId item) => _byId.TryGetValue(id, out item);

    /// <summary>
    /// The items whose semantic ID starts with <paramref name="prefix"/> (1 to <see cref="Length"/> codes), in index
    /// order; empty when none does. The lookup for a prefix length is built on first use and kept with this version.
    /// </summary>
    /// <param name="prefix">The leading codes.</param>
    /// <returns>The items under the prefix.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The prefix is empty or longer than the IDs.</exception>
    public IReadOnlyList<ItemId> ItemsWithPrefix(SemanticId prefix)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(prefix.Length, 1, nameof(prefix));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefix.Length, Length, nameof(prefix));
        var levels = prefix.Length;
        var lookup = Volatile.Read(ref _byPrefix[levels - 1]);
        if (lookup is null)
        {
            lookup = _items.GroupBy(i => new SemanticId(_byItem[i].ToArray().AsSpan(0, levels))).ToDictionary(g => g.Key, g => g.ToArray());
            lookup = Interlocked.CompareExchange(ref _byPrefix[levels - 1], lookup, null) ?? lookup;
        }

        return lookup.TryGetValue(prefix, out var items) ? items : [];
    }

    /// <summary>
    /// Assigns semantic IDs to new items from their embeddings, without retraining: level codes from the quantizer,
    /// and the next free disambiguation code of their level tuple. Items already in the index keep their IDs.
    /// </summary>
    /// <param name="embeddings">Embeddings of the new items, of the width the index was trained on.</param>
    /// <param name="createdAt">The time to stamp the new version with; now when <see langword="null"/>.</param>
    /// <returns>A new index, one version up; this one is unchanged.</returns>
    /// <exception cref="ArgumentException">An item is already in the index, or the embeddings have the wrong width.</exception>
    public SemanticIdIndex AddItems(ItemEmbeddings embeddings, DateTimeOffset? createdAt = null)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        Quantizer.CheckDimension(embeddings.Dimension);
        var next = new Dictionary<SemanticId, int>(_nextDisambiguation);
        var ids = new SemanticId[embeddings.Count];
        var codes = new int[Length];
        for (var i = 0; i < embeddings.Count; i++)
        {
            var item = embeddings.Items[i];
            if (_byItem.TryGetValue(item, out var existing))
            {
                throw new ArgumentException($"Item {item} already has the semantic ID {existing} in index version {Version}.", nameof(embeddings));
            }

            Quantizer.Quantize(embeddings.Row(i)).CopyTo(codes, 0);
            codes[Levels] = 0;
            var prefix = Prefix(new SemanticId(codes));
            var d = next.GetValueOrDefault(prefix);
            if (d >= SemanticId.MaxCode)
            {
                throw new InvalidOperationException($"More than {SemanticId.MaxCode} items share the level codes {prefix}; retrain the tokenizer with more levels or codes.");
            }

            next[prefix] = d + 1;
            codes[Levels] = d;
            ids[i] = new SemanticId(codes);
        }

        var allItems = _items.Concat(embeddings.Items).ToArray();
        var allIds = _items.Select(i => _byItem[i]).Concat(ids).ToArray();
        return new SemanticIdIndex(Version + 1, createdAt ?? DateTimeOffset.UtcNow, Quantizer, allItems, allIds, Statistics, [.. Lineage, Fingerprint]);
    }

    /// <summary>Checks that embeddings of <paramref name="dimension"/> floats can be tokenized by this index.</summary>
    /// <param name="dimension">The width of the caller's embeddings.</param>
    /// <exception cref="InvalidOperationException">The widths differ.</exception>
    public void EnsureDimension(int dimension)
    {
        if (dimension != Quantizer.InputDimension)
        {
            throw new InvalidOperationException($"Semantic-ID index version {Version} was trained on {Quantizer.InputDimension}-dimensional embeddings; these have {dimension}.");
        }
    }

    /// <summary>Saves the index to a versioned, checksummed file.</summary>
    /// <param name="path">The file to write.</param>
    public void Save(string path) => SemanticIdIndexFile.Write(this, path);

    /// <summary>Loads an index, refusing a truncated, corrupted, foreign or too-new file with a clear error.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The index.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid index; the message says why.</exception>
    public static SemanticIdIndex Load(string path) => SemanticIdIndexFile.Read(path);

    /// <summary>
    /// Builds an index from a trained quantizer and the training items' level codes: adds disambiguation codes in
    /// ascending item-id order within each colliding group and computes the statistics.
    /// </summary>
    internal static SemanticIdIndex Build(ResidualQuantizer quantizer, ItemEmbeddings embeddings, int[][] levelCodes, DateTimeOffset createdAt)
    {
        var n = embeddings.Count;
        var levels = quantizer.Levels;
        var order = Enumerable.Range(0, n).OrderBy(i => embeddings.Items[i]).ToArray();
        var next = new Dictionary<SemanticId, int>();
        var ids = new SemanticId[n];
        var codes = new int[levels + 1];
        foreach (var i in order)
        {
            for (var l = 0; l < levels; l++)
            {
                codes[l] = levelCodes[l][i];
            }

            codes[levels] = 0;
            var prefix = new SemanticId(codes);
            var d = next.GetValueOrDefault(prefix);
            next[prefix] = d + 1;
            codes[levels] = d;
            ids[i] = new SemanticId(codes);
        }

        var utilization = new double[levels];
        var perplexity = new double[levels];
        for (var l = 0; l < levels; l++)
        {
            var counts = new int[quantizer.CodebookSize];
            foreach (var c in levelCodes[l])
            {
                counts[c]++;
            }

            utilization[l] = counts.Count(c => c > 0) / (double)quantizer.CodebookSize;
            var entropy = counts.Where(c => c > 0).Sum(c => -(c / (double)n) * Math.Log(c / (double)n));
            perplexity[l] = Math.Exp(entropy);
        }

        double squaredError = 0;
        long dims = 0;
        for (var i = 0; i < n; i++)
        {
            var rowCodes = new int[levels];
            for (var l = 0; l < levels; l++)
            {
                rowCodes[l] = levelCodes[l][i];
            }

            var target = quantizer.Decoder.Count > 0 || quantizer.Encoder.Count == 0 ? embeddings.Row(i).ToArray() : quantizer.Encode(embeddings.Row(i));
            var reconstruction = quantizer.Reconstruct(rowCodes);
            squaredError += VectorMath.SquaredDistance(target, reconstruction);
            dims += target.Length;
        }

        var distinctBefore = next.Count;
        var stats = new SemanticIdStatistics(
            n,
            n == 0 ? 0 : (n - distinctBefore) / (double)n,
            n == 0 ? 0 : (n - ids.Distinct().Count()) / (double)n,
            next.Values.DefaultIfEmpty(0).Max(),
            utilization,
            perplexity,
            dims == 0 ? 0 : squaredError / dims);
        return new SemanticIdIndex(1, createdAt, quantizer, embeddings.Items.ToArray(), ids, stats);
    }

    private SemanticId Prefix(SemanticId id) => id.WithCode(Levels, 0);
}
