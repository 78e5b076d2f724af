namespace GenRec.Cascade;

/// <summary>
/// A recall stage that reserves a share of every list for one channel and gives the rest to another, interleaved by
/// rank (as <see cref="CompositeRecall"/> with <see cref="RecallMerge.Interleave"/>). The usual use is a fresh-items
/// channel beside the main retrieval: items new since training rarely outrank warm items in one list, so they get
/// slots of their own, in proportion to the list asked for.
/// </summary>
public sealed class ReservedShareRecall : IRecallStage
{
    private readonly IRecallStage _main;
    private readonly IRecallStage _reserved;

    /// <summary>Creates the stage.</summary>
    /// <param name="name">The stage's name.</param>
    /// <param name="main">The channel that fills what is not reserved.</param>
    /// <param name="reserved">The channel with a reserved share.</param>
    /// <param name="share">
    /// Its share of a list, in [0, 1): round(count × share) slots, at least one when above 0, never the whole list. When
    /// it returns fewer, the merge does not backfill: the list can be shorter than asked.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">The share is outside [0, 1).</exception>
    public ReservedShareRecall(string name, IRecallStage main, IRecallStage reserved, double share)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(main);
        ArgumentNullException.ThrowIfNull(reserved);
        if (!(share >= 0 && share < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(share), share, "The reserved share must be in [0, 1).");
        }

        Name = name;
        _main = main;
        _reserved = reserved;
        Share = share;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The reserved channel's share of a list.</summary>
    public double Share { get; }

    /// <summary>The slots of a list of <paramref name="count"/> that go to the reserved channel.</summary>
    /// <param name="count">The list's length.</param>
    /// <returns>round(count × share), at least 1 when the share is above 0, at most count − 1.</returns>
    public int ReservedSlots(int count) =>
        Share == 0 || count < 2 ? 0 : Math.Clamp((int)Math.Round(count * Share, MidpointRounding.AwayFromZero), 1, count - 1);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var reserved = ReservedSlots(count);
        return reserved == 0
            ? _main.RecallAsync(request, count, cancellationToken)
            : new CompositeRecall(Name, [new RecallChannel(_main, count - reserved), new RecallChannel(_reserved, reserved)]).RecallAsync(request, count, cancellationToken);
    }
}
