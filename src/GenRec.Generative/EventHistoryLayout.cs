using GenRec.SemanticIds;

namespace GenRec.Generative;

/// <summary>
/// How an end-to-end generative model reads a history (OneRec V2, MTGR): one slot per event, each holding the
/// item's row in the model's own item-ID table (0 for an item the model has no row for, e.g. one added after
/// training: it is then read by its semantic ID alone), its semantic-ID tokens (as <see cref="SemanticIdVocabulary"/>
/// numbers them), an action token (the action and its value) and an age token (how long before the history's last
/// event it happened, in log₂ seconds). Slots are right-aligned and left-padded with zeros, <see cref="Fields"/>
/// integers each; at most <c>maxItems</c> slots. The same layout feeds training, TorchSharp serving and ONNX Runtime.
/// </summary>
public sealed class EventHistoryLayout
{
    /// <summary>Action tokens: 0 is padding, then 11 value buckets (none, then half-steps 0.5 … 5) for each <see cref="ActionType"/>.</summary>
    public const int ActionTokens = 1 + (ValueBuckets * ActionKinds);

    /// <summary>Age tokens: 0 is padding, 1 is "the last event itself" (0 s), then ⌊log₂ seconds⌋ + 2, capped.</summary>
    public const int AgeTokens = 40;

    private const int ValueBuckets = 11;
    private const int ActionKinds = 8;

    /// <summary>Creates the layout of a vocabulary and a history length.</summary>
    /// <param name="vocabulary">The model's semantic-ID vocabulary.</param>
    /// <param name="maxItems">The most events a history holds. Allowed: 1 or more.</param>
    public EventHistoryLayout(SemanticIdVocabulary vocabulary, int maxItems)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxItems);
        Vocabulary = vocabulary;
        MaxItems = maxItems;
    }

    /// <summary>The vocabulary the semantic-ID fields use.</summary>
    public SemanticIdVocabulary Vocabulary { get; }

    /// <summary>The most events a history holds.</summary>
    public int MaxItems { get; }

    /// <summary>Integers per event: row, one per semantic-ID position, action, age.</summary>
    public int Fields => 3 + Vocabulary.Positions;

    /// <summary>Integers per history: <see cref="MaxItems"/> × <see cref="Fields"/>.</summary>
    public int Length => MaxItems * Fields;

    /// <summary>Field of the item row in a slot.</summary>
    public static int RowField => 0;

    /// <summary>Field of the first semantic-ID token in a slot.</summary>
    public static int CodeField => 1;

    /// <summary>Field of the action token in a slot.</summary>
    public int ActionField => 1 + Vocabulary.Positions;

    /// <summary>Field of the age token in a slot.</summary>
    public int AgeField => 2 + Vocabulary.Positions;

    /// <summary>The token of an action and its value (a rating is bucketed by half-steps, other values are ignored).</summary>
    /// <param name="action">The action.</param>
    /// <param name="value">Its value, if any; NaN counts as none.</param>
    /// <returns>A token in [1, <see cref="ActionTokens"/>).</returns>
    public static int ActionToken(ActionType action, float? value)
    {
        var kind = (int)action is >= 0 and < ActionKinds ? (int)action : (int)ActionType.View;
        var bucket = action == ActionType.Rate && value is { } v && float.IsFinite(v) ? 1 + Math.Clamp((int)MathF.Round(v * 2) - 1, 0, ValueBuckets - 2) : 0;
        return 1 + (kind * ValueBuckets) + bucket;
    }

    /// <summary>The token of an event's age before the history's last event (negative ages, out-of-order events, count as 0).</summary>
    /// <param name="seconds">Seconds between the event and the last event.</param>
    /// <returns>A token in [1, <see cref="AgeTokens"/>).</returns>
    public static int AgeToken(long seconds) => seconds <= 0 ? 1 : Math.Min(AgeTokens - 1, 2 + (int)Math.Log2(seconds));

    /// <summary>
    /// Writes events into a history of <see cref="Length"/> integers. Every event must be readable (see
    /// <see cref="Encode"/>, which filters); only the last <see cref="MaxItems"/> are kept.
    /// </summary>
    /// <param name="ids">The events' semantic IDs, oldest first.</param>
    /// <param name="rows">Their rows in the model's item table (0: none).</param>
    /// <param name="actions">Their action tokens (<see cref="ActionToken"/>).</param>
    /// <param name="times">Their times in seconds.</param>
    /// <param name="history">The destination, <see cref="Length"/> long; it is cleared first.</param>
    public void Write(ReadOnlySpan<SemanticId> ids, ReadOnlySpan<int> rows, ReadOnlySpan<int> actions, ReadOnlySpan<long> times, Span<long> history)
    {
        if (history.Length != Length || rows.Length != ids.Length || actions.Length != ids.Length || times.Length != ids.Length)
        {
            throw new ArgumentException($"A history of {Length} integers and as many rows, actions and times as ids ({ids.Length}) are needed.", nameof(history));
        }

        history.Clear();
        var count = Math.Min(ids.Length, MaxItems);
        var first = ids.Length - count;
        var last = count > 0 ? times[^1] : 0;
        var fields = Fields;
        for (var i = 0; i < count; i++)
        {
            var e = first + i;
            var slot = history.Slice((MaxItems - count + i) * fields, fields);
            slot[RowField] = rows[e];
            for (var p = 0; p < Vocabulary.Positions; p++)
            {
                slot[CodeField + p] = Vocabulary.Offset(p) + ids[e][p];
            }

            slot[ActionField] = actions[e];
            slot[AgeField] = AgeToken(last - times[e]);
        }
    }

    /// <summary>
    /// Checks a history before a model reads it: whole events, at most <see cref="MaxItems"/>, each either padding
    /// (all zero) or a row below <paramref name="rows"/>, semantic-ID tokens of their positions, and action and age
    /// tokens in range.
    /// </summary>
    /// <param name="history">The history (its left padding may be trimmed by whole events).</param>
    /// <param name="rows">Rows of the model's item-ID table, row 0 included.</param>
    /// <exception cref="ArgumentException">It is not such a history; the message names the event and the field.</exception>
    public void Check(ReadOnlySpan<int> history, int rows)
    {
        var fields = Fields;
        if (history.Length % fields != 0 || history.Length > Length)
        {
            throw new ArgumentException($"An event history holds whole events of {fields} integers, at most {MaxItems} of them ({Length} integers); {history.Length} were given (encode it with the model's EncodeHistory).", nameof(history));
        }

        for (var e = 0; e < history.Length / fields; e++)
        {
            var slot = history.Slice(e * fields, fields);
            if (!slot.ContainsAnyExcept(0))
            {
                continue;
            }

            string? bad = (uint)slot[RowField] >= (uint)rows ? $"row {slot[RowField]} (the table has {rows})"
                : (uint)slot[ActionField] - 1 >= ActionTokens - 1 ? $"action token {slot[ActionField]}"
                : (uint)slot[AgeField] - 1 >= AgeTokens - 1 ? $"age token {slot[AgeField]}"
                : null;
            for (var p = 0; p < Vocabulary.Positions && bad is null; p++)
            {
                if ((uint)(slot[CodeField + p] - Vocabulary.Offset(p)) >= (uint)Vocabulary.Sizes[p])
                {
                    bad = $"semantic-ID token {slot[CodeField + p]} at position {p}";
                }
            }

            if (bad is not null)
            {
                throw new ArgumentException($"Event {e} of the history holds {bad}, outside what the model reads.", nameof(history));
            }
        }
    }

    /// <summary>
    /// The history of a user's events. Events whose item the index does not know, or whose semantic ID the
    /// vocabulary cannot write, are skipped and counted; the rest keep their order (the history's, oldest first).
    /// </summary>
    /// <param name="history">The events, oldest first.</param>
    /// <param name="index">The semantic-ID index.</param>
    /// <param name="row">The model's row of an item; 0 when it has none.</param>
    /// <param name="unknown">How many events were skipped.</param>
    /// <returns>The history, <see cref="Length"/> integers.</returns>
    public int[] Encode(IReadOnlyList<UserEvent> history, SemanticIdIndex index, Func<ItemId, int> row, out int unknown)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(row);
        var ids = new List<SemanticId>(Math.Min(history.Count, MaxItems));
        var rows = new List<int>();
        var actions = new List<int>();
        var times = new List<long>();
        unknown = 0;
        foreach (var e in history)
        {
            if (index.TryGetSemanticId(e.Item, out var id) && Vocabulary.Writes(id))
            {
                ids.Add(id);
                rows.Add(row(e.Item));
                actions.Add(ActionToken(e.Action, e.Value));
                times.Add(e.Timestamp.ToUnixTimeSeconds());
            }
            else
            {
                unknown++;
            }
        }

        var written = new long[Length];
        Write(ids.ToArray(), rows.ToArray(), actions.ToArray(), times.ToArray(), written);
        return Array.ConvertAll(written, v => (int)v);
    }
}
