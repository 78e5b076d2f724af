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
    /// Tokens in all for a model whose histories carry each event's action (<see cref="ActionToken"/>): <see cref="Size"/>,
    /// then one token per action and value (<see cref="EventHistoryLayout.ActionTokens"/> − 1).
    /// </summary>
    public int SizeWithActions => ActionOffset + EventHistoryLayout.ActionTokens;

    /// <summary>
    /// Where the action tokens start: the action token <c>t</c> of <see cref="EventHistoryLayout.ActionToken"/> (1 or more)
    /// is history token <see cref="ActionOffset"/> + <c>t</c>, right after the semantic-ID tokens.
    /// </summary>
    public int ActionOffset => Size - 1;

    /// <summary>
    /// The history token of an event's action in a history that reads actions: the action and its value as
    /// <see cref="EventHistoryLayout.ActionToken"/> numbers them, placed after the semantic-ID tokens.
    /// </summary>
    /// <param name="action">The action.</param>
    /// <param name="value">Its value, if any (a rating is bucketed by half-steps); NaN counts as none.</param>
    /// <returns>A token in [<see cref="Size"/>, <see cref="SizeWithActions"/>).</returns>
    public int ActionToken(ActionType action, float? value) => ActionOffset + EventHistoryLayout.ActionToken(action, value);

    /// <summary>Tokens of a full history of <paramref name="maxItems"/> items: BOS, then each item's codes and, when <paramref name="actions"/>, its action token.</summary>
    /// <param name="maxItems">The most items a history holds.</param>
    /// <param name="actions">Whether each item's action token follows its codes.</param>
    /// <returns>The length <see cref="EncodeHistory(IReadOnlyList{UserEvent}, SemanticIds.SemanticIdIndex, int, bool, out int)"/> writes.</returns>
    public int HistoryTokens(int maxItems, bool actions) => 1 + (maxItems * (Positions + (actions ? 1 : 0)));

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
        return Encode(history.Select(item => (item, 0)), index, maxItems, actions: false, out unknown);
    }

    /// <summary>
    /// The tokens of a history of events: as <see cref="EncodeHistory(IEnumerable{ItemId}, SemanticIds.SemanticIdIndex, int, out int)"/>
    /// and, when <paramref name="actions"/>, each item's codes followed by its event's <see cref="ActionToken"/>
    /// (<see cref="HistoryTokens"/> tokens in all), so a model can tell a purchase from an impression, or a 5-star
    /// rating from a 1-star one. The history's last token is then its last event's action.
    /// </summary>
    /// <param name="history">The events, oldest first.</param>
    /// <param name="index">The semantic-ID index.</param>
    /// <param name="maxItems">The most items kept.</param>
    /// <param name="actions">Whether each item's action token follows its codes.</param>
    /// <param name="unknown">How many events' items the index did not know (or this vocabulary cannot write).</param>
    /// <returns>The tokens.</returns>
    public int[] EncodeHistory(IReadOnlyList<UserEvent> history, SemanticIds.SemanticIdIndex index, int maxItems, bool actions, out int unknown)
    {
        ArgumentNullException.ThrowIfNull(history);
        return Encode(history.Select(e => (e.Item, actions ? ActionToken(e.Action, e.Value) : 0)), index, maxItems, actions, out unknown);
    }

    private int[] Encode(IEnumerable<(ItemId Item, int Action)> history, SemanticIds.SemanticIdIndex index, int maxItems, bool actions, out int unknown)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxItems);
        var known = new List<(SemanticIds.SemanticId Id, int Action)>();
        unknown = 0;
        foreach (var (item, action) in history)
        {
            if (index.TryGetSemanticId(item, out var id) && Writes(id))
            {
                known.Add((id, action));
            }
            else
            {
                unknown++;
            }
        }

        var kept = known.Count > maxItems ? known.GetRange(known.Count - maxItems, maxItems) : known;
        var stride = Positions + (actions ? 1 : 0);
        var tokens = new int[HistoryTokens(maxItems, actions)];
        var at = tokens.Length - (kept.Count * stride) - 1;
        tokens[at++] = Bos;
        foreach (var (id, action) in kept)
        {
            for (var p = 0; p < Positions; p++)
            {
                tokens[at++] = Offset(p) + id[p];
            }

            if (actions)
            {
                tokens[at++] = action;
            }
        }

        return tokens;
    }
}
