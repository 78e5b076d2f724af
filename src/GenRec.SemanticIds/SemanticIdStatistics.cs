namespace GenRec.SemanticIds;

/// <summary>How well a tokenizer turned a catalogue into semantic IDs.</summary>
/// <param name="Items">Items in the index.</param>
/// <param name="CollisionRateBefore">
/// Share of items whose level codes (before the disambiguation code) equal an earlier item's:
/// (items − distinct level tuples) / items.
/// </param>
/// <param name="CollisionRateAfter">The same over full semantic IDs; 0 when every item is told apart.</param>
/// <param name="MaxItemsPerTuple">The largest group of items sharing level codes (the disambiguation vocabulary).</param>
/// <param name="Utilization">Per level, the share of the codebook's codes that some item uses.</param>
/// <param name="Perplexity">Per level, exp(entropy) of the code distribution; the codebook size when perfectly even.</param>
/// <param name="ReconstructionMse">Mean squared error per dimension between an item's embedding and its reconstruction from its codes.</param>
public sealed record SemanticIdStatistics(
    int Items,
    double CollisionRateBefore,
    double CollisionRateAfter,
    int MaxItemsPerTuple,
    IReadOnlyList<double> Utilization,
    IReadOnlyList<double> Perplexity,
    double ReconstructionMse);
