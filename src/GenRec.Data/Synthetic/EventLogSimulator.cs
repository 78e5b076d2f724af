using GenRec.Data.Tables;

namespace GenRec.Data.Synthetic;

/// <summary>
/// A multi-behaviour event log with planted structure, at any size: users with a few latent interests that drift over
/// time, items whose text and categories come from those interests, and sessions of impressions → clicks → purchases in
/// which users click what matches their interests far more often than the rest. Models that read sequences, text or
/// categories can recover the structure; popularity cannot, which is what tests and benchmarks measure. Deterministic
/// for a seed.
/// </summary>
public static class EventLogSimulator
{
    /// <summary>The schema of the files <see cref="Write"/> produces.</summary>
    public static EventLogSchema Schema { get; } = new()
    {
        Events = new EventColumns
        {
            User = "user_id",
            Item = "item_id",
            Time = "ts_ms",
            TimeUnit = TimeUnit.Milliseconds,
            Action = "event",
            ActionValues = new Dictionary<string, ActionType> { ["impression"] = ActionType.Impression, ["click"] = ActionType.Click, ["purchase"] = ActionType.Purchase },
            Value = "price",
        },
        Items = new CatalogueColumns { Id = "item_id", Text = ["title"], Categories = "category", CategorySeparator = '/', Published = "listed", PublishedUnit = TimeUnit.Seconds },
    };

    /// <summary>Simulates a log in memory (small sizes: tests, examples).</summary>
    /// <param name="options">The simulation's settings.</param>
    /// <returns>The dataset (the same events <see cref="Write"/> would write for these options).</returns>
    public static InteractionDataset Generate(SimulatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var world = new SimulatedWorld(options);
        var interactions = new List<Interaction>();
        world.Run(e => interactions.Add(new Interaction(new UserId(e.User), new ItemId(e.Item), e.Price, e.Milliseconds / 1000, interactions.Count) { Action = e.Action }));
        return new InteractionDataset(interactions, world.Items.Select(i => i.ToRecord()));
    }

    /// <summary>
    /// Simulates a log and writes it to <paramref name="folder"/>: <c>events</c> and <c>items</c> files in
    /// <paramref name="format"/> and <c>schema.json</c> (<see cref="Schema"/>), ready for
    /// <c>genrec … --events --items --schema</c>. Events are written as they are made: memory stays small at any size.
    /// </summary>
    /// <param name="options">The simulation's settings.</param>
    /// <param name="folder">The output folder (created).</param>
    /// <param name="format">CSV or Parquet.</param>
    /// <param name="progress">Receives the events written so far, about every million.</param>
    /// <param name="cancellationToken">Stops the simulation (the files are then incomplete).</param>
    /// <returns>The paths and counts written.</returns>
    public static SimulatedLog Write(SimulatorOptions options, string folder, EventLogFormat format, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        options.Validate();
        Directory.CreateDirectory(folder);
        var extension = format == EventLogFormat.Parquet ? "parquet" : "csv";
        var eventsPath = Path.Combine(folder, $"events.{extension}");
        var itemsPath = Path.Combine(folder, $"items.{extension}");
        var schemaPath = Path.Combine(folder, "schema.json");
        var world = new SimulatedWorld(options);
        long written = 0;
        using (var events = TableWriter.Create(eventsPath, format, SimulatedWorld.EventColumns))
        {
            world.Run(e =>
            {
                events.Long(e.User).Long(e.Item).Text(SimulatedWorld.ActionNames[(int)e.Action]).Long(e.Milliseconds).Real(e.Price).EndRow();
                if ((++written & ((1 << 20) - 1)) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    progress?.Report(written);
                }
            });
        }

        using (var items = TableWriter.Create(itemsPath, format, SimulatedWorld.ItemColumns))
        {
            foreach (var item in world.Items)
            {
                items.Long(item.Id).Text(item.Title).Text(item.Category).Long(item.Listed).EndRow();
            }
        }

        File.WriteAllText(schemaPath, Schema.ToJson());
        progress?.Report(written);
        return new SimulatedLog(eventsPath, itemsPath, schemaPath, written, world.UserCount, world.Items.Count);
    }
}

/// <summary>Settings of <see cref="EventLogSimulator"/>.</summary>
public sealed record SimulatorOptions
{
    /// <summary>Events to simulate (the log stops at the first user that reaches it). Default: 100,000.</summary>
    public long Events { get; init; } = 100_000;

    /// <summary>Items in the catalogue. Default: 0, one per 100 events (at least 200).</summary>
    public int Items { get; init; }

    /// <summary>Latent interests (each an item category with its own words). Default: 24.</summary>
    public int Interests { get; init; } = 24;

    /// <summary>Mean events per user (lengths are long-tailed). Default: 60.</summary>
    public int MeanEventsPerUser { get; init; } = 60;

    /// <summary>Impressions per session. Default: 6.</summary>
    public int ImpressionsPerSession { get; init; } = 6;

    /// <summary>Chance that an impression of an item of the user's current interest is clicked. Default: 0.35.</summary>
    public double ClickOnInterest { get; init; } = 0.35;

    /// <summary>Chance that any other impression is clicked. Default: 0.03.</summary>
    public double ClickOffInterest { get; init; } = 0.03;

    /// <summary>Chance that a click leads to a purchase. Default: 0.2.</summary>
    public double PurchaseAfterClick { get; init; } = 0.2;

    /// <summary>Share of impressions drawn from the whole catalogue by popularity (the rest from the session's interest). Default: 0.3.</summary>
    public double Exploration { get; init; } = 0.3;

    /// <summary>Chance, after each session, that one of the user's interests moves to a neighbouring one. Default: 0.15.</summary>
    public double Drift { get; init; } = 0.15;

    /// <summary>When the log starts (UTC). Default: 2024-01-01.</summary>
    public DateTimeOffset Start { get; init; } = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>How many days the log spans. Default: 90.</summary>
    public int Days { get; init; } = 90;

    /// <summary>The random seed. Default: 42.</summary>
    public int Seed { get; init; } = 42;

    internal int ItemCount => Items > 0 ? Items : (int)Math.Clamp(Events / 100, 200, 10_000_000);

    internal void Validate()
    {
        static void Check(bool ok, string what)
        {
            if (!ok)
            {
                throw new ArgumentOutOfRangeException(nameof(SimulatorOptions), what);
            }
        }

        Check(Events is > 0 and <= int.MaxValue, $"Events is {Events}; it must be in 1..{int.MaxValue}.");
        Check(Items >= 0, $"Items is {Items}; it must be 0 (one per 100 events) or more.");
        Check(Interests is >= 2 and <= 1_000, $"Interests is {Interests}; it must be in 2..1000.");
        Check(MeanEventsPerUser >= 2, $"MeanEventsPerUser is {MeanEventsPerUser}; it must be 2 or more.");
        Check(ImpressionsPerSession >= 1, $"ImpressionsPerSession is {ImpressionsPerSession}; it must be 1 or more.");
        Check(Days >= 1, $"Days is {Days}; it must be 1 or more.");
        foreach (var (value, name) in new[] { (ClickOnInterest, nameof(ClickOnInterest)), (ClickOffInterest, nameof(ClickOffInterest)), (PurchaseAfterClick, nameof(PurchaseAfterClick)), (Exploration, nameof(Exploration)), (Drift, nameof(Drift)) })
        {
            Check(value is >= 0 and <= 1, $"{name} is {value}; it must be a probability in [0, 1].");
        }
    }
}

/// <summary>The file format of a written event log.</summary>
public enum EventLogFormat
{
    /// <summary>CSV with a header line.</summary>
    Csv = 0,

    /// <summary>Parquet (one row group per million rows).</summary>
    Parquet = 1,
}

/// <summary>What <see cref="EventLogSimulator.Write"/> wrote.</summary>
/// <param name="Events">The event log's path.</param>
/// <param name="Items">The catalogue's path.</param>
/// <param name="Schema">The schema file's path.</param>
/// <param name="EventCount">Events written.</param>
/// <param name="UserCount">Users with events.</param>
/// <param name="ItemCount">Items in the catalogue.</param>
public sealed record SimulatedLog(string Events, string Items, string Schema, long EventCount, int UserCount, int ItemCount);
