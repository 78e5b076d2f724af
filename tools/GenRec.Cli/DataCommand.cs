using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GenRec.Data;

namespace GenRec.Cli;

/// <summary><c>genrec data</c>: look at a dataset before training on it.</summary>
internal static class DataCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
        var json = new Option<bool>("--json") { Description = "Print the profile as JSON (one line) instead of a table." };
        var idsOut = new Option<string?>("--ids-out") { Description = "A schema with \"ids\": \"Text\": write how the text ids were numbered (users.json, items.json; IdNumbering.Load reads them) into this folder, to map recommended numbers back to your ids." };
        var inspect = new Command("inspect", "Read a dataset (--data, or --events with --schema and optionally --items) and print what it holds: users, items, events by action, the time range, events per user, items without metadata.")
        {
            data, json, idsOut,
        };
        inspect.SetAction(parse =>
        {
            var source = DataSource.Required(parse, data);
            var log = source.Read();
            if (parse.GetValue(idsOut) is { } folder)
            {
                if (log.UserIds is null || log.ItemIds is null)
                {
                    throw new UsageException("--ids-out: the ids are integers (the schema does not say \"ids\": \"Text\"); there is no numbering to write.");
                }

                log.UserIds.Save(Path.Combine(folder, "users.json"));
                log.ItemIds.Save(Path.Combine(folder, "items.json"));
                ConsoleProgress.Status($"wrote the numbering of {log.UserIds.Count} user ids and {log.ItemIds.Count} item ids to {folder}");
            }

            var profile = DatasetProfile.Of(log.Dataset);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new { source = source.Description, profile, report = log.Report }, JsonOptions));
                return 0;
            }

            Print(source, profile, log.Report);
            return 0;
        });

        return new Command("data", "Datasets: inspect what a log and catalogue hold.") { inspect };
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    private static void Print(DataSource source, DatasetProfile p, EventLogReport report)
    {
        static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
        static string Share(long part, long whole) => whole == 0 ? "-" : (100.0 * part / whole).ToString("0.0", CultureInfo.InvariantCulture) + "%";

        var rows = new List<(string Name, string Value, string Note)>
        {
            ("events", N(p.Events), report.SkippedUnmappedActions > 0 ? $"{N(report.SkippedUnmappedActions)} rows skipped (unmapped actions)" : string.Empty),
            ("users", N(p.Users), string.Empty),
            ("catalogue items", N(p.CatalogueItems), $"{N(p.ItemsWithEvents)} with events, {N(p.CatalogueItems - p.ItemsWithEvents)} without (cold)"),
            ("items without metadata", N(p.ItemsWithoutMetadata), Share(p.ItemsWithoutMetadata, p.CatalogueItems) + " of the catalogue" + (report.ItemsSource is null ? string.Empty : $"; {N(report.EventItemsWithoutCatalogueEntry)} items of the log not in {report.ItemsSource}")),
            ("events with a value", N(p.EventsWithValue), Share(p.EventsWithValue, p.Events)),
            ("time range", $"{p.FirstEvent:yyyy-MM-dd HH:mm} .. {p.LastEvent:yyyy-MM-dd HH:mm} UTC", $"{(p.LastEvent - p.FirstEvent).TotalDays:0} days"),
        };
        foreach (var (action, count) in p.Actions.OrderByDescending(a => a.Value))
        {
            rows.Add(($"  action {action}", N(count), Share(count, p.Events)));
        }

        var s = p.SequenceLengths;
        rows.Add(("events per user", string.Create(CultureInfo.InvariantCulture, $"mean {s.Mean:0.0}"), $"min {s.Min}, p25 {s.P25}, median {s.Median}, p75 {s.P75}, p90 {s.P90}, p99 {s.P99}, max {s.Max}"));
        foreach (var column in report.MissingOptionalColumns)
        {
            rows.Add(("missing column", column, "named by the schema, not in the file"));
        }

        Console.WriteLine($"{source.Description}: read in {report.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s");
        var nameWidth = rows.Max(r => r.Name.Length);
        var valueWidth = rows.Max(r => r.Value.Length);
        Console.WriteLine($"| {"".PadRight(nameWidth)} | {"".PadLeft(valueWidth)} | |");
        Console.WriteLine($"|{new string('-', nameWidth + 2)}|{new string('-', valueWidth + 1)}:|---|");
        foreach (var (name, value, note) in rows)
        {
            Console.WriteLine($"| {name.PadRight(nameWidth)} | {value.PadLeft(valueWidth)} | {note} |");
        }
    }
}
