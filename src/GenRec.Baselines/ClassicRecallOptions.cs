namespace GenRec.Baselines;

/// <summary>Options of the classical recall channels (<see cref="ClassicRecall"/>).</summary>
public sealed class ClassicRecallOptions
{
    /// <summary>
    /// Item-to-item co-occurrence counts pairs of items at most this many positions apart in a user's sequence.
    /// Default: 10. Allowed: 1 or more.
    /// </summary>
    public int CooccurrenceWindow { get; set; } = 10;

    /// <summary>How many most-similar neighbours each item keeps. Default: 200. Allowed: 1 or more.</summary>
    public int NeighboursPerItem { get; set; } = 200;

    /// <summary>
    /// Weight of a pair where the neighbour comes before the item, relative to after it (1 = symmetric).
    /// Default: 0.5. Allowed: [0, 1].
    /// </summary>
    public double BackwardWeight { get; set; } = 0.5;

    /// <summary>How many of the user's most recent items item-to-item recall starts from. Default: 30. Allowed: 1 or more.</summary>
    public int RecentItems { get; set; } = 30;

    /// <summary>Geometric decay per step back in the history for item-to-item and genre scores. Default: 0.9. Allowed: (0, 1].</summary>
    public double RecencyDecay { get; set; } = 0.9;

    /// <summary>
    /// Recent popularity counts the last this many interactions (of all users) before the request time, so the
    /// window adapts to traffic. Default: 2000. Allowed: 1 or more.
    /// </summary>
    public int RecentWindowEvents { get; set; } = 2000;

    internal void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok)
            {
                throw new ArgumentOutOfRangeException(message, message);
            }
        }

        Require(CooccurrenceWindow >= 1, $"{nameof(CooccurrenceWindow)} is {CooccurrenceWindow}; it must be 1 or more.");
        Require(NeighboursPerItem >= 1, $"{nameof(NeighboursPerItem)} is {NeighboursPerItem}; it must be 1 or more.");
        Require(BackwardWeight is >= 0 and <= 1, $"{nameof(BackwardWeight)} is {BackwardWeight}; it must lie in [0, 1].");
        Require(RecentItems >= 1, $"{nameof(RecentItems)} is {RecentItems}; it must be 1 or more.");
        Require(RecencyDecay is > 0 and <= 1, $"{nameof(RecencyDecay)} is {RecencyDecay}; it must lie in (0, 1].");
        Require(RecentWindowEvents >= 1, $"{nameof(RecentWindowEvents)} is {RecentWindowEvents}; it must be 1 or more.");
    }
}
