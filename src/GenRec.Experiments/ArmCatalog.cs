namespace GenRec.Experiments;

/// <summary>What an arm needs beyond the training data, to be built.</summary>
[Flags]
public enum ArmNeeds
{
    /// <summary>Only the training data: the arm is trained where it is built.</summary>
    None = 0,

    /// <summary>A trained generative retrieval model and its semantic-ID index (<c>genrec train tiger</c>).</summary>
    GenerativeModel = 1,

    /// <summary>A generative model aligned to a reward (<c>genrec train align</c>).</summary>
    AlignedModel = 2,

    /// <summary>An end-to-end generative model (<c>genrec train tiger --arch end-to-end</c>).</summary>
    EndToEndModel = 4,

    /// <summary>A reward model (<c>genrec train reward</c>).</summary>
    RewardModel = 8,

    /// <summary>An Orleans cluster whose user sessions serve generative recall.</summary>
    OrleansCluster = 16,
}

/// <summary>One arm of the comparisons against the DLRM cascade.</summary>
/// <param name="Name">Its name, as the A/B harness, <c>genrec ab</c>, <c>genrec eval</c> and the quickstart spell it.</param>
/// <param name="Description">What it is, in a few words (the quickstart's "what" column).</param>
/// <param name="Needs">What it needs beyond the training data.</param>
public sealed record ArmDescription(string Name, string Description, ArmNeeds Needs);

/// <summary>
/// The arms GenRec.Sdk compares against a team's DLRM cascade, by name, in one typed place shared by the CLI
/// (<c>genrec ab --arms</c>, <c>genrec eval --model</c>), the quickstart and the documentation. The names are constants
/// so that code can switch on them; <see cref="All"/> describes each.
/// </summary>
public static class ArmCatalog
{
    /// <summary>The most popular items of the training data.</summary>
    public const string Popularity = "popularity";

    /// <summary>Item-to-item co-occurrence.</summary>
    public const string ItemCf = "itemcf";

    /// <summary>The DLRM cascade: four recall channels and a LambdaRank ranker (the control).</summary>
    public const string Dlrm = "dlrm";

    /// <summary>Generative retrieval alone, in the cascade's place.</summary>
    public const string GenerativeRecallReplace = "gen-recall-replace";

    /// <summary>Generative recall as a fifth channel of the cascade.</summary>
    public const string GenerativeRecallBlend = "gen-recall-blend";

    /// <summary>Generative recall from Orleans user sessions, blended into the cascade's recall by the recall adapter.</summary>
    public const string GenerativeBlendOrleans = "gen-blend-orleans";

    /// <summary>A reward-aligned generative model alone.</summary>
    public const string GenerativeAlignedReplace = "gen-aligned-replace";

    /// <summary>End-to-end generation in the cascade's place.</summary>
    public const string EndToEndReplace = "e2e-replace";

    /// <summary>End-to-end generation blended with the cascade's list.</summary>
    public const string EndToEndBlend = "e2e-blend";

    /// <summary>End-to-end generation re-ranked by a reward model.</summary>
    public const string EndToEndRewardRerank = "e2e-reward-rerank";

    /// <summary>The cascade with HSTU as its ranker.</summary>
    public const string HstuRank = "hstu-rank";

    /// <summary>The cascade with generative signals fused into its ranker's features.</summary>
    public const string DlrmFused = "dlrm-fused";

    /// <summary>LambdaRank and HSTU blended by the ranking adapter.</summary>
    public const string DlrmHstuBlend = "dlrm-hstu-blend";

    /// <summary>The fused cascade's LambdaRank and HSTU blended by the ranking adapter.</summary>
    public const string DlrmFusedHstuBlend = "dlrm-fused-hstu-blend";

    /// <summary>The cascade's candidates ranked by a neural DLRM.</summary>
    public const string NeuralDlrm = "neural-dlrm";

    /// <summary>Every arm, described.</summary>
    public static IReadOnlyList<ArmDescription> All { get; } =
    [
        new(Popularity, "training counts", ArmNeeds.None),
        new(ItemCf, "item-to-item co-occurrence", ArmNeeds.None),
        new(Dlrm, "4 recall channels + LambdaRank", ArmNeeds.None),
        new(GenerativeRecallReplace, "generative retrieval alone", ArmNeeds.GenerativeModel),
        new(GenerativeRecallBlend, "generative recall as a 5th channel, LambdaRank", ArmNeeds.GenerativeModel),
        new(GenerativeBlendOrleans, "Orleans sessions + ONNX, blended by the recall adapter", ArmNeeds.GenerativeModel | ArmNeeds.OrleansCluster),
        new(GenerativeAlignedReplace, "reward-aligned generative retrieval alone", ArmNeeds.AlignedModel),
        new(EndToEndReplace, "end-to-end generation in the cascade's place", ArmNeeds.EndToEndModel),
        new(EndToEndBlend, "end-to-end generation blended with the cascade's list", ArmNeeds.EndToEndModel),
        new(EndToEndRewardRerank, "end-to-end generation re-ranked by the reward model", ArmNeeds.EndToEndModel | ArmNeeds.RewardModel),
        new(HstuRank, "the cascade with HSTU as its ranker", ArmNeeds.None),
        new(DlrmFused, "generative features fused into LambdaRank", ArmNeeds.None),
        new(DlrmHstuBlend, "LambdaRank + HSTU blended by the ranking adapter", ArmNeeds.None),
        new(DlrmFusedHstuBlend, "fused LambdaRank + HSTU blended by the ranking adapter", ArmNeeds.None),
        new(NeuralDlrm, "the cascade's candidates ranked by a neural DLRM", ArmNeeds.None),
    ];

    /// <summary>The arm named <paramref name="name"/>.</summary>
    /// <param name="name">The name.</param>
    /// <returns>Its description.</returns>
    /// <exception cref="ArgumentException">No arm has that name (the message lists them).</exception>
    public static ArmDescription Get(string name) =>
        All.FirstOrDefault(a => a.Name == name) ?? throw new ArgumentException($"Unknown arm '{name}'; known arms: {string.Join(", ", All.Select(a => a.Name))}.", nameof(name));
}
