namespace GenRec.Generative;

/// <summary>
/// A generative model that decodes the next item's semantic ID code by code: what the beam search drives. The
/// TorchSharp model implements it for training-time evaluation; the ONNX Runtime runner implements it for serving.
/// </summary>
public interface IGenerativeDecoder
{
    /// <summary>The fingerprint of the semantic-ID index the model was trained on (<see cref="SemanticIds.SemanticIdIndex.Fingerprint"/>).</summary>
    string IndexFingerprint { get; }

    /// <summary>The vocabulary the model reads and writes.</summary>
    SemanticIdVocabulary Vocabulary { get; }

    /// <summary>The most history items the model reads (older ones are dropped).</summary>
    int MaxHistoryItems { get; }

    /// <summary>
    /// A user's history as this model reads it: by default the semantic-ID tokens of the events' items
    /// (<see cref="SemanticIdVocabulary.EncodeHistory(IReadOnlyList{UserEvent}, SemanticIds.SemanticIdIndex, int, bool, out int)"/>); an end-to-end model also reads item rows, actions and times
    /// (<see cref="EventHistoryLayout"/>). Events whose item the index does not know are skipped.
    /// </summary>
    /// <param name="history">The events, oldest first.</param>
    /// <param name="index">The semantic-ID index the model serves.</param>
    /// <returns>What <see cref="Start"/> reads.</returns>
    int[] EncodeHistory(IReadOnlyList<UserEvent> history, SemanticIds.SemanticIdIndex index) =>
        Vocabulary.EncodeHistory(history.Select(e => e.Item), index, MaxHistoryItems, out _);

    /// <summary>Reads a history once and returns a session that scores continuations of it.</summary>
    /// <param name="historyTokens">The history, as <see cref="EncodeHistory"/> produces it.</param>
    /// <returns>A session; dispose it when the search is done.</returns>
    IDecodingSession Start(ReadOnlySpan<int> historyTokens);
}

/// <summary>One history being decoded: scores the next code of many beams at once, reusing the history's state.</summary>
public interface IDecodingSession : IDisposable
{
    /// <summary>
    /// Log-probabilities of the code at position <c>s</c> for each of <paramref name="beams"/> (each holding the
    /// <c>s</c> codes generated so far; all the same length).
    /// </summary>
    /// <param name="beams">The beams' codes so far; for the first position, one empty beam.</param>
    /// <returns>Row-major beams × codes-at-position-s log-probabilities.</returns>
    float[] NextLogProbabilities(IReadOnlyList<int[]> beams);
}
