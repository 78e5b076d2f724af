using System.Text.Json;
using System.Text.Json.Serialization;

namespace GenRec.Data;

/// <summary>
/// How a team's event log (and, optionally, its item catalogue) maps onto GenRec's events and items: which column holds
/// the user, the item, the time and its unit, the action and how its values map to <see cref="ActionType"/>, the value.
/// Given in code or in a small JSON schema file (<see cref="Load"/>); MovieLens is one such mapping (<see cref="MovieLens"/>).
/// </summary>
/// <remarks>
/// A schema file (version 1) looks like
/// <code>
/// {
///   "version": 1,
///   "events": { "user": "user_id", "item": "sku", "time": "ts", "timeUnit": "milliseconds",
///               "action": "event", "actionValues": { "view": "Impression", "click": "Click", "buy": "Purchase" },
///               "value": "price" },
///   "items": { "id": "sku", "text": [ "title", "description" ], "categories": "category_path", "categorySeparator": "/" }
/// }
/// </code>
/// Unknown properties are errors (a misspelt column name is caught, not ignored).
/// </remarks>
public sealed record EventLogSchema
{
    /// <summary>The schema-file version this build reads and writes.</summary>
    public const int CurrentVersion = 1;

    private static readonly JsonSerializerOptions FileOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>The schema-file version. Default: <see cref="CurrentVersion"/>.</summary>
    public int Version { get; init; } = CurrentVersion;

    /// <summary>The event log's columns.</summary>
    public required EventColumns Events { get; init; }

    /// <summary>
    /// The catalogue's columns, read from the items file when one is given, else from the event log itself (each item's
    /// first row, as in MovieLens' combined file). <see langword="null"/>: no item metadata (items get empty records).
    /// </summary>
    public CatalogueColumns? Items { get; init; }

    /// <summary>Field values read as missing (in CSV; Parquet nulls are missing too). Default: empty, <c>NA</c>, <c>null</c>, <c>NULL</c>.</summary>
    public IReadOnlyList<string> NullValues { get; init; } = ["", "NA", "null", "NULL"];

    /// <summary>The CSV field separator. Default: comma.</summary>
    public char Delimiter { get; init; } = ',';

    /// <summary>
    /// How user and item ids are written. Default: <see cref="IdKind.Number"/>; <see cref="IdKind.Text"/> numbers any
    /// text (UUIDs, SKUs) and returns the numbering (<see cref="EventLog.UserIds"/>, <see cref="EventLog.ItemIds"/>).
    /// </summary>
    public IdKind Ids { get; init; } = IdKind.Number;

    /// <summary>
    /// The MovieLens mapping: <c>userId</c>, <c>movieId</c>, <c>timestamp</c> (seconds) and an optional <c>rating</c> in
    /// the log; <c>title</c>, <c>year</c> and pipe-separated <c>genres</c> as item metadata in the same file (absent in
    /// GroupLens' <c>ratings.csv</c>). Events with a rating are <see cref="ActionType.Rate"/>, others <see cref="ActionType.View"/>.
    /// </summary>
    public static EventLogSchema MovieLens { get; } = new()
    {
        Events = new EventColumns { User = "userId", Item = "movieId", Time = "timestamp", Value = "rating" },
        Items = new CatalogueColumns
        {
            Id = "movieId",
            Text = ["title"],
            Categories = "genres",
            NoCategoryValues = ["(no genres listed)"],
            Published = "year",
            PublishedUnit = TimeUnit.Year,
        },
    };

    /// <summary>Reads a schema file.</summary>
    /// <param name="path">The JSON file.</param>
    /// <returns>The schema, validated.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid schema; the message names the file and the property.</exception>
    public static EventLogSchema Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The schema file '{path}' does not exist.", path);
        }

        return Parse(File.ReadAllText(path), Path.GetFileName(path));
    }

    /// <summary>Parses a schema from JSON text.</summary>
    /// <param name="json">The schema file's text.</param>
    /// <param name="sourceName">A name for the source, used in error messages.</param>
    /// <returns>The schema, validated.</returns>
    /// <exception cref="InvalidDataException">The text is not a valid schema.</exception>
    public static EventLogSchema Parse(string json, string sourceName = "schema.json")
    {
        ArgumentNullException.ThrowIfNull(json);
        EventLogSchema? schema;
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("version", out var version)
                || version.ValueKind != JsonValueKind.Number)
            {
                throw new InvalidDataException($"{sourceName}: a schema file starts with \"version\": {CurrentVersion}.");
            }

            if (!version.TryGetInt32(out var v) || v != CurrentVersion)
            {
                throw new InvalidDataException($"{sourceName}: schema version {version.GetRawText()} is not one this build reads (it reads {CurrentVersion}).");
            }

            schema = document.RootElement.Deserialize<EventLogSchema>(FileOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{sourceName}: not a valid schema file ({e.Message})", e);
        }

        if (schema is null)
        {
            throw new InvalidDataException($"{sourceName}: the schema is null.");
        }

        schema.Validate(sourceName);
        return schema;
    }

    /// <summary>The schema as a schema file's JSON text (what <see cref="Parse"/> reads back).</summary>
    /// <returns>The JSON text.</returns>
    public string ToJson() => JsonSerializer.Serialize(this, FileOptions);

    /// <summary>Checks that the mapping is complete and consistent.</summary>
    /// <param name="sourceName">A name for the schema, used in error messages.</param>
    /// <exception cref="InvalidDataException">A required column is missing or a setting is out of range.</exception>
    public void Validate(string sourceName = "schema")
    {
        static void Require(string? column, string key, string source)
        {
            if (string.IsNullOrWhiteSpace(column))
            {
                throw new InvalidDataException($"{source}: '{key}' (a column name) is required.");
            }
        }

        if (Version != CurrentVersion)
        {
            throw new InvalidDataException($"{sourceName}: schema version {Version} is not one this build reads (it reads {CurrentVersion}).");
        }

        if (Events is null)
        {
            throw new InvalidDataException($"{sourceName}: 'events' (the event log's columns) is required.");
        }

        Require(Events.User, "events.user", sourceName);
        Require(Events.Item, "events.item", sourceName);
        Require(Events.Time, "events.time", sourceName);
        if (Events.TimeUnit == TimeUnit.Year)
        {
            throw new InvalidDataException($"{sourceName}: 'events.timeUnit' is Year; event times need seconds, milliseconds, microseconds or ISO 8601.");
        }

        if (Events.ActionValues is { Count: > 0 } && Events.Action is null)
        {
            throw new InvalidDataException($"{sourceName}: 'events.actionValues' is given but 'events.action' (the column it maps) is not.");
        }

        if (Events.Action is not null && Events.DefaultAction is not null)
        {
            throw new InvalidDataException($"{sourceName}: give 'events.action' (a column) or 'events.defaultAction' (one action for every event), not both.");
        }

        if (Delimiter is '"' or '\n' or '\r')
        {
            throw new InvalidDataException($"{sourceName}: 'delimiter' cannot be a quote or a line break.");
        }

        if (Items is { } items)
        {
            Require(items.Id, "items.id", sourceName);
            if (items.Text is null || items.Text.Any(string.IsNullOrWhiteSpace))
            {
                throw new InvalidDataException($"{sourceName}: 'items.text' is a list of column names.");
            }
        }
    }
}

/// <summary>The event log's columns (see <see cref="EventLogSchema"/>).</summary>
public sealed record EventColumns
{
    /// <summary>The user id column (integers).</summary>
    public required string User { get; init; }

    /// <summary>The item id column (integers).</summary>
    public required string Item { get; init; }

    /// <summary>The event time column.</summary>
    public required string Time { get; init; }

    /// <summary>How <see cref="Time"/> is written. Default: <see cref="TimeUnit.Seconds"/> since the Unix epoch.</summary>
    public TimeUnit TimeUnit { get; init; } = TimeUnit.Seconds;

    /// <summary>The action column, or <see langword="null"/> when the log has one kind of event (<see cref="DefaultAction"/>).</summary>
    public string? Action { get; init; }

    /// <summary>
    /// How the action column's values map to actions. <see langword="null"/>: the values are <see cref="ActionType"/> names
    /// (any case) or their numbers. A value that maps to nothing is an error naming the row, unless
    /// <see cref="UnmappedActions"/> says to skip it.
    /// </summary>
    public IReadOnlyDictionary<string, ActionType>? ActionValues { get; init; }

    /// <summary>What to do with an action value <see cref="ActionValues"/> does not map. Default: <see cref="UnmappedActionHandling.Error"/>.</summary>
    public UnmappedActionHandling UnmappedActions { get; init; } = UnmappedActionHandling.Error;

    /// <summary>
    /// The action of every event when there is no action column. <see langword="null"/>: a rating log's convention,
    /// <see cref="ActionType.Rate"/> when the event has a value, <see cref="ActionType.View"/> otherwise.
    /// </summary>
    public ActionType? DefaultAction { get; init; }

    /// <summary>The value column (a rating, a price, a watch ratio), or <see langword="null"/>. Optional in the file too.</summary>
    public string? Value { get; init; }
}

/// <summary>The catalogue's columns (see <see cref="EventLogSchema"/>).</summary>
public sealed record CatalogueColumns
{
    /// <summary>The item id column (integers): the same ids as the event log's item column.</summary>
    public required string Id { get; init; }

    /// <summary>Columns whose text describes the item (joined with ". " in this order). Default: none.</summary>
    public IReadOnlyList<string> Text { get; init; } = [];

    /// <summary>The categories column, or <see langword="null"/>.</summary>
    public string? Categories { get; init; }

    /// <summary>The separator between categories in <see cref="Categories"/>. Default: <c>|</c>.</summary>
    public char CategorySeparator { get; init; } = '|';

    /// <summary>Values of <see cref="Categories"/> that mean "no category" (MovieLens: <c>(no genres listed)</c>). Default: none.</summary>
    public IReadOnlyList<string> NoCategoryValues { get; init; } = [];

    /// <summary>The column of when the item was published or released, or <see langword="null"/>.</summary>
    public string? Published { get; init; }

    /// <summary>How <see cref="Published"/> is written. Default: <see cref="TimeUnit.Year"/>.</summary>
    public TimeUnit PublishedUnit { get; init; } = TimeUnit.Year;
}

/// <summary>How a time column is written.</summary>
public enum TimeUnit
{
    /// <summary>Seconds since the Unix epoch (UTC).</summary>
    Seconds = 0,

    /// <summary>Milliseconds since the Unix epoch.</summary>
    Milliseconds = 1,

    /// <summary>Microseconds since the Unix epoch.</summary>
    Microseconds = 2,

    /// <summary>ISO 8601 text (<c>2024-05-01T10:00:00Z</c>; without an offset, UTC).</summary>
    Iso8601 = 3,

    /// <summary>A calendar year (items' publication dates only).</summary>
    Year = 4,
}

/// <summary>How a log writes its user and item ids.</summary>
public enum IdKind
{
    /// <summary>64-bit integers (text that is not one is an error naming the row).</summary>
    Number = 0,

    /// <summary>
    /// Any text, numbered 1, 2, … in the order the ids first appear (a catalogue's items before the log's), the same
    /// way each time the same files are read; the numbering comes back with the read (<see cref="IdNumbering"/>).
    /// </summary>
    Text = 1,
}

/// <summary>What a reader does with an action value the schema does not map.</summary>
public enum UnmappedActionHandling
{
    /// <summary>Stop with an error that names the file, the row and the value.</summary>
    Error = 0,

    /// <summary>Skip the event and count it (<see cref="EventLogReport.SkippedUnmappedActions"/>).</summary>
    Skip = 1,
}
