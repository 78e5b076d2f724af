namespace GenRec.Generative;

/// <summary>
/// Runs a whole beam search for one history, for runtimes that decode many requests together (a micro-batcher over
/// an ONNX Runtime model). <see cref="GenerativeRecall"/> uses one when it is given, or its decoder when that is one; otherwise it steps a
/// <see cref="IDecodingSession"/> itself.
/// </summary>
public interface IGenerativeSearchRunner
{
    /// <summary>Advances <paramref name="search"/> to its end over <paramref name="historyTokens"/>.</summary>
    /// <param name="historyTokens">The history, as <see cref="SemanticIdVocabulary.EncodeHistory(IReadOnlyList{UserEvent}, SemanticIds.SemanticIdIndex, int, bool, out int)"/> writes it.</param>
    /// <param name="search">The search to run.</param>
    /// <param name="cancellationToken">Cancels the request (before its batch runs).</param>
    /// <returns>The decoded IDs, most probable first.</returns>
    ValueTask<IReadOnlyList<DecodedId>> SearchAsync(int[] historyTokens, BeamSearchState search, CancellationToken cancellationToken = default);
}
