using GenRec.Generative;
using GenRec.Inference;
using GenRec.TestSupport;

namespace GenRec.Orleans.Tests;

/// <summary>What the grains must answer, computed in this process from the same model files.</summary>
public static class InProcess
{
    /// <summary>The items the test model generates from <paramref name="history"/> (history excluded), best first.</summary>
    public static long[] Generated(IReadOnlyList<BehaviourEvent> history, int beams, int count)
    {
        var files = ModelFiles.Value;
        using var model = ModelFiles.Load(files.ModelPath);
        var tokens = model.Vocabulary.EncodeHistory(history.Select(e => new ItemId(e.Item)), files.Index, model.MaxHistoryItems, out _);
        var excluded = history.Select(e => files.Index[new ItemId(e.Item)]);
        return [.. model.Decode([new GenerativeDecodeRequest(tokens, new BeamSearchState(files.Index.Trie, files.Index.Length, beams, excluded))])[0]
            .Take(count).Select(d => files.Index[d.Id].Value)];
    }
}
