using System.CommandLine;
using System.Globalization;
using GenRec.Data;

namespace GenRec.Cli;

/// <summary>
/// Where a command's data comes from: <c>--data</c> (a MovieLens ratings file) or a team's own log, <c>--events FILE
/// --schema FILE [--items FILE]</c> (CSV, CSV.GZ or Parquet). Every command that takes <c>--data</c> takes the other form
/// too (<see cref="AddAlternatives"/>).
/// </summary>
internal sealed record DataSource(string? Ratings, string? Events, string? Items, string? Schema)
{
    public static readonly Option<string?> TargetActionsOption = new("--target-actions")
    {
        Description = "A multi-behaviour log: the actions a held-out target can have, comma-separated (e.g. Purchase or Click,Purchase); every event before a target is its history, and lists leave out only the items the user had these actions on. Default: every action (the last event).",
    };

    /// <summary>What <c>--target-actions</c> names, or <see langword="null"/> (every action).</summary>
    public IReadOnlySet<ActionType>? TargetActions { get; init; }

    public static readonly Option<string?> ContextActionsOption = new("--context-actions")
    {
        Description = "A multi-behaviour log: the actions models read, comma-separated (e.g. Click,Purchase to learn from clicks and leave impressions out); the train part and every history keep only these events, the targets stay as they are. Default: every action.",
    };

    /// <summary>What <c>--context-actions</c> names, or <see langword="null"/> (every action).</summary>
    public IReadOnlySet<ActionType>? ContextActions { get; init; }

    public static readonly Option<string?> EventsOption = new("--events")
    {
        Description = "Instead of --data: a team's event log (CSV, CSV.GZ or Parquet), read through --schema.",
    };

    public static readonly Option<string?> ItemsOption = new("--items")
    {
        Description = "With --events: the item catalogue (CSV, CSV.GZ or Parquet), mapped by the schema's \"items\" section.",
    };

    public static readonly Option<string?> SchemaOption = new("--schema")
    {
        Description = "With --events: the schema file (JSON) that maps the log's columns (user, item, time, action, value) and the catalogue's; see docs/data.md.",
    };

    /// <summary>What is read, for messages.</summary>
    public string Description => Ratings ?? (Items is null ? Events! : $"{Events} with {Items}");

    /// <summary>Adds <c>--events</c>, <c>--items</c> and <c>--schema</c> to every command under <paramref name="command"/> that has <c>--data</c>.</summary>
    public static void AddAlternatives(Command command)
    {
        if (command.Options.Any(o => o.Name == "--data"))
        {
            command.Options.Add(EventsOption);
            command.Options.Add(ItemsOption);
            command.Options.Add(SchemaOption);
            command.Options.Add(TargetActionsOption);
            command.Options.Add(ContextActionsOption);
        }

        foreach (var sub in command.Subcommands)
        {
            AddAlternatives(sub);
        }
    }

    /// <summary>The data the command line names; a usage error when it names none or both forms.</summary>
    public static DataSource Required(ParseResult parse, Option<string?> data) =>
        Optional(parse, data) ?? throw new UsageException("give the data: --data FILE (MovieLens ratings) or --events FILE --schema FILE [--items FILE] (a team's own log).");

    /// <summary>The data the command line names, or <see langword="null"/> when it names none.</summary>
    public static DataSource? Optional(ParseResult parse, Option<string?> data)
    {
        var source = new DataSource(parse.GetValue(data), parse.GetValue(EventsOption), parse.GetValue(ItemsOption), parse.GetValue(SchemaOption))
        {
            TargetActions = ParseActions(TargetActionsOption.Name, parse.GetValue(TargetActionsOption)),
            ContextActions = ParseActions(ContextActionsOption.Name, parse.GetValue(ContextActionsOption)),
        };
        if (source.Ratings is not null && source.Events is not null)
        {
            throw new UsageException("give --data or --events, not both.");
        }

        if (source.Events is null)
        {
            return source.Items is not null || source.Schema is not null
                ? throw new UsageException("--items and --schema go with --events (the event log).")
                : source.Ratings is null ? null : source;
        }

        return source.Schema is null
            ? throw new UsageException("--events needs --schema: the file that says which column is the user, the item, the time and the action (see docs/data.md).")
            : source;
    }

    /// <summary>A comma-separated list of actions (any case), or <see langword="null"/> when the option was not given.</summary>
    public static HashSet<ActionType>? ParseActions(string option, string? text)
    {
        if (text is null)
        {
            return null;
        }

        var actions = new HashSet<ActionType>();
        foreach (var name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Enum.TryParse<ActionType>(name, ignoreCase: true, out var action) || !Enum.IsDefined(action) || int.TryParse(name, CultureInfo.InvariantCulture, out _))
            {
                throw new UsageException($"{option}: '{name}' is not an action ({string.Join(", ", Enum.GetNames<ActionType>())}).");
            }

            actions.Add(action);
        }

        return actions.Count > 0 ? actions : throw new UsageException($"{option} names no action.");
    }

    /// <summary>Reads the data, with progress on standard error and a summary of what the read found.</summary>
    public EventLog Read()
    {
        var schema = Ratings is not null ? EventLogSchema.MovieLens : EventLogSchema.Load(Schema!);
        ConsoleProgress.Status($"reading {Description}");
        var progress = new Progress(this);
        var log = EventLogReader.Read(Ratings ?? Events!, schema, Items, progress);
        var report = log.Report;
        if (Events is not null)
        {
            var skipped = report.SkippedUnmappedActions > 0 ? string.Create(CultureInfo.InvariantCulture, $"; skipped {report.SkippedUnmappedActions:N0} with unmapped actions") : string.Empty;
            var catalogue = Items is not null ? string.Create(CultureInfo.InvariantCulture, $"; catalogue {report.CatalogueItems:N0} items, {report.EventItemsWithoutCatalogueEntry:N0} items of the log not in it") : string.Empty;
            ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"read {report.Events:N0} events of {report.Rows:N0} rows in {report.Elapsed.TotalSeconds:0.0} s{skipped}{catalogue}"));
        }

        foreach (var column in report.MissingOptionalColumns)
        {
            ConsoleProgress.Status($"note: {column} is named by the schema but not in the file; its values are missing");
        }

        if (log.UserIds is { } users && log.ItemIds is { } items)
        {
            ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"text ids numbered in the order they first appear: {users.Count:N0} users, {items.Count:N0} items (genrec data inspect --ids-out FOLDER writes the numbering)"));
        }

        return log;
    }

    // A line per million rows (the reader reports about every 2^20 rows).
    private sealed class Progress(DataSource source) : IProgress<EventLogProgress>
    {
        private readonly DateTime _start = DateTime.UtcNow;

        public void Report(EventLogProgress value)
        {
            if (source.Ratings is not null && value.Rows < 1 << 20)
            {
                return; // MovieLens-sized files: no progress lines
            }

            var seconds = Math.Max((DateTime.UtcNow - _start).TotalSeconds, 1e-3);
            var share = value.Length > 0 ? string.Create(CultureInfo.InvariantCulture, $" ({100.0 * value.BytesRead / value.Length:0}% of the file)") : string.Empty;
            ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"  {value.Source}: {value.Rows:N0} rows{share}, {value.Rows / seconds:N0} rows/s"));
        }
    }
}
