using System.Diagnostics;

namespace GenRec.Cli;

/// <summary>Latencies of a timed run and its wall time.</summary>
/// <param name="Latencies">Per request, milliseconds.</param>
/// <param name="Seconds">The run's wall time.</param>
internal sealed record Measured(double[] Latencies, double Seconds)
{
    private double[] Sorted { get; } = [.. Latencies.Order()];

    public double P50 => EvalCommand.Percentile(Sorted, 0.5);

    public double P99 => EvalCommand.Percentile(Sorted, 0.99);

    public double RequestsPerSecond => Latencies.Length / Seconds;
}

/// <summary>Closed-loop load: callers issue requests back to back, each waiting for its answer before the next.</summary>
internal static class ClosedLoop
{
    /// <summary><paramref name="callers"/> loops issue <paramref name="total"/> requests (request i is <paramref name="send"/>(i)).</summary>
    public static async Task<Measured> RunAsync(int callers, int total, Func<int, CancellationToken, Task> send, CancellationToken ct)
    {
        var latencies = new double[total];
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(
            async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < total)
                {
                    var start = Stopwatch.GetTimestamp();
                    await send(i, ct).ConfigureAwait(false);
                    latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
            },
            ct))).ConfigureAwait(false);
        return new Measured(latencies, clock.Elapsed.TotalSeconds);
    }
}
