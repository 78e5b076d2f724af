using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using GenRec.Adapters;
using GenRec.TestSupport;
using Orleans.TestingHost;
using StackExchange.Redis;

namespace GenRec.Orleans.Tests;

/// <summary>
/// Chaos on loopback: three silos on a Redis server of their own (append-only file, fsync at every write), 32 callers
/// mixing appends and recommendations through the recall adapter with a cascade recall as its fallback; a silo killed
/// every <c>GENREC_CHAOS_KILL_EVERY</c> seconds (and a new one started), the Redis server killed and restarted once.
/// No request may fail and no acknowledged event may be lost. The short version runs here (30 s, a kill every 10 s,
/// callers pausing 20 ms between iterations); <c>scripts/chaos.sh</c> runs the long one without pauses and writes the
/// report (<c>GENREC_CHAOS_REPORT</c>).
/// </summary>
public sealed class ChaosTests
{
    [Fact]
    public async Task Kills_and_a_Redis_restart_fail_no_request_and_lose_no_acknowledged_event()
    {
        var seconds = Setting("GENREC_CHAOS_SECONDS", 30);
        var killEvery = Setting("GENREC_CHAOS_KILL_EVERY", 10);
        var pause = TimeSpan.FromMilliseconds(Setting("GENREC_CHAOS_PAUSE_MS", 20, allowZero: true)); // callers' think time (the suite shares 2 cores with other tests)
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await RedisTests.StartAsync($"genrec-chaos-{Guid.NewGuid():N}", silos: 3, o => o.MaxEvents = 100_000, redis.Address); // nothing evicted: every acknowledged event stays
        var users = TestUsers.Users(64, minEvents: 80);
        var adapter = new RecallAdapter(
            "chaos",
            new PopularRecall(),
            new UserSessionRecall(cluster.Client, beamWidth: 16),
            new AdapterOptions { Mode = StageMode.Replace, Budget = TimeSpan.FromMilliseconds(300) });
        var report = new ChaosReport();
        var acknowledged = new ConcurrentDictionary<long, ConcurrentBag<string>>();
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));

        var callers = Enumerable.Range(0, 32).Select(c => Task.Run(async () =>
        {
            for (var k = 0; !stop.IsCancellationRequested; k++)
            {
                var (real, events) = users[((c * 2) + k) % users.Count];
                var user = 9_000_000 + real;
                var e = events[k % events.Length] with { EventId = $"{c}-{k}" };
                e = e with { Time = e.Time.AddSeconds(k) };
                var appendStart = Stopwatch.GetTimestamp();
                var appended = await AppendWithRetriesAsync(cluster, user, e, report, clock);
                report.Appended(Stopwatch.GetElapsedTime(appendStart), clock.Elapsed);
                if (appended)
                {
                    acknowledged.GetOrAdd(user, _ => []).Add(e.EventId!);
                }

                var start = Stopwatch.GetTimestamp();
                try
                {
                    var served = await adapter.RecallAsync(new RecommendationRequest(new UserId(user), [], 10, DateTimeOffset.UtcNow), 10);
                    report.Served(Stopwatch.GetElapsedTime(start), clock.Elapsed, fallback: served.All(s => s.Source == "popular"));
                }
                catch (Exception error)
                {
                    report.Failed(error);
                }

                if (pause > TimeSpan.Zero)
                {
                    await Task.Delay(pause);
                }
            }
        })).ToArray();

        // The faults: a silo (never the first, which hosts the test cluster's membership) killed and replaced every
        // killEvery seconds; the Redis server killed and restarted (its append-only file replayed) once, half-way.
        var redisRestarted = false;
        var next = killEvery;
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(250);
            var now = clock.Elapsed.TotalSeconds;
            if (!redisRestarted && now >= seconds / 2.0)
            {
                redisRestarted = true;
                report.Fault("Redis killed and restarted", clock.Elapsed);
                await redis.RestartAsync();
            }

            if (now >= next && now < seconds - 5)
            {
                next += killEvery;
                var victim = cluster.Silos.Skip(1).First();
                report.Fault($"silo {victim.Name} killed", clock.Elapsed);
                await cluster.KillSiloAsync(victim);
                await cluster.StartAdditionalSiloAsync();
            }
        }

        await Task.WhenAll(callers);

        // Every acknowledged event is in its user's history.
        var lost = 0;
        foreach (var (user, ids) in acknowledged)
        {
            var history = await RetryAsync(() => cluster.Client.GetGrain<IUserSessionGrain>(user).GetHistoryAsync());
            var held = history.Select(h => h.EventId).ToHashSet();
            lost += ids.Count(id => !held.Contains(id));
        }

        report.Lost = lost;
        report.Acknowledged = acknowledged.Values.Sum(v => v.Count);
        var text = report.ToMarkdown(seconds, killEvery);
        if (Environment.GetEnvironmentVariable("GENREC_CHAOS_REPORT") is { Length: > 0 } path)
        {
            await File.WriteAllTextAsync(path, text);
        }

        TestContext.Current.SendDiagnosticMessage(text);
        Assert.True(report.Failures.IsEmpty, $"{report.Failures.Count} requests failed; first: {report.Failures.FirstOrDefault()}\n{text}");
        Assert.True(report.AppendsFailed == 0, $"{report.AppendsFailed} appends were never acknowledged\n{text}");
        Assert.Equal(0, lost);
        Assert.True(report.Acknowledged > 100, text);
        // Recovered: every session answers generatively again (no budget here; the adapter's depends on the machine's load).
        foreach (var user in acknowledged.Keys.Take(8))
        {
            Assert.Equal(10, (await RetryAsync(() => cluster.Client.GetGrain<IUserSessionGrain>(user).RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 16)))).Items.Count);
        }
    }

    /// <summary>What a caller does when an append fails: retry (appends are idempotent by event id), up to about 30 s.</summary>
    private static async Task<bool> AppendWithRetriesAsync(InProcessTestCluster cluster, long user, BehaviourEvent e, ChaosReport report, Stopwatch clock)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var result = await cluster.Client.GetGrain<IUserSessionGrain>(user).AppendEventsAsync([e]);
                return result.Rejected.Count == 0;
            }
            catch (Exception error) when (attempt < 30)
            {
                report.Retried(clock.Elapsed, error);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 100 * attempt)));
            }
            catch (Exception)
            {
                Interlocked.Increment(ref report.AppendsFailed);
                return false;
            }
        }
    }

    private static async Task<T> RetryAsync<T>(Func<Task<T>> call)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception) when (attempt < 30)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250 * Math.Min(attempt, 4)));
            }
        }
    }

    private static int Setting(string name, int fallback, bool allowZero = false) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && (value > 0 || (allowZero && value == 0)) ? value : fallback;

    /// <summary>The cascade's recall in this test: the most rated items of the training data the user has not met.</summary>
    private sealed class PopularRecall : IRecallStage
    {
        private static readonly ItemId[] Popular = [.. TestData.Split.TrainInteractions.GroupBy(i => i.Item).OrderByDescending(g => g.Count()).Take(200).Select(g => g.Key)];

        public string Name => "popular";

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IReadOnlyList<Candidate>>([.. Popular.Where(i => !request.IsExcluded(i)).Take(count).Select((i, r) => new Candidate(i, -r, Name))]);
    }

    /// <summary>What the callers saw.</summary>
    private sealed class ChaosReport
    {
        public int AppendsFailed;
        private readonly ConcurrentBag<(double Ms, TimeSpan At, bool Fallback)> _requests = [];
        private readonly ConcurrentBag<TimeSpan> _retries = [];
        private readonly ConcurrentBag<(double Ms, TimeSpan At, bool Fallback)> _appends = [];
        private readonly List<(string What, TimeSpan At)> _faults = [];

        public ConcurrentBag<string> Failures { get; } = [];

        public int Lost { get; set; }

        public int Acknowledged { get; set; }

        public int GenerativeAfterLastFault
        {
            get
            {
                var last = _faults.Count == 0 ? TimeSpan.Zero : _faults[^1].At;
                return _requests.Count(r => r.At > last && !r.Fallback);
            }
        }

        public void Served(TimeSpan elapsed, TimeSpan at, bool fallback) => _requests.Add((elapsed.TotalMilliseconds, at, fallback));

        public void Appended(TimeSpan elapsed, TimeSpan at) => _appends.Add((elapsed.TotalMilliseconds, at, false));

        public void Failed(Exception error) => Failures.Add($"{error.GetType().Name}: {error.Message}");

        public void Retried(TimeSpan at, Exception error) => _retries.Add(at);

        public void Fault(string what, TimeSpan at)
        {
            lock (_faults)
            {
                _faults.Add((what, at));
            }
        }

        public string ToMarkdown(int seconds, int killEvery)
        {
            var requests = _requests.ToArray();
            var appends = _appends.ToArray();
            var lines = new List<string>
            {
                string.Create(CultureInfo.InvariantCulture, $"Chaos: {seconds} s, 3 silos, a silo killed every {killEvery} s, Redis (AOF, fsync always) killed and restarted once; 32 callers."),
                "",
                string.Create(CultureInfo.InvariantCulture, $"Served generatively after the last fault: {GenerativeAfterLastFault:N0}."),
                "",
                "| recommendations served | failed | fallbacks | p50 ms | p99 ms | appends acknowledged | p50 / p99 / max ms (retries included) | append retries | appends never acknowledged | acknowledged events lost |",
                "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
                string.Create(CultureInfo.InvariantCulture, $"| {requests.Length:N0} | {Failures.Count} | {requests.Count(r => r.Fallback):N0} | {Percentile(requests, 0.5):0.0} | {Percentile(requests, 0.99):0.0} | {Acknowledged:N0} | {Percentile(appends, 0.5):0.0} / {Percentile(appends, 0.99):0.0} / {appends.Max(a => a.Ms):0} | {_retries.Count:N0} | {AppendsFailed} | {Lost} |"),
                "",
                "| fault | at s | next 10 s: recommendations p50 / p99 ms | fallbacks in them | appends p50 / p99 / max ms | recovered after s (last fallback or append retry before the next fault) |",
                "|---|---:|---|---:|---|---:|",
            };
            for (var f = 0; f < _faults.Count; f++)
            {
                var (what, at) = _faults[f];
                var until = f + 1 < _faults.Count ? _faults[f + 1].At : TimeSpan.MaxValue; // what the next fault caused is its own
                var window = requests.Where(r => r.At >= at && r.At < at + TimeSpan.FromSeconds(10)).ToArray();
                var appendWindow = appends.Where(r => r.At >= at && r.At < at + TimeSpan.FromSeconds(10)).ToArray();
                var troubles = requests.Where(r => r.Fallback && r.At >= at && r.At < until).Select(r => r.At).Concat(_retries.Where(t => t >= at && t < until)).ToArray();
                var recovered = troubles.Length == 0 ? 0 : (troubles.Max() - at).TotalSeconds;
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"| {what} | {at.TotalSeconds:0.0} | {Percentile(window, 0.5):0.0} / {Percentile(window, 0.99):0.0} | {window.Count(r => r.Fallback)} | {Percentile(appendWindow, 0.5):0.0} / {Percentile(appendWindow, 0.99):0.0} / {appendWindow.Select(a => a.Ms).DefaultIfEmpty(double.NaN).Max():0} | {recovered:0.0} |"));
            }

            return string.Join(Environment.NewLine, lines) + Environment.NewLine;
        }

        private static double Percentile((double Ms, TimeSpan At, bool Fallback)[] requests, double q)
        {
            if (requests.Length == 0)
            {
                return double.NaN;
            }

            var sorted = requests.Select(r => r.Ms).Order().ToArray();
            return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        }
    }

    /// <summary>A Redis server of the test's own on a free loopback port, append-only file on, fsync at every write.</summary>
    private sealed class RedisServer : IAsyncDisposable
    {
        private readonly string _folder = Directory.CreateTempSubdirectory("genrec-chaos-redis-").FullName;
        private readonly int _port = FreePort();
        private Process? _process;

        public string Address => $"127.0.0.1:{_port}";

        public static async Task<RedisServer> StartAsync()
        {
            var server = new RedisServer();
            await server.LaunchAsync();
            return server;
        }

        public async Task RestartAsync()
        {
            _process!.Kill();
            await _process.WaitForExitAsync();
            _process.Dispose();
            await Task.Delay(500);
            await LaunchAsync();
        }

        public async ValueTask DisposeAsync()
        {
            if (_process is { HasExited: false })
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }

            _process?.Dispose();
            Directory.Delete(_folder, recursive: true);
        }

        private async Task LaunchAsync()
        {
            var start = new ProcessStartInfo("redis-server", ["--port", _port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", _folder, "--appendonly", "yes", "--appendfsync", "always", "--save", ""])
            {
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            try
            {
                _process = Process.Start(start)!;
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                Assert.Fail($"This test starts its own redis-server (Debian's redis-server package; .ci/run installs it): {e.Message}");
            }

            _process.OutputDataReceived += (_, _) => { };
            _process.BeginOutputReadLine();
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    await using var connection = await ConnectionMultiplexer.ConnectAsync(Address);
                    await connection.GetDatabase().PingAsync();
                    return;
                }
                catch (Exception e) when (attempt < 600 && (e is RedisConnectionException || e.Message.StartsWith("LOADING", StringComparison.Ordinal)))
                {
                    // Not listening yet, or replaying its append-only file.
                    await Task.Delay(100);
                }
            }
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
    }
}
