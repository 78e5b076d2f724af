namespace GenRec.Data;

/// <summary>
/// What a dataset holds, at a glance: users, items, events by action, the time range, how long users' sequences are and
/// how many items lack metadata. <c>genrec data inspect</c> prints it; a team checks a new log with it before training.
/// </summary>
public sealed record DatasetProfile
{
    /// <summary>Users with at least one event.</summary>
    public required int Users { get; init; }

    /// <summary>Items in the catalogue (with or without events).</summary>
    public required int CatalogueItems { get; init; }

    /// <summary>Items with at least one event.</summary>
    public required int ItemsWithEvents { get; init; }

    /// <summary>Catalogue items with no text, no category and no publication date.</summary>
    public required int ItemsWithoutMetadata { get; init; }

    /// <summary>Events.</summary>
    public required long Events { get; init; }

    /// <summary>Events that carry a value (a rating, a price).</summary>
    public required long EventsWithValue { get; init; }

    /// <summary>Events by action (<see cref="Interaction.EffectiveAction"/>), the actions that occur only.</summary>
    public required IReadOnlyDictionary<ActionType, long> Actions { get; init; }

    /// <summary>The earliest event's time.</summary>
    public required DateTimeOffset FirstEvent { get; init; }

    /// <summary>The latest event's time.</summary>
    public required DateTimeOffset LastEvent { get; init; }

    /// <summary>Events per user: the distribution's minimum, quartiles, 90th and 99th percentiles and maximum.</summary>
    public required SequenceLengths SequenceLengths { get; init; }

    /// <summary>Profiles a dataset (one pass over its events).</summary>
    /// <param name="dataset">The dataset.</param>
    /// <returns>The profile.</returns>
    public static DatasetProfile Of(InteractionDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var perUser = new Dictionary<UserId, int>();
        var items = new HashSet<ItemId>();
        var actions = new long[Enum.GetValues<ActionType>().Max(a => (int)a) + 1];
        long withValue = 0, first = long.MaxValue, last = long.MinValue;
        foreach (var interaction in dataset.Interactions)
        {
            perUser[interaction.User] = perUser.GetValueOrDefault(interaction.User) + 1;
            items.Add(interaction.Item);
            actions[(int)interaction.EffectiveAction]++;
            withValue += float.IsNaN(interaction.Rating) ? 0 : 1;
            first = Math.Min(first, interaction.Timestamp);
            last = Math.Max(last, interaction.Timestamp);
        }

        var lengths = perUser.Values.Order().ToArray();
        return new DatasetProfile
        {
            Users = perUser.Count,
            CatalogueItems = dataset.Catalogue.Count,
            ItemsWithEvents = items.Count,
            ItemsWithoutMetadata = dataset.Items.Values.Count(r => r.Text.Length == 0 && r.Categories.Count == 0 && r.PublishedAt is null),
            Events = dataset.Interactions.Count,
            EventsWithValue = withValue,
            Actions = Enum.GetValues<ActionType>().Where(a => actions[(int)a] > 0).ToDictionary(a => a, a => actions[(int)a]),
            FirstEvent = DateTimeOffset.FromUnixTimeSeconds(lengths.Length == 0 ? 0 : first),
            LastEvent = DateTimeOffset.FromUnixTimeSeconds(lengths.Length == 0 ? 0 : last),
            SequenceLengths = SequenceLengths.Of(lengths),
        };
    }
}

/// <summary>A distribution of events per user (nearest-rank percentiles).</summary>
/// <param name="Min">The shortest sequence.</param>
/// <param name="P25">The 25th percentile.</param>
/// <param name="Median">The median.</param>
/// <param name="P75">The 75th percentile.</param>
/// <param name="P90">The 90th percentile.</param>
/// <param name="P99">The 99th percentile.</param>
/// <param name="Max">The longest sequence.</param>
/// <param name="Mean">The mean.</param>
public sealed record SequenceLengths(int Min, int P25, int Median, int P75, int P90, int P99, int Max, double Mean)
{
    internal static SequenceLengths Of(int[] sorted)
    {
        if (sorted.Length == 0)
        {
            return new SequenceLengths(0, 0, 0, 0, 0, 0, 0, 0);
        }

        int At(double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new SequenceLengths(sorted[0], At(0.25), At(0.5), At(0.75), At(0.9), At(0.99), sorted[^1], sorted.Average(l => (double)l));
    }
}
