namespace GenRec.Data;

/// <summary>
/// A split for measuring cold start: a seeded share of the catalogue becomes "cold", and every interaction with a
/// cold item is removed except where that item is a user's test target (the canonical leave-one-out test target).
/// Those targets therefore appear in neither the train part nor any validation target: a model meets the item for
/// the first time at test, as it would meet an item registered after training. The catalogue keeps every item
/// record, so a cold item can be ranked (from its content) but has no interaction to learn from.
/// </summary>
public sealed class ColdStartSplit
{
    private ColdStartSplit(DataSplit split, IReadOnlySet<ItemId> coldItems, IReadOnlySet<UserId> coldTargetUsers, double fraction, int seed)
    {
        Split = split;
        ColdItems = coldItems;
        ColdTargetUsers = coldTargetUsers;
        Fraction = fraction;
        Seed = seed;
    }

    /// <summary>The split: leave-one-out on what remains, each user's test target unchanged.</summary>
    public DataSplit Split { get; }

    /// <summary>The items chosen to be cold.</summary>
    public IReadOnlySet<ItemId> ColdItems { get; }

    /// <summary>The users whose test target is a cold item: the users the cold-start figures are about.</summary>
    public IReadOnlySet<UserId> ColdTargetUsers { get; }

    /// <summary>The share of the catalogue made cold.</summary>
    public double Fraction { get; }

    /// <summary>The seed that chose the cold items.</summary>
    public int Seed { get; }

    /// <summary>
    /// The cold-start split to choose a cold-start design's settings on, without reading any test target: each user's
    /// canonical test target is dropped first, then the split is made as <see cref="Create"/> makes it (cold items chosen
    /// with <paramref name="seed"/> + 1) from what remains. Its held-out targets are therefore the canonical validation
    /// targets, those of cold items unseen in its train part, at about the rate of the real split.
    /// </summary>
    /// <param name="dataset">The interactions and the catalogue.</param>
    /// <param name="fraction">The share of the catalogue made cold, in (0, 1).</param>
    /// <param name="seed">The seed of the real split (this one uses <paramref name="seed"/> + 1).</param>
    /// <param name="targetActions">
    /// The actions a held-out target can have (the canonical targets of
    /// <see cref="LeaveOneOutSplit.Create(InteractionDataset, IReadOnlySet{ActionType})"/>); <see langword="null"/>: every action.
    /// </param>
    /// <returns>The split; <see cref="Seed"/> is the seed it used.</returns>
    /// <exception cref="ArgumentException"><paramref name="targetActions"/> is empty.</exception>
    public static ColdStartSplit CreateForTuning(InteractionDataset dataset, double fraction, int seed = 42, IReadOnlySet<ActionType>? targetActions = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        CheckTargets(targetActions);
        var withoutTest = LeaveOneOutSplit.ToArrays(dataset.UserSequences())
            .SelectMany(s => CanonicalTest(s.Interactions, targetActions) is { } test ? s.Interactions.Where((_, at) => at != test) : s.Interactions)
            .OrderBy(i => i.Row)
            .ToArray();
        return Create(new InteractionDataset(withoutTest, dataset.Items.Values), fraction, seed + 1, targetActions);
    }

    /// <summary>
    /// Builds the cold-start split of a dataset. With <paramref name="targetActions"/> (a multi-behaviour log evaluated on
    /// some actions, as <see cref="LeaveOneOutSplit.Create(InteractionDataset, IReadOnlySet{ActionType})"/>) each user's
    /// test target is that split's, and the validation target the last event of a target action left before it (with at
    /// least one event before it); every event before a target, of any action, is its history.
    /// </summary>
    /// <param name="dataset">The dataset.</param>
    /// <param name="fraction">The share of the catalogue to make cold; in (0, 1).</param>
    /// <param name="seed">Chooses the cold items (a seeded shuffle of the catalogue, ascending by id first).</param>
    /// <param name="targetActions">The actions a held-out target can have; <see langword="null"/>: every action.</param>
    /// <returns>The split, the cold items and the users whose test target is cold.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fraction"/> is not in (0, 1).</exception>
    /// <exception cref="ArgumentException"><paramref name="targetActions"/> is empty.</exception>
    /// <remarks>
    /// Per user, the interactions left are ordered as in <see cref="LeaveOneOutSplit"/>; the test target is always the
    /// original one (only other interactions are removed), the last target event before it the validation target, the
    /// rest before that train. A user left with two interactions keeps one in train and the test target; with one, only
    /// the test target (an empty history). No cold item is ever a train interaction or a validation target.
    /// </remarks>
    public static ColdStartSplit Create(InteractionDataset dataset, double fraction, int seed = 42, IReadOnlySet<ActionType>? targetActions = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        CheckTargets(targetActions);
        if (double.IsNaN(fraction) || fraction <= 0 || fraction >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "The cold share of the catalogue must be in (0, 1).");
        }

        var catalogue = dataset.Catalogue.ToArray();
        new Random(seed).Shuffle(catalogue);
        var cold = catalogue.Take((int)Math.Round(fraction * catalogue.Length)).ToHashSet();

        // The canonical test target of each user: the last interaction in chronological order.
        var sequences = LeaveOneOutSplit.ToArrays(dataset.UserSequences());
        var kept = new List<UserSequence>(sequences.Length);
        var train = new Dictionary<UserId, int>();
        var valid = new Dictionary<UserId, int>();
        var test = new Dictionary<UserId, int>();
        var coldUsers = new HashSet<UserId>();
        foreach (var s in sequences)
        {
            var all = s.Interactions;
            var canonicalTest = CanonicalTest(all, targetActions);
            var remaining = all.Where((i, at) => !cold.Contains(i.Item) || at == canonicalTest).ToArray();
            if (remaining.Length == 0)
            {
                continue;
            }

            kept.Add(new UserSequence(s.User, remaining));
            var n = remaining.Length;
            if (canonicalTest is null)
            {
                train[s.User] = n;
                continue;
            }

            // The test target keeps its place among what is left; the validation target is the last target event before it.
            var testAt = Array.FindIndex(remaining, i => i.Row == all[canonicalTest.Value].Row);
            test[s.User] = testAt;
            if (cold.Contains(remaining[testAt].Item))
            {
                coldUsers.Add(s.User);
            }

            var validAt = testAt < 1 ? -1 : Array.FindLastIndex(remaining, testAt - 1, testAt, i => targetActions is null || targetActions.Contains(i.EffectiveAction));
            if (validAt >= 1)
            {
                valid[s.User] = validAt;
                train[s.User] = validAt;
            }
            else
            {
                train[s.User] = testAt;
            }
        }

        var interactions = kept.SelectMany(s => s.Interactions).OrderBy(i => i.Row).ToArray();
        var reduced = new InteractionDataset(interactions, dataset.Items.Values);
        var on = targetActions is null ? string.Empty : $" on {string.Join(", ", targetActions.Order())}";
        var split = new DataSplit($"cold-start{on} ({fraction:0.###} of the catalogue cold, seed {seed})", reduced, kept, train, valid, test) { TargetActions = targetActions };
        return new ColdStartSplit(split, cold, coldUsers, fraction, seed);
    }

    /// <summary>
    /// A user's canonical test target (an index): with every action, the last event when there are at least three; with
    /// target actions, <see cref="LeaveOneOutSplit"/>'s. Null when the user has none.
    /// </summary>
    private static int? CanonicalTest(IReadOnlyList<Interaction> events, IReadOnlySet<ActionType>? targetActions) =>
        targetActions is null
            ? events.Count >= 3 ? events.Count - 1 : null
            : LeaveOneOutSplit.TargetIndices(events, targetActions)?.Test;

    private static void CheckTargets(IReadOnlySet<ActionType>? targetActions)
    {
        if (targetActions is { Count: 0 })
        {
            throw new ArgumentException("At least one target action is needed.", nameof(targetActions));
        }
    }
}
