using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GenRec.Data;

namespace GenRec.Cli;

/// <summary>
/// <c>genrec bench read</c>: how fast an event log reads (events/s) and how much memory each kept event costs (the
/// dataset's managed bytes after the read, per event), CSV or Parquet.
/// </summary>
internal static class ReadBench
{
    // One read in its own frame, so nothing of it outlives the measurement: (seconds, managed bytes the dataset keeps, events).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (double Seconds, long Kept, long Events) Measure(DataSource source)
    {
        var before = BenchCommand.Memory();
        var clock = Stopwatch.StartNew();
        var log = source.Read();
        var elapsed = clock.Elapsed.TotalSeconds;
        var after = BenchCommand.Memory();
        GC.KeepAlive(log);
        return (elapsed, after - before, log.Report.Events);
    }

    public static Command Create()
    {
        var data = CommonOptions.Data();
        var repeat = new Option<int>("--repeat") { Description = "Timed reads (the median is reported).", DefaultValueFactory = _ => 3 };
        var command = new Command("read", "Read an event log (and catalogue) --repeat times: events/s (median, each read), managed bytes per kept event, peak working set.")
        {
            data, repeat,
        };
        command.SetAction(parse =>
        {
            var source = DataSource.Required(parse, data);
            var n = parse.GetValue(repeat);
            CommonOptions.RequirePositive(n, "--repeat");
            var seconds = new List<double>();
            var bytes = new List<double>();
            long events = 0;
            Measure(source); // a warm-up read (JIT, pools), not counted
            for (var r = 0; r < n; r++)
            {
                var (elapsed, kept, count) = Measure(source);
                events = count;
                seconds.Add(elapsed);
                bytes.Add(kept / (double)count);
                ConsoleProgress.Status(string.Create(CultureInfo.InvariantCulture, $"read {r + 1}/{n}: {count:N0} events in {elapsed:0.00} s, {count / elapsed:N0} events/s, {kept / (double)count:0.0} bytes per event kept"));
            }

            static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
            var file = source.Ratings ?? source.Events!;
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                file,
                file_bytes = new FileInfo(file).Length,
                events,
                reads = n,
                seconds_median = Math.Round(Median(seconds), 3),
                events_per_second_median = Math.Round(events / Median(seconds)),
                events_per_second = seconds.Select(s => Math.Round(events / s)).ToArray(),
                bytes_per_event_median = Math.Round(Median(bytes), 1),
                peak_working_set_bytes = Process.GetCurrentProcess().PeakWorkingSet64,
            }));
            return 0;
        });
        return command;
    }
}
