using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using GenRec;
using GenRec.Data;
using GenRec.Orleans;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

/// <summary>
/// The cluster benchmark: simulated users (each replays a real MovieLens user's events) appended through real silos
/// on this machine (TCP on loopback, in-memory storage), then recommendations for a sample of them, cold (the
/// history is read) and warm (the cached context is reused), on one and on three silos; managed memory per active user.
/// </summary>
internal static class ClusterBench
{
    private const int EventsPerUser = 50;
    private const int Batch = 10;
    private const int InFlight = 64;
    private const int Sampled = 2000;

    /// <summary>The fewest simulated users the benchmark needs: the timed sample and the 200 timed alone.</summary>
    public const int MinimumUsers = Sampled + 200;
    private const int Callers = 32;

    public static async Task RunAsync(string data, Options options, Func<Options, CancellationToken, Task> startSilo)
    {
        var dataset = MovieLensReader.Read(data);
        var real = dataset.Interactions.GroupBy(i => i.User).Select(g => g.Order(Interaction.Chronological).ToArray()).Where(h => h.Length >= EventsPerUser).ToArray();
        Console.WriteLine($"{options.Users:N0} simulated users, each replaying the last {EventsPerUser} events of one of {real.Length} real MovieLens users; {Environment.ProcessorCount} cores");
        var lines = new List<string>
        {
            "| silos | events/s (append) | 1 caller: cold / warm p50 ms | cold ÷ warm | 32 callers: cold p50 / p99 ms | warm p50 / p99 ms | cold ÷ warm | warm req/s | managed bytes per user: sequence | + cached context |",
            "|---:|---:|---|---:|---|---|---:|---:|---:|---:|",
        };
        foreach (var silos in new[] { 1, 3 })
        {
            lines.Add(await RunOnceAsync(silos, options, real, startSilo));
        }

        Console.WriteLine();
        foreach (var line in lines)
        {
            Console.WriteLine(line);
        }
    }

    private static async Task<string> RunOnceAsync(int silos, Options options, Interaction[][] real, Func<Options, CancellationToken, Task> startSilo)
    {
        using var stop = new CancellationTokenSource();
        var gateways = Enumerable.Range(0, silos).Select(i => 31000 + i).ToArray();
        var running = Enumerable.Range(0, silos)
            .Select(i => startSilo(options with { SiloPort = 12111 + i, GatewayPort = gateways[i], PrimaryPort = 12111 }, stop.Token))
            .ToArray();
        await WaitForPortsAsync(gateways);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(c => c.UseLocalhostClustering(gateways));
        using var host = builder.Build();
        await host.StartAsync();
        var grains = host.Services.GetRequiredService<IClusterClient>();
        await grains.GetGrain<IUserSessionGrain>(0).RecommendAsync(new RecommendQuery(Count: 1)); // index and model loaded

        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();
        long stored = 0;
        var calls = new List<Task<AppendResult>>();
        for (var round = 0; round < EventsPerUser / Batch; round++)
        {
            for (var u = 1; u <= options.Users; u++)
            {
                var history = real[u % real.Length];
                var batch = history[^EventsPerUser..].Skip(round * Batch).Take(Batch)
                    .Select(e => new BehaviourEvent(e.Item.Value, ActionType.Rate, e.Time, e.Rating)).ToArray();
                calls.Add(grains.GetGrain<IUserSessionGrain>(u).AppendEventsAsync(batch));
                if (calls.Count == InFlight)
                {
                    stored += (await Task.WhenAll(calls)).Sum(r => r.Stored);
                    calls.Clear();
                }
            }

            Console.WriteLine($"  {silos} silo(s): {stored:N0} events stored, {stored / clock.Elapsed.TotalSeconds:N0}/s");
        }

        stored += (await Task.WhenAll(calls)).Sum(r => r.Stored);
        var appendRate = stored / clock.Elapsed.TotalSeconds;
        var withSequences = GC.GetTotalMemory(forceFullCollection: true);

        var shuffled = Enumerable.Range(1, options.Users).OrderBy(u => (u * 2654435761L) % 1_000_003).ToArray();
        var alone = shuffled[Sampled..(Sampled + 200)];
        var coldAlone = await TimeAsync(grains, alone, 1);
        var warmAlone = await TimeAsync(grains, alone, 1);
        var sample = shuffled[..Sampled];
        var cold = await TimeAsync(grains, sample, Callers);
        var warm = await TimeAsync(grains, sample, Callers);
        var withContexts = GC.GetTotalMemory(forceFullCollection: true);
        var sequenceBytes = (withSequences - baseline) / (double)options.Users;
        var contextBytes = (withContexts - withSequences) / (double)(sample.Length + alone.Length);
        var line = string.Create(
            CultureInfo.InvariantCulture,
            $"| {silos} | {appendRate:N0} | {coldAlone.P50:0.00} / {warmAlone.P50:0.00} | {coldAlone.P50 / warmAlone.P50:0.0}× | {cold.P50:0.0} / {cold.P99:0.0} | {warm.P50:0.0} / {warm.P99:0.0} | {cold.P50 / warm.P50:0.0}× | {warm.Rate:N0} | {sequenceBytes:N0} | {contextBytes:N0} |");
        Console.WriteLine($"  {silos} silo(s): append {appendRate:N0} events/s; RecommendAsync cold p50 {cold.P50:0.0} ms p99 {cold.P99:0.0} ms, warm p50 {warm.P50:0.0} ms p99 {warm.P99:0.0} ms ({warm.Rate:N0}/s)");
        await host.StopAsync();
        await stop.CancelAsync();
        await Task.WhenAll(running);
        return line;
    }

    /// <summary>RecommendAsync for every sampled user, <paramref name="callers"/> at a time.</summary>
    private static async Task<(double P50, double P99, double Rate)> TimeAsync(IClusterClient grains, int[] users, int callers)
    {
        var latencies = new double[users.Length];
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < users.Length)
            {
                var start = Stopwatch.GetTimestamp();
                await grains.GetGrain<IUserSessionGrain>(users[i]).RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 64));
                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        })));
        var rate = users.Length / clock.Elapsed.TotalSeconds;
        Array.Sort(latencies);
        return (latencies[latencies.Length / 2], latencies[(int)Math.Ceiling(0.99 * latencies.Length) - 1], rate);
    }

    private static async Task WaitForPortsAsync(int[] ports)
    {
        foreach (var port in ports)
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    using var socket = new TcpClient();
                    await socket.ConnectAsync(IPAddress.Loopback, port);
                    break;
                }
                catch (SocketException) when (attempt < 300)
                {
                    await Task.Delay(100);
                }
            }
        }

        await Task.Delay(TimeSpan.FromSeconds(2));
    }
}
