namespace GenRec.Generative;

/// <summary>
/// The token vocabulary of a generative model over semantic IDs: <see cref="Pad"/>, <see cref="Bos"/>, then one
/// range of tokens per position of a semantic ID (position p's code c is token <c>Offset(p) + c</c>), so the same
/// code at different positions is a different token.
/// </summary>
public sealed class SemanticIdVocabulary
{
    /// <summary>Padding (left of short histories).</summary>
    public const int Pad = 0;

    /// <summary>Beginning of a sequence.</summary>
    public const int Bos = 1;

    private readonly int[] _offsets;
    private readonly int[] _sizes;

    /// <summary>Creates a vocabulary.</summary>
    /// <param name="sizes">The number of codes at each position of a semantic ID; each positive.</param>
    public SemanticIdVocabulary(IReadOnlyList<int> sizes)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        if (sizes.Count == 0 || sizes.Any(s => s < 1))
        {
            throw new ArgumentException("Every position needs at least one code.", nameof(sizes));
        }

        _sizes = sizes.ToArray();
        _offsets = new int[_sizes.Length];
        var next = 2;
        for (var p = 0; p < _sizes.Length; p++)
        {
            _offsets[p] = next;
            next += _sizes[p];
        }

        Size = next;
    }

    /// <summary>The vocabulary of an index's semantic IDs.</summary>
    /// <param name="index">The index.</param>
    /// <returns>The vocabulary.</returns>
    public static SemanticIdVocabulary For(SemanticIds.SemanticIdIndex index)
    {
        ArgumentNullException.ThrowIfNull(index);
        return new SemanticIdVocabulary(index.VocabularySizes);
    }

    /// <summary>Codes per semantic ID.</summary>
    public int Positions => _sizes.Length;

    /// <summary>Tokens in all, the two special ones included.</summary>
    public int Size { get; }

    /// <summary>The number of codes at each position.</summary>
    public IReadOnlyList<int> Sizes => _sizes;

    /// <summary>The first token of position <paramref name="position"/>.</summary>
    /// <param name="position">0-based position in a semantic ID.</param>
    /// <returns>The token id of code 0 at that position.</returns>
    public int Offset(int position) => _offsets[position];

    /// <summary>Whether every code of <paramref name="id"/> is within this vocabulary.</summary>
    /// <param name="id">A semantic ID.</param>
    /// <returns><see langword="true"/> when the model can read and write it.</returns>
    public bool Writes(SemanticIds.SemanticId id)
    {
        if (id.Length != _sizes.Length)
        {
            return false;
        }

        for (var p = 0; p < _sizes.Length; p++)
        {
            if (id[p] >= _sizes[p])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The tokens of a history: <see cref="Bos"/> then each item's semantic ID, left-padded with <see cref="Pad"/>
    /// to <c>1 + maxItems × Positions</c> tokens. Only the last <paramref name="maxItems"/> items the index knows
    /// are kept; unknown items are skipped, and so are items whose codes this vocabulary cannot write (added to the
    /// index after the model was trained, with a disambiguation code beyond the model's).
    /// </summary>
    /// <param name="history">The history items, oldest first.</param>
    /// <param name="index">The semantic-ID index.</param>
    /// <param name="maxItems">The most items kept.</param>
    /// <param name="unknown">How many history items the index did not know.</param>
    /// <returns>The tokens.</returns>
    public int[] EncodeHistory(IEnumerable<ItemId> history, SemanticIds.SemanticIdIndex index, int maxItems, out int unknown)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(index);
        var known = new List<SemanticIds.SemanticId>();
        unknown = 0;
        foreach (var item in history)
        {
            if (index.TryGetSemanticId(item, out var id) && Writes(id))
            {
                known.Add(id);
            }
            else
            {
                unknown++;
            }
        }

        var kept = known.Count > maxItems ? known.GetRange(known.Count - maxItems, maxItems) : known;
        var tokens = new int[1 + (maxItems * Positions)];
        var at = tokens.Length - (kept.Count * Positions) - 1;
        tokens[at++] = Bos;
        foreach (var id in kept)
        {
            for (var p = 0; p < Positions; p++)
            {
                tokens[at++] = Offset(p) + id[p];
            }
        }

        return tokens;
    }
}
