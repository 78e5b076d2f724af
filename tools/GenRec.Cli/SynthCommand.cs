using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GenRec.Data.Synthetic;

namespace GenRec.Cli;

/// <summary><c>genrec synth</c>: a simulated multi-behaviour log with planted structure, at any size, in CSV or Parquet.</summary>
internal static class SynthCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "The folder to write events, items and schema.json to.", Required = true };
        var size = new Option<long>("--size") { Description = "Events to simulate (impressions, clicks and purchases).", DefaultValueFactory = _ => 100_000 };
        var items = new Option<int>("--items") { Description = "Items in the catalogue (0: one per 100 events).", DefaultValueFactory = _ => 0 };
        var interests = new Option<int>("--interests") { Description = "Latent interests (item categories) users move between.", DefaultValueFactory = _ => 24 };
        var format = new Option<string>("--format") { Description = "csv or parquet.", DefaultValueFactory = _ => "parquet" };
        format.AcceptOnlyFromAmong("csv", "parquet");
        var seed = CommonOptions.Seed();
        var command = new Command("synth", "Simulate an event log with planted structure (users whose interests drift, items whose text and categories come from those interests, impressions → clicks → purchases) and write it with its catalogue and schema file, ready for --events/--items/--schema.")
        {
            output, size, items, interests, format, seed,
        };
        command.SetAction(parse =>
        {
            var options = new SimulatorOptions
            {
                Events = parse.GetValue(size),
                Items = CommonOptions.RequireNonNegative(parse.GetValue(items), "--items"),
                Interests = parse.GetValue(interests),
                Seed = parse.GetValue(seed),
            };
            if (options.Events < 1)
            {
                throw new UsageException($"--size is {options.Events}; it must be 1 or more.");
            }

            var kind = parse.GetValue(format) == "csv" ? EventLogFormat.Csv : EventLogFormat.Parquet;
            var clock = Stopwatch.StartNew();
            ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"simulating {options.Events:N0} events as {kind} in {parse.GetValue(output)}"));
            var log = EventLogSimulator.Write(options, parse.GetValue(output)!, kind, new SyncProgress<long>(n =>
                ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"  {n:N0} events, {n / Math.Max(clock.Elapsed.TotalSeconds, 1e-3):N0} events/s"))));

            Console.WriteLine(JsonSerializer.Serialize(new
            {
                events = log.Events,
                items = log.Items,
                schema = log.Schema,
                event_count = log.EventCount,
                users = log.UserCount,
                item_count = log.ItemCount,
                events_bytes = new FileInfo(log.Events).Length,
                seconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
            }));
            return 0;
        });
        return command;
    }
}
