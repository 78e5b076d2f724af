using System.Globalization;
using System.Text;

namespace GenRec.Data;

/// <summary>Which held-out part of a split an evaluation targets.</summary>
public enum SplitTarget
{
    /// <summary>The validation targets: the history is the train part.</summary>
    Valid = 0,

    /// <summary>The test targets: the history is the train part plus the validation target.</summary>
    Test = 1,
}

/// <summary>
/// One held-out case: a user, what the model may see of them, and the item they went on to interact with.
/// </summary>
/// <param name="User">The user.</param>
/// <param name="History">The interactions the model may read, oldest first. Items in it are excluded from the ranking.</param>
/// <param name="Target">The held-out interaction.</param>
public sealed record EvaluationCase(UserId User, IReadOnlyList<Interaction> History, Interaction Target)
{
    /// <summary>The history as behaviour events, oldest first.</summary>
    /// <returns>The events.</returns>
    public IReadOnlyList<UserEvent> HistoryEvents() => History.Select(h => h.ToEvent()).ToArray();
}

/// <summary>
/// A split of an interaction log into a train part (what models are fitted on) and per-user validation and
/// test targets. Create one with <see cref="LeaveOneOutSplit"/> or <see cref="TemporalSplit"/>.
/// </summary>
public sealed class DataSplit
{
    private readonly Dictionary<UserId, UserSequence> _sequences;
    private readonly Dictionary<UserId, int> _validIndex;
    private readonly Dictionary<UserId, int> _testIndex;
    private readonly Dictionary<UserId, int> _trainLength;

    internal DataSplit(
        string name,
        InteractionDataset dataset,
        IReadOnlyList<UserSequence> sequences,
        Dictionary<UserId, int> trainLength,
        Dictionary<UserId, int> validIndex,
        Dictionary<UserId, int> testIndex)
    {
        Name = name;
        Dataset = dataset;
        _sequences = sequences.ToDictionary(s => s.User);
        _trainLength = trainLength;
        _validIndex = validIndex;
        _testIndex = testIndex;
        Train = sequences
            .Where(s => trainLength.GetValueOrDefault(s.User) > 0)
            .Select(s => new UserSequence(s.User, Slice(s.Interactions, trainLength[s.User])))
            .ToArray();
        TrainInteractions = Train.SelectMany(s => s.Interactions).ToArray();
    }

    /// <summary>A short description of how the split was made.</summary>
    public string Name { get; }

    /// <summary>
    /// The actions a held-out target can have (<see cref="LeaveOneOutSplit.Create(InteractionDataset, IReadOnlySet{ActionType})"/>);
    /// <see langword="null"/> when any event can be one. Trainers that learn from pseudo-targets of the train part
    /// (<c>DlrmCascadeTrainer</c>) take theirs among these actions too, and lists leave out only the items a user had
    /// these actions on.
    /// </summary>
    public IReadOnlySet<ActionType>? TargetActions { get; internal init; }

    /// <summary>
    /// The actions models read as context (<see cref="WithContext"/>): the train part and every case's history hold
    /// only events of these actions (and earlier targets); <see langword="null"/> when they hold every event.
    /// </summary>
    public IReadOnlySet<ActionType>? ContextActions { get; internal init; }

    /// <summary>The dataset the split was made from; its catalogue is the ranking catalogue.</summary>
    public InteractionDataset Dataset { get; }

    /// <summary>The train part, one sequence per user (users with no train interaction left out), ascending by user.</summary>
    public IReadOnlyList<UserSequence> Train { get; }

    /// <summary>Every train interaction, grouped by user, each user's in chronological order.</summary>
    public IReadOnlyList<Interaction> TrainInteractions { get; }

    /// <summary>The users that have a target for <paramref name="target"/>, ascending.</summary>
    /// <param name="target">Validation or test.</param>
    /// <returns>The users.</returns>
    public IReadOnlyList<UserId> UsersWithTarget(SplitTarget target) => Targets(target).Keys.Order().ToArray();

    /// <summary>
    /// The held-out cases of <paramref name="target"/>, ascending by user. For <see cref="SplitTarget.Valid"/>
    /// the history is what precedes the validation target; for <see cref="SplitTarget.Test"/>, what precedes the
    /// test target (the train part and the validation target).
    /// </summary>
    /// <param name="target">Validation or test.</param>
    /// <returns>One case per user with a target.</returns>
    public IReadOnlyList<EvaluationCase> Cases(SplitTarget target)
    {
        var cases = new List<EvaluationCase>();
        foreach (var (user, index) in Targets(target).OrderBy(p => p.Key))
        {
            var sequence = _sequences[user].Interactions;
            cases.Add(new EvaluationCase(user, Slice(sequence, index), sequence[index]));
        }

        return cases;
    }

    /// <summary>The held-out case of one user.</summary>
    /// <param name="user">The user.</param>
    /// <param name="target">Validation or test.</param>
    /// <returns>The case.</returns>
    /// <exception cref="KeyNotFoundException">The user has no target of that kind in this split.</exception>
    public EvaluationCase Case(UserId user, SplitTarget target)
    {
        if (!Targets(target).TryGetValue(user, out var index))
        {
            throw new KeyNotFoundException($"User {user} has no {target.ToString().ToLowerInvariant()} target in this split.");
        }

        var sequence = _sequences[user].Interactions;
        return new EvaluationCase(user, Slice(sequence, index), sequence[index]);
    }

    /// <summary>
    /// The same targets with only events of <paramref name="contextActions"/> as context ("learn from clicks, evaluate
    /// on purchases"): the train part every trainer fits on, and every case's history, keep the events of those actions
    /// (and the validation target, which a test case's history holds whatever its action); the targets do not change,
    /// so figures on both splits are paired. Impressions, for instance, are left out of what the models read.
    /// </summary>
    /// <param name="contextActions">The actions kept (<see cref="Interaction.EffectiveAction"/>); at least one.</param>
    /// <returns>The split with the shorter sequences.</returns>
    /// <exception cref="ArgumentException"><paramref name="contextActions"/> is empty.</exception>
    public DataSplit WithContext(IReadOnlySet<ActionType> contextActions)
    {
        ArgumentNullException.ThrowIfNull(contextActions);
        if (contextActions.Count == 0)
        {
            throw new ArgumentException("At least one context action is needed.", nameof(contextActions));
        }

        var sequences = new List<UserSequence>(_sequences.Count);
        var (train, valid, test) = (new Dictionary<UserId, int>(), new Dictionary<UserId, int>(), new Dictionary<UserId, int>());
        foreach (var s in _sequences.Values.OrderBy(s => s.User))
        {
            var events = s.Interactions;
            var trainLength = _trainLength.GetValueOrDefault(s.User);
            var validAt = _validIndex.GetValueOrDefault(s.User, -1);
            var testAt = _testIndex.GetValueOrDefault(s.User, -1);
            var kept = new List<Interaction>(events.Count);
            for (var i = 0; i < events.Count; i++)
            {
                if (i == trainLength)
                {
                    train[s.User] = kept.Count;
                }

                if (i == validAt)
                {
                    valid[s.User] = kept.Count;
                }

                if (i == testAt)
                {
                    test[s.User] = kept.Count;
                }

                if (i == validAt || i == testAt || contextActions.Contains(events[i].EffectiveAction))
                {
                    kept.Add(events[i]);
                }
            }

            train.TryAdd(s.User, kept.Count);
            sequences.Add(new UserSequence(s.User, kept.ToArray()));
        }

        return new DataSplit($"{Name}, context {string.Join(", ", contextActions.Order())}", Dataset, sequences, train, valid, test)
        {
            TargetActions = TargetActions,
            ContextActions = contextActions,
        };
    }

    /// <summary>
    /// The same split with each user's last <paramref name="perUser"/> train interactions held out of the train part
    /// (users with no more train interactions than that keep theirs); the validation and test targets, and the
    /// histories their cases show, are unchanged. A ranker that learns from each user's last train interactions as
    /// pseudo-targets (<c>DlrmCascadeTrainer</c>) reads features of models fitted on this split, so no model behind
    /// a feature has seen the interaction a training query asks about.
    /// </summary>
    /// <param name="perUser">Train interactions held out per user; 1 or more.</param>
    /// <returns>The split with the shorter train part.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="perUser"/> is less than 1.</exception>
    public DataSplit HoldOutLastTrain(int perUser)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perUser, 1);
        var shorter = _trainLength.ToDictionary(p => p.Key, p => LastTrainTargets(Slice(_sequences[p.Key].Interactions, p.Value), perUser) is [var first, ..] ? first : p.Value);
        return new DataSplit($"{Name}, last {perUser} train held out", Dataset, [.. _sequences.Values.OrderBy(s => s.User)], shorter, _validIndex, _testIndex)
        {
            TargetActions = TargetActions,
            ContextActions = ContextActions,
        };
    }

    /// <summary>
    /// Where a ranker's pseudo-targets lie in one user's train sequence: the positions of its last
    /// <paramref name="perUser"/> events that a target can be (<see cref="TargetActions"/>; every event when that is
    /// <see langword="null"/>), when the user has that many after at least one earlier event; none otherwise. With
    /// every action a target, the last <paramref name="perUser"/> positions of a sequence longer than that.
    /// </summary>
    /// <param name="train">The user's train sequence (<see cref="Train"/>), oldest first.</param>
    /// <param name="perUser">Pseudo-targets per user; 1 or more.</param>
    /// <returns>Ascending positions; empty when the user gives no pseudo-target.</returns>
    public IReadOnlyList<int> LastTrainTargets(IReadOnlyList<Interaction> train, int perUser)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentOutOfRangeException.ThrowIfLessThan(perUser, 1);
        var positions = new List<int>(perUser);
        for (var i = train.Count - 1; i >= 1 && positions.Count < perUser; i--)
        {
            if (TargetActions is null || TargetActions.Contains(train[i].EffectiveAction))
            {
                positions.Add(i);
            }
        }

        if (positions.Count < perUser)
        {
            return [];
        }

        positions.Reverse();
        return positions;
    }

    /// <summary>
    /// Writes the split in the canonical TSV layout: <c>train.tsv</c>, <c>valid.tsv</c>, <c>test.tsv</c>
    /// (<c>userId \t movieId \t timestamp</c>, grouped by user, chronological) and <c>items.tsv</c>
    /// (<c>index \t movieId</c>, 1-based by ascending id).
    /// </summary>
    /// <param name="directory">The folder to write into; created if missing.</param>
    public void WriteTsv(string directory)
    {
        Directory.CreateDirectory(directory);
        static string Row(Interaction i) => string.Create(CultureInfo.InvariantCulture, $"{i.User.Value}\t{i.Item.Value}\t{i.Timestamp}\n");
        File.WriteAllText(Path.Combine(directory, "train.tsv"), string.Concat(TrainInteractions.Select(Row)));
        File.WriteAllText(Path.Combine(directory, "valid.tsv"), string.Concat(Cases(SplitTarget.Valid).Select(c => Row(c.Target))));
        File.WriteAllText(Path.Combine(directory, "test.tsv"), string.Concat(Cases(SplitTarget.Test).Select(c => Row(c.Target))));
        var items = new StringBuilder();
        for (var i = 0; i < Dataset.Catalogue.Count; i++)
        {
            items.Append(CultureInfo.InvariantCulture, $"{i + 1}\t{Dataset.Catalogue[i].Value}\n");
        }

        File.WriteAllText(Path.Combine(directory, "items.tsv"), items.ToString());
    }

    private Dictionary<UserId, int> Targets(SplitTarget target) => target switch
    {
        SplitTarget.Valid => _validIndex,
        SplitTarget.Test => _testIndex,
        _ => throw new ArgumentOutOfRangeException(nameof(target), target, "The target must be Valid or Test."),
    };

    private static ArraySegment<Interaction> Slice(IReadOnlyList<Interaction> sequence, int count) =>
        new(sequence as Interaction[] ?? sequence.ToArray(), 0, count);
}

/// <summary>
/// The canonical leave-one-out split: per user, interactions in chronological order (ties by file row);
/// the last is the test target, the second-to-last the validation target, the rest is train. Users with
/// fewer than three interactions go wholly to train. The catalogue is every item of the dataset.
/// </summary>
public static class LeaveOneOutSplit
{
    /// <summary>Splits a dataset.</summary>
    /// <param name="dataset">The dataset.</param>
    /// <returns>The split.</returns>
    public static DataSplit Create(InteractionDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var sequences = ToArrays(dataset.UserSequences());
        var train = new Dictionary<UserId, int>();
        var valid = new Dictionary<UserId, int>();
        var test = new Dictionary<UserId, int>();
        foreach (var s in sequences)
        {
            var n = s.Interactions.Count;
            if (n < 3)
            {
                train[s.User] = n;
                continue;
            }

            train[s.User] = n - 2;
            valid[s.User] = n - 2;
            test[s.User] = n - 1;
        }

        return new DataSplit("leave-one-out", dataset, sequences, train, valid, test);
    }

    /// <summary>
    /// Splits a multi-behaviour log on some actions only ("evaluate on purchases"): per user, the last event whose
    /// action is in <paramref name="targetActions"/> is the test target and the one of those before it the validation
    /// target; train is everything before the validation target. Every event before a target, whatever its action, is
    /// its history (context). Users with fewer than two target events, or none before the validation target, go wholly
    /// to train. With every action as a target this is <see cref="Create(InteractionDataset)"/>.
    /// </summary>
    /// <param name="dataset">The dataset.</param>
    /// <param name="targetActions">The actions a held-out target can have (<see cref="Interaction.EffectiveAction"/>).</param>
    /// <returns>The split.</returns>
    /// <exception cref="ArgumentException"><paramref name="targetActions"/> is empty.</exception>
    public static DataSplit Create(InteractionDataset dataset, IReadOnlySet<ActionType> targetActions)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentNullException.ThrowIfNull(targetActions);
        if (targetActions.Count == 0)
        {
            throw new ArgumentException("At least one target action is needed.", nameof(targetActions));
        }

        var sequences = ToArrays(dataset.UserSequences());
        var train = new Dictionary<UserId, int>();
        var valid = new Dictionary<UserId, int>();
        var test = new Dictionary<UserId, int>();
        foreach (var s in sequences)
        {
            if (TargetIndices(s.Interactions, targetActions) is not var (last, previous))
            {
                train[s.User] = s.Interactions.Count;
                continue;
            }

            train[s.User] = previous;
            valid[s.User] = previous;
            test[s.User] = last;
        }

        var name = $"leave-one-out on {string.Join(", ", targetActions.Order())}";
        return new DataSplit(name, dataset, sequences, train, valid, test) { TargetActions = targetActions };
    }

    /// <summary>
    /// A user's held-out targets on target actions (indices into <paramref name="events"/>): the last event of one of
    /// them, and the one before it, which needs an event before it; <see langword="null"/> when the user has none.
    /// </summary>
    internal static (int Test, int Valid)? TargetIndices(IReadOnlyList<Interaction> events, IReadOnlySet<ActionType> targetActions)
    {
        int last = -1, previous = -1;
        for (var i = events.Count - 1; i >= 0 && previous < 0; i--)
        {
            if (targetActions.Contains(events[i].EffectiveAction))
            {
                (last, previous) = last < 0 ? (i, -1) : (last, i);
            }
        }

        return previous >= 1 ? (last, previous) : null;
    }

    internal static UserSequence[] ToArrays(IReadOnlyList<UserSequence> sequences) =>
        sequences.Select(s => new UserSequence(s.User, s.Interactions.ToArray())).ToArray();
}

/// <summary>
/// A global temporal split: every interaction before the validation cut-off is train; a user's validation target
/// is their first interaction in [validation cut-off, test cut-off) and their test target their first at or after
/// the test cut-off. A model sees, as history, every interaction of the user before the target.
/// </summary>
public static class TemporalSplit
{
    /// <summary>Splits a dataset at two time quantiles of its interactions.</summary>
    /// <param name="dataset">The dataset.</param>
    /// <param name="trainFraction">The share of interactions before the validation cut-off; in (0, 1).</param>
    /// <param name="validFraction">The share of interactions in the validation window; in (0, 1 - <paramref name="trainFraction"/>).</param>
    /// <returns>The split.</returns>
    public static DataSplit Create(InteractionDataset dataset, double trainFraction = 0.8, double validFraction = 0.1)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (trainFraction is <= 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(trainFraction), trainFraction, "trainFraction must lie in (0, 1).");
        }

        if (validFraction <= 0 || trainFraction + validFraction >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(validFraction), validFraction, "validFraction must be positive and trainFraction + validFraction below 1.");
        }

        var times = dataset.Interactions.Select(i => i.Timestamp).Order().ToArray();
        var validCut = times[(int)(trainFraction * (times.Length - 1))];
        var testCut = times[(int)((trainFraction + validFraction) * (times.Length - 1))];
        return Create(dataset, DateTimeOffset.FromUnixTimeSeconds(validCut), DateTimeOffset.FromUnixTimeSeconds(testCut));
    }

    /// <summary>Splits a dataset at two instants.</summary>
    /// <param name="dataset">The dataset.</param>
    /// <param name="validFrom">Interactions from this instant on are held out for validation.</param>
    /// <param name="testFrom">Interactions from this instant on are held out for test; not before <paramref name="validFrom"/>.</param>
    /// <returns>The split.</returns>
    public static DataSplit Create(InteractionDataset dataset, DateTimeOffset validFrom, DateTimeOffset testFrom)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (testFrom < validFrom)
        {
            throw new ArgumentOutOfRangeException(nameof(testFrom), testFrom, "testFrom must not be before validFrom.");
        }

        long v = validFrom.ToUnixTimeSeconds(), t = testFrom.ToUnixTimeSeconds();
        var sequences = LeaveOneOutSplit.ToArrays(dataset.UserSequences());
        var train = new Dictionary<UserId, int>();
        var valid = new Dictionary<UserId, int>();
        var test = new Dictionary<UserId, int>();
        foreach (var s in sequences)
        {
            var items = s.Interactions;
            var firstValid = FirstAtOrAfter(items, v);
            var firstTest = FirstAtOrAfter(items, t);
            train[s.User] = firstValid;
            if (firstValid < firstTest)
            {
                valid[s.User] = firstValid;
            }

            if (firstTest < items.Count)
            {
                test[s.User] = firstTest;
            }
        }

        return new DataSplit(string.Create(CultureInfo.InvariantCulture, $"temporal({validFrom:yyyy-MM-dd},{testFrom:yyyy-MM-dd})"), dataset, sequences, train, valid, test);
    }

    private static int FirstAtOrAfter(IReadOnlyList<Interaction> items, long time)
    {
        var i = 0;
        while (i < items.Count && items[i].Timestamp < time)
        {
            i++;
        }

        return i;
    }
}
