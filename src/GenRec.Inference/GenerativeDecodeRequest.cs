using GenRec.Generative;

namespace GenRec.Inference;

/// <summary>One request of a batched decode: a history (or its cached context) and the beam search that decodes it.</summary>
public sealed class GenerativeDecodeRequest
{
    /// <summary>A request over a history.</summary>
    /// <param name="historyTokens">The history as <see cref="OnnxGenerativeModel.EncodeHistory"/> writes it.</param>
    /// <param name="search">The search (trie, beam width, excluded items); advanced in place.</param>
    public GenerativeDecodeRequest(int[] historyTokens, BeamSearchState search)
    {
        ArgumentNullException.ThrowIfNull(historyTokens);
        ArgumentNullException.ThrowIfNull(search);
        HistoryTokens = historyTokens;
        Search = search;
    }

    /// <summary>A request over a history read earlier (<see cref="OnnxGenerativeModel.Encode"/>): the context graph is not run again.</summary>
    /// <param name="context">The cached context.</param>
    /// <param name="search">The search; advanced in place.</param>
    public GenerativeDecodeRequest(GenerativeContext context, BeamSearchState search)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(search);
        Context = context;
        Search = search;
    }

    /// <summary>The history, when the request has no cached context.</summary>
    public int[]? HistoryTokens { get; }

    /// <summary>The cached context, when the request has one.</summary>
    public GenerativeContext? Context { get; }

    /// <summary>The search.</summary>
    public BeamSearchState Search { get; }
}
