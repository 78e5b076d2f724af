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
    /// <param name="after">
    /// How many of the main channel's items come before the first reserved one (0: interleaved from the top). Default: 0.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">The share is outside [0, 1), or <paramref name="after"/> is negative.</exception>
    public ReservedShareRecall(string name, IRecallStage main, IRecallStage reserved, double share, int after = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(after);
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
        After = after;
    }

    /// <summary>How many of the main channel's items come before the first reserved one.</summary>
    public int After { get; }

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
    public async ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var slots = ReservedSlots(count);
        if (slots == 0)
        {
            return await _main.RecallAsync(request, count, cancellationToken).ConfigureAwait(false);
        }

        var main = _main.RecallAsync(request, count - slots, cancellationToken).AsTask();
        var reserved = _reserved.RecallAsync(request, slots, cancellationToken).AsTask();
        var (first, second) = (await main.ConfigureAwait(false), await reserved.ConfigureAwait(false));

        // The main channel's first After items, then both interleaved by rank (main first); excluded and repeated items skipped.
        return CompositeRecall.Interleave(request, [first, second], count, After);
    }
}
