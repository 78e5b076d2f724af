using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using GenRec.Adapters;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace GenRec.ExistingCascade;

/// <summary>
/// What switching generative recall on costs the service: the same trained cascade served over HTTP (Kestrel on
/// loopback, a real HttpClient) in each mode, side by side in one run: off, shadow, blend, replace; and replace with a
/// generative side that hangs (every request falls back after the budget). p50/p99 of GET /recommend, one caller and
/// eight concurrent callers.
/// </summary>
internal static class CascadeBench
{
    public static async Task RunAsync(string[] args)
    {
        var config = new ConfigurationBuilder().AddCommandLine(args).Build();
        var trained = RecommendationService.Train(config["Data"], quick: false);
        var users = trained.Split.Cases(GenRec.Data.SplitTarget.Test).Select(c => c.User.Value).ToArray();
        Console.WriteLine("| mode | 1 caller p50 / p99 ms | 8 callers p50 / p99 ms | 8 callers req/s | fallbacks |");
        Console.WriteLine("|---|---|---|---:|---:|");
        foreach (var mode in new[] { "off", "shadow", "blend", "replace", "replace-hanging" })
        {
            var extra = mode == "replace-hanging" ? ["--GenRec:Mode", "replace", "--GenRec:Hang", "true"] : new[] { "--GenRec:Mode", mode };
            await using var app = RecommendationService.Build([.. args, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default", "Error", .. extra], trained);
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            using var client = new HttpClient { BaseAddress = new Uri(address) };
            await Time(client, users.Take(20).ToArray(), 1);
            var one = await Time(client, users.Take(300).ToArray(), 1);
            var eight = await Time(client, users.Skip(300).Take(300).ToArray(), 8);
            var fallbacks = app.Services.GetService<RecallAdapter>()?.Fallbacks ?? 0;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {mode} | {one.P50:0.00} / {one.P99:0.00} | {eight.P50:0.00} / {eight.P99:0.00} | {eight.Rate:0} | {fallbacks} |"));
            await app.StopAsync();
        }
    }

    private static async Task<(double P50, double P99, double Rate)> Time(HttpClient client, long[] users, int callers)
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
                var response = await client.GetFromJsonAsync<RecommendResponse>($"/recommend/{users[i]}?count=10");
                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (response is not { Items.Count: 10 })
                {
                    throw new InvalidOperationException($"user {users[i]}: expected 10 items.");
                }
            }
        })));
        var rate = users.Length / clock.Elapsed.TotalSeconds;
        Array.Sort(latencies);
        return (latencies[latencies.Length / 2], latencies[(int)Math.Ceiling(0.99 * latencies.Length) - 1], rate);
    }
}
