namespace GenRec.Models;

/// <summary>
/// The ONNX graphs an HSTU ranker is served as, and how a history becomes their tokens. Dimensions: B requests,
/// L = 2 × history events (interleaved item and action tokens, left-padded to the longest history of a batch; at most
/// 2 × <see cref="HstuOnnxManifest.MaxHistory"/>, exactly that in format 1), M candidates per request, Y layers,
/// H heads, D head width, d model width, F cross features, P tokens already encoded, T tokens appended.
/// </summary>
/// <remarks>
/// <para>Nothing in the model depends on a token's absolute place (the position bias depends on the distance between
/// two tokens, the time bias on the gap between their times, padding is never attended), so a history encodes the same
/// with any amount of left padding, and a causal model's keys and values for a history do not change when events are
/// appended after it: format 2 graphs take any L up to the window, and the extend graph computes only the appended
/// tokens' keys and values.</para>
/// <para><b>history graph</b> (<see cref="HistoryFile"/>): reads each history once.</para>
/// <list type="bullet">
/// <item><c>token_items</c> int64 [B, L]: item rows at item tokens, 0 at action tokens and padding (<see cref="EncodeHistory"/>).</item>
/// <item><c>token_actions</c> int64 [B, L]: action tokens at action tokens, 0 elsewhere.</item>
/// <item><c>token_times</c> int64 [B, L]: event times in seconds (any epoch; only differences matter).</item>
/// <item>→ <c>history_keys</c>, <c>history_values</c> float32 [Y, B, H, L, D]: every layer's keys and values.</item>
/// <item>→ <c>last_state</c> float32 [B, d]: the last token's output (it predicts the next item).</item>
/// </list>
/// <para><b>candidates graph</b> (<see cref="CandidatesFile"/>): any number of candidate micro-batches per history.</para>
/// <list type="bullet">
/// <item><c>history_keys</c>, <c>history_values</c>, <c>last_state</c>: the history graph's outputs, unchanged.</item>
/// <item><c>token_times</c> int64 [B, L] as above; <c>token_mask</c> float32 [B, L]: 1 for a real token, 0 for padding.</item>
/// <item><c>candidates</c> int64 [B, M]: item rows; <c>request_time</c> int64 [B]: seconds.</item>
/// <item><c>cross_features</c> float32 [B, M, F]: raw cross features, only when the manifest names some.</item>
/// <item>→ <c>scores</c> float32 [B, M, 2]: logits of "interacts" and "rates ≥ 4".</item>
/// </list>
/// <para><b>extend graph</b> (<see cref="ExtendFile"/>, format 2): events appended to an encoded history, which must
/// still fit the window (P + T ≤ 2 × <see cref="HstuOnnxManifest.MaxHistory"/>) and come no earlier than its last event.</para>
/// <list type="bullet">
/// <item><c>history_keys</c>, <c>history_values</c> [Y, B, H, P, D], <c>history_times</c> int64 [B, P],
/// <c>history_mask</c> float32 [B, P]: the encoded history as the candidates graph reads it.</item>
/// <item><c>token_items</c>, <c>token_actions</c>, <c>token_times</c> int64 [B, T]: the appended events' tokens.</item>
/// <item>→ <c>appended_keys</c>, <c>appended_values</c> float32 [Y, B, H, T, D]: the appended tokens' keys and values
/// (the history's are unchanged; concatenated after them they are the longer history's).</item>
/// <item>→ <c>last_state</c> float32 [B, d]: the last appended token's output.</item>
/// </list>
/// </remarks>
public static class HstuGraphContract
{
    /// <summary>File name of the history graph in a model folder.</summary>
    public const string HistoryFile = "history.onnx";

    /// <summary>File name of the candidates graph in a model folder.</summary>
    public const string CandidatesFile = "candidates.onnx";

    /// <summary>File name of the extend graph in a model folder (format 2).</summary>
    public const string ExtendFile = "extend.onnx";

    /// <summary>File name of the manifest in a model folder.</summary>
    public const string ManifestFile = "manifest.json";

    /// <summary>History graph input: item rows.</summary>
    public const string TokenItems = "token_items";

    /// <summary>History graph input: action tokens.</summary>
    public const string TokenActions = "token_actions";

    /// <summary>Input of both graphs: token times.</summary>
    public const string TokenTimes = "token_times";

    /// <summary>Candidates graph input: real-token mask.</summary>
    public const string TokenMask = "token_mask";

    /// <summary>History graph output, candidates graph input: keys per layer.</summary>
    public const string HistoryKeys = "history_keys";

    /// <summary>History graph output, candidates graph input: values per layer.</summary>
    public const string HistoryValues = "history_values";

    /// <summary>History graph output, candidates graph input: the last token's output.</summary>
    public const string LastState = "last_state";

    /// <summary>Extend graph input: the encoded history's token times.</summary>
    public const string HistoryTimes = "history_times";

    /// <summary>Extend graph input: the encoded history's real-token mask.</summary>
    public const string HistoryMask = "history_mask";

    /// <summary>Extend graph output: the appended tokens' keys per layer.</summary>
    public const string AppendedKeys = "appended_keys";

    /// <summary>Extend graph output: the appended tokens' values per layer.</summary>
    public const string AppendedValues = "appended_values";

    /// <summary>Candidates graph input: item rows of the candidates.</summary>
    public const string Candidates = "candidates";

    /// <summary>Candidates graph input: the request time.</summary>
    public const string RequestTime = "request_time";

    /// <summary>Candidates graph input: raw cross features.</summary>
    public const string CrossFeatures = "cross_features";

    /// <summary>Candidates graph output: logits.</summary>
    public const string Scores = "scores";

    /// <summary>Action tokens: 0 padding, 1–10 ratings in half stars, 11–18 an unrated event by <see cref="ActionType"/>, 19 "candidate".</summary>
    public const int Actions = 20;

    /// <summary>The action token of a candidate, whose action the model predicts.</summary>
    public const int CandidateAction = 19;

    /// <summary>The action token of an event: its rating in half stars when it has one, else its action type.</summary>
    /// <param name="action">The event's action.</param>
    /// <param name="rating">Its rating (0.5–5), or <see langword="null"/>/NaN.</param>
    /// <returns>A token in [1, 18].</returns>
    public static int ActionOf(ActionType action, float? rating) =>
        rating is { } r && float.IsFinite(r) ? 1 + Math.Clamp((int)Math.Round(r * 2) - 1, 0, 9) : 11 + Math.Clamp((int)action, 0, 7);

    /// <summary>Checks that a model reading <paramref name="expected"/> cross features gets a source of exactly those.</summary>
    /// <param name="expected">The feature names the model was trained on (empty: it reads none, and any source is ignored).</param>
    /// <param name="features">The source given.</param>
    /// <exception cref="ArgumentException">The source is missing, or its names are not the expected ones in that order.</exception>
    public static void EnsureFeatures(IReadOnlyList<string> expected, ICandidateFeatures? features)
    {
        ArgumentNullException.ThrowIfNull(expected);
        if (expected.Count == 0)
        {
            return;
        }

        if (features is null)
        {
            throw new ArgumentException($"This HSTU model reads {expected.Count} cross features ({string.Join(", ", expected)}); pass the cascade's ICandidateFeatures.", nameof(features));
        }

        if (!features.Names.SequenceEqual(expected))
        {
            throw new ArgumentException($"The cross features given ({string.Join(", ", features.Names)}) are not the ones the model was trained on ({string.Join(", ", expected)}).", nameof(features));
        }
    }

    /// <summary>
    /// Writes the last <paramref name="maxEvents"/> events of a history whose items have a row, in time order (stable
    /// for equal times), as left-padded interleaved tokens into spans of 2 × <paramref name="maxEvents"/>.
    /// </summary>
    /// <param name="history">The history; events of unknown items are skipped, out-of-order events are put in order.</param>
    /// <param name="maxEvents">Events kept.</param>
    /// <param name="row">Item row, or 0 for an item the model does not know.</param>
    /// <param name="items">Receives item rows.</param>
    /// <param name="actions">Receives action tokens.</param>
    /// <param name="times">Receives times (seconds).</param>
    /// <returns>The number of events written.</returns>
    public static int EncodeHistory(IReadOnlyList<UserEvent> history, int maxEvents, Func<ItemId, long> row, Span<long> items, Span<long> actions, Span<long> times)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(row);
        var length = 2 * maxEvents;
        if (items.Length < length || actions.Length < length || times.Length < length)
        {
            throw new ArgumentException($"Token spans must hold {length} values.");
        }

        items[..length].Clear();
        actions[..length].Clear();
        times[..length].Clear();
        var known = new List<(UserEvent Event, long Row, int Order)>(Math.Min(history.Count, 4 * maxEvents));
        var ordered = true;
        for (var i = 0; i < history.Count; i++)
        {
            var e = history[i] ?? throw new ArgumentException($"History event {i} is null.", nameof(history));
            var r = row(e.Item);
            if (r > 0)
            {
                ordered &= known.Count == 0 || known[^1].Event.Timestamp <= e.Timestamp;
                known.Add((e, r, i));
            }
        }

        if (!ordered)
        {
            known.Sort((a, b) => a.Event.Timestamp != b.Event.Timestamp ? a.Event.Timestamp.CompareTo(b.Event.Timestamp) : a.Order.CompareTo(b.Order));
        }

        var take = Math.Min(maxEvents, known.Count);
        var at = length - (2 * take);
        foreach (var (e, r, _) in known.Skip(known.Count - take))
        {
            var seconds = e.Timestamp.ToUnixTimeSeconds();
            items[at] = r;
            times[at] = seconds;
            actions[at + 1] = ActionOf(e.Action, e.Value);
            times[at + 1] = seconds;
            at += 2;
        }

        return take;
    }
}
