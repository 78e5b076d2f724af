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
using StackExchange.Redis;

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
        await using var cluster = await LocalCluster.StartAsync(silos, i => options with { SiloPort = 12111 + i, GatewayPort = 31000 + i, PrimaryPort = 12111 }, startSilo);
        var grains = cluster.Grains;
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
        return line;
    }

    /// <summary>
    /// Model work through the sessions of three silos, side by side in one run: every silo serving its own sessions'
    /// requests, then the sessions sending them to model runner grains on the third silo (marked as the model runner,
    /// as a GPU silo would be). Per setting: the users' 49 events appended, an HSTU ranking of 200 candidates (cold:
    /// the history is encoded), one more event appended and a ranking (the kept state is extended), a ranking again
    /// (the kept state reused); then generative retrieval (top 10, beam 64) cold and warm; 32 callers.
    /// </summary>
    public static async Task RunRunnersAsync(string data, Options options, Func<Options, CancellationToken, Task> startSilo)
    {
        var dataset = MovieLensReader.Read(data);
        var real = dataset.Interactions.GroupBy(i => i.User).Select(g => g.Order(Interaction.Chronological).ToArray()).Where(h => h.Length >= EventsPerUser).ToArray();
        var catalogue = dataset.Catalogue;
        Console.WriteLine($"{options.Users:N0} simulated users, each replaying the last {EventsPerUser} events of one of {real.Length} real MovieLens users; 200 candidates a request; {Environment.ProcessorCount} cores");
        var lines = new List<string>
        {
            "| HSTU ranking on | cold p50 / p99 ms | after an append p50 / p99 ms | state extended | again p50 / p99 ms | state reused | req/s (after an append) |",
            "|---|---|---|---:|---|---:|---:|",
        };
        var generative = new List<string>
        {
            "| generative retrieval on | cold p50 / p99 ms, req/s | warm p50 / p99 ms, req/s | context reused (warm) |",
            "|---|---|---|---:|",
        };
        foreach (var runners in new[] { false, true })
        {
            await using var cluster = await LocalCluster.StartAsync(3, i => options with { SiloPort = 12111 + i, GatewayPort = 31000 + i, PrimaryPort = 12111, Hstu = true, ModelRunners = runners, RunsModels = i == 2 }, startSilo);
            var grains = cluster.Grains;
            var users = Enumerable.Range(1, options.Users).ToArray();
            var random = new Random(7);
            var candidates = users.ToDictionary(u => u, _ => (IReadOnlyList<long>)[.. Enumerable.Range(0, 200).Select(_ => catalogue[random.Next(catalogue.Count)].Value)]);
            BehaviourEvent[] Events(int u) => [.. real[u % real.Length][^EventsPerUser..].Select(e => new BehaviourEvent(e.Item.Value, ActionType.Rate, e.Time, e.Rating))];
            await Task.WhenAll(users.Chunk(InFlight).Select(async chunk =>
            {
                foreach (var u in chunk)
                {
                    await grains.GetGrain<IUserSessionGrain>(u).AppendEventsAsync(Events(u)[..^1]);
                }
            }));
            await grains.GetGrain<IUserSessionGrain>(users[0]).RankWithHstuAsync(candidates[users[0]]); // the ranker loaded

            var cold = await TimeRankingAsync(grains, users, candidates, null);
            var appended = await TimeRankingAsync(grains, users, candidates, u => Events(u)[^1..]);
            var again = await TimeRankingAsync(grains, users, candidates, null);
            var setting = runners ? "the model runner silo (ModelRunners on; sessions on all three)" : "each session's own silo (ModelRunners off)";
            lines.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"| {setting} | {cold.P50:0.00} / {cold.P99:0.00} | {appended.P50:0.00} / {appended.P99:0.00} | {appended.Cached:P0} | {again.P50:0.00} / {again.P99:0.00} | {again.Cached:P0} | {appended.Rate:N0} |"));
            Console.WriteLine($"  {setting}: cold p50 {cold.P50:0.00} ms, after an append {appended.P50:0.00} ms ({appended.Cached:P0} extended), again {again.P50:0.00} ms");
            var (coldGenerative, warmGenerative) = (await TimeGenerativeAsync(grains, users), await TimeGenerativeAsync(grains, users));
            generative.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"| {setting} | {coldGenerative.P50:0.0} / {coldGenerative.P99:0.0}, {coldGenerative.Rate:N0} | {warmGenerative.P50:0.0} / {warmGenerative.P99:0.0}, {warmGenerative.Rate:N0} | {warmGenerative.Cached:P0} |"));
            Console.WriteLine($"  {setting}: generative cold p50 {coldGenerative.P50:0.0} ms, warm {warmGenerative.P50:0.0} ms ({warmGenerative.Cached:P0} reused)");
        }

        Console.WriteLine();
        foreach (var line in lines)
        {
            Console.WriteLine(line);
        }

        Console.WriteLine();
        foreach (var line in generative)
        {
            Console.WriteLine(line);
        }
    }

    /// <summary>Generative RecommendAsync (top 10, beam 64) for every user, 32 callers; the share answered from a kept context.</summary>
    private static Task<(double P50, double P99, double Rate, double Cached)> TimeGenerativeAsync(IClusterClient grains, int[] users) =>
        ClosedLoopAsync(users, Callers, async u => (await grains.GetGrain<IUserSessionGrain>(u).RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 64))).CachedState);

    /// <summary>RankWithHstuAsync for every user (after appending its <paramref name="append"/> events, not timed), 32 callers.</summary>
    private static async Task<(double P50, double P99, double Rate, double Cached)> TimeRankingAsync(IClusterClient grains, int[] users, Dictionary<int, IReadOnlyList<long>> candidates, Func<int, BehaviourEvent[]>? append)
    {
        if (append is not null)
        {
            await Task.WhenAll(users.Chunk(InFlight).Select(async chunk =>
            {
                foreach (var u in chunk)
                {
                    await grains.GetGrain<IUserSessionGrain>(u).AppendEventsAsync(append(u));
                }
            }));
        }

        return await ClosedLoopAsync(users, Callers, async u => (await grains.GetGrain<IUserSessionGrain>(u).RankWithHstuAsync(candidates[u])).CachedState);
    }

    /// <summary>RecommendAsync for every sampled user, <paramref name="callers"/> at a time.</summary>
    private static async Task<(double P50, double P99, double Rate)> TimeAsync(IClusterClient grains, int[] users, int callers)
    {
        var (p50, p99, rate, _) = await ClosedLoopAsync(users, callers, async u => (await grains.GetGrain<IUserSessionGrain>(u).RecommendAsync(new RecommendQuery(Count: 10, BeamWidth: 64))).CachedState);
        return (p50, p99, rate);
    }

    /// <summary>
    /// One call per user from <paramref name="callers"/> closed loops: p50 and p99 latency, calls per second, and the
    /// share of calls whose answer came from kept state (what <paramref name="call"/> returns).
    /// </summary>
    private static async Task<(double P50, double P99, double Rate, double Cached)> ClosedLoopAsync(int[] users, int callers, Func<int, Task<bool>> call)
    {
        var latencies = new double[users.Length];
        var cached = 0;
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < users.Length)
            {
                var start = Stopwatch.GetTimestamp();
                var fromKept = await call(users[i]);
                latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (fromKept)
                {
                    Interlocked.Increment(ref cached);
                }
            }
        })));
        var rate = users.Length / clock.Elapsed.TotalSeconds;
        Array.Sort(latencies);
        return (latencies[latencies.Length / 2], latencies[(int)Math.Ceiling(0.99 * latencies.Length) - 1], rate, cached / (double)users.Length);
    }

    /// <summary>
    /// Ingestion from a Redis stream (bench-ingest): every MovieLens rating, in time order, written to a fresh stream
    /// (pipelined <c>XADD</c>), then ingested by one and by three silos (consumers of one group), the sessions in memory
    /// and in Redis (append-only, durable before the entry is acknowledged); end to end from the first entry written to
    /// the last acknowledged, producer, silos and Redis on the same cores.
    /// The stream's Redis: <c>--redis</c> (default localhost:6379).
    /// </summary>
    public static async Task RunIngestAsync(string data, Options options, Func<Options, CancellationToken, Task> startSilo)
    {
        var redisAddress = options.Redis ?? "localhost:6379";
        var dataset = MovieLensReader.Read(data);
        var events = dataset.Interactions.Order(Interaction.Chronological).ToArray();
        using var redis = await ConnectionMultiplexer.ConnectAsync($"{redisAddress},allowAdmin=true"); // INFO and SCAN
        var db = redis.GetDatabase();
        Console.WriteLine($"{events.Length:N0} MovieLens ratings of {dataset.Users.Count:N0} users, in time order, through a Redis stream at {redisAddress}; {Environment.ProcessorCount} cores");
        var lines = new List<string>
        {
            "| silos | session store | events | written (XADD) events/s | end to end events/s (written → acknowledged) | in the sessions | beyond the sessions' bound (evicted) | dead-lettered |",
            "|---:|---|---:|---:|---:|---:|---:|---:|",
        };
        foreach (var (silos, storage) in new[] { (1, (string?)null), (3, null), (1, redisAddress), (3, redisAddress) })
        {
            var stream = $"genrec:bench:{Guid.NewGuid():N}";
            var serviceId = $"genrec-bench-ingest-{Guid.NewGuid():N}";
            var store = storage is null ? "in memory" : "Redis (append-only)";
            var cluster = await LocalCluster.StartAsync(silos, i => options with { SiloPort = 12111 + i, GatewayPort = 31000 + i, PrimaryPort = 12111, Redis = null, IngestRedis = redisAddress, IngestStream = stream, StorageRedis = storage, ServiceId = serviceId }, startSilo);
            var grains = cluster.Grains;
            await grains.GetGrain<IUserSessionGrain>(0).GetHistoryAsync(); // a silo answers: the index is loaded at the first append

            var clock = Stopwatch.StartNew();
            foreach (var chunk in events.Chunk(2000))
            {
                await Task.WhenAll(chunk.Select(e => db.StreamAddAsync(stream, [
                    new("user", e.User.Value), new("item", e.Item.Value), new("action", nameof(ActionType.Rate)),
                    new("time", e.Time.ToUnixTimeMilliseconds()), new("value", e.Rating.ToString(CultureInfo.InvariantCulture)),
                ])));
            }

            var written = clock.Elapsed.TotalSeconds;
            Console.WriteLine($"  {silos} silo(s), sessions {store}: {events.Length:N0} entries written in {written:0.0} s");
            while (true)
            {
                var info = (await db.StreamGroupInfoAsync(stream)).FirstOrDefault();
                var pending = info.Name is null ? 1 : info.PendingMessageCount + (info.Lag ?? 1);
                if (pending == 0)
                {
                    break;
                }

                if (clock.Elapsed > TimeSpan.FromMinutes(10))
                {
                    throw new TimeoutException($"{pending:N0} entries still not acknowledged after 10 minutes.");
                }

                await Task.Delay(50);
            }

            var elapsed = clock.Elapsed.TotalSeconds;
            var dead = await db.StreamLengthAsync(stream + ":dead");
            long stored = 0;
            foreach (var user in dataset.Users)
            {
                stored += (await grains.GetGrain<IUserSessionGrain>(user.Value).GetHistoryAsync()).Count;
            }

            lines.Add(string.Create(CultureInfo.InvariantCulture, $"| {silos} | {store} | {events.Length:N0} | {events.Length / written:N0} | {events.Length / elapsed:N0} | {stored:N0} | {events.Length - stored - dead:N0} | {dead:N0} |"));
            Console.WriteLine($"  {silos} silo(s), sessions {store}: all acknowledged after {elapsed:0.0} s: {events.Length / elapsed:N0} events/s end to end; {stored:N0} in the sessions, {dead:N0} dead-lettered");
            await cluster.DisposeAsync(); // the silos stop reading before the stream goes
            await db.KeyDeleteAsync([stream, stream + ":dead"]);
            await DeleteKeysAsync(redis, serviceId);
        }

        Console.WriteLine();
        foreach (var line in lines)
        {
            Console.WriteLine(line);
        }
    }

    /// <summary>
    /// What an append costs as the history grows (bench-append), side by side in one run: on one silo, users whose
    /// sessions hold 10 and 1,000 events (real MovieLens items, prefilled and active), then appends of one later event
    /// each from 32 callers, p50 / p99 and appends/s; with the sessions in memory (grain state: each write serializes the
    /// whole session) and in Redis (append-only), with the bytes Redis received per append.
    /// </summary>
    public static async Task RunAppendAsync(string data, Options options, Func<Options, CancellationToken, Task> startSilo)
    {
        const int Users = 400, AppendsPerUser = 20;
        var redisAddress = options.Redis ?? "localhost:6379";
        var catalogue = MovieLensReader.Read(data).Catalogue;
        using var redis = await ConnectionMultiplexer.ConnectAsync($"{redisAddress},allowAdmin=true"); // INFO and SCAN
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        Console.WriteLine($"{Users} users a history length, {Users * AppendsPerUser:N0} one-event appends each from {Callers} callers, one silo; Redis at {redisAddress}; {Environment.ProcessorCount} cores");
        var lines = new List<string>
        {
            "| session store | history | appends/s | p50 ms | p99 ms | bytes to Redis per append |",
            "|---|---:|---:|---:|---:|---:|",
        };
        var p50 = new Dictionary<(string, int), double>();
        foreach (var (store, storage) in new[] { ("in memory (grain state)", (string?)null), ("Redis (append-only)", redisAddress) })
        {
            var serviceId = $"genrec-bench-append-{Guid.NewGuid():N}";
            await using (var cluster = await LocalCluster.StartAsync(1, i => options with { SiloPort = 12111 + i, GatewayPort = 31000 + i, PrimaryPort = 12111, Redis = null, StorageRedis = storage, ServiceId = serviceId }, startSilo))
            {
                var grains = cluster.Grains;
                var random = new Random(11);
                var start = DateTimeOffset.UtcNow.AddDays(-30);
                BehaviourEvent Event(int k) => new(catalogue[random.Next(catalogue.Count)].Value, ActionType.Click, start.AddSeconds(k));
                foreach (var history in new[] { 10, 1000 })
                {
                    var users = Enumerable.Range(history * 10_000, Users).ToArray();
                    var prefill = users.ToDictionary(u => u, _ => Enumerable.Range(0, history).Select(Event).ToArray());
                    await Task.WhenAll(users.Chunk(Users / InFlight + 1).Select(async chunk =>
                    {
                        foreach (var u in chunk)
                        {
                            await grains.GetGrain<IUserSessionGrain>(u).AppendEventsAsync(prefill[u]);
                        }
                    }));

                    var calls = Enumerable.Range(0, Users * AppendsPerUser).OrderBy(_ => random.Next()).ToArray();
                    var appended = calls.Select(c => Event(history + c)).ToArray();
                    var bytesBefore = storage is null ? 0 : NetInputBytes(server);
                    var (callP50, callP99, rate, _) = await ClosedLoopAsync(calls, Callers, async c =>
                    {
                        var result = await grains.GetGrain<IUserSessionGrain>(users[c % Users]).AppendEventsAsync([appended[c]]);
                        return result.Stored == 1 ? true : throw new InvalidOperationException($"An append was not stored: {result}");
                    });
                    var perAppend = storage is null ? "–" : ((NetInputBytes(server) - bytesBefore) / (double)calls.Length).ToString("N0", CultureInfo.InvariantCulture);
                    p50[(store, history)] = callP50;
                    lines.Add(string.Create(CultureInfo.InvariantCulture, $"| {store} | {history:N0} | {rate:N0} | {callP50:0.00} | {callP99:0.00} | {perAppend} |"));
                    Console.WriteLine($"  {store}, history {history:N0}: {rate:N0} appends/s, p50 {callP50:0.00} ms, p99 {callP99:0.00} ms, {perAppend} bytes to Redis per append");
                }
            }

            await DeleteKeysAsync(redis, serviceId);
        }

        Console.WriteLine();
        foreach (var line in lines)
        {
            Console.WriteLine(line);
        }

        foreach (var store in p50.Keys.Select(k => k.Item1).Distinct())
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{store}: p50 at history 1,000 ÷ at 10 = {p50[(store, 1000)] / p50[(store, 10)]:0.00}"));
        }
    }

    /// <summary>
    /// A large catalogue's index (bench-index): a synthetic index of <c>--users</c> items (default 10 M; RQ-KMeans 3 × 256
    /// on 8-dimensional random vectors, fit on 20,000 and the rest added with AddItems) published by a client as 4 MiB
    /// chunks to three silos on Redis, while 8 callers append events; the time until every silo serves it, each silo's
    /// load time, the callers' p50 / p99 and failures meanwhile, and the largest value the publish wrote to Redis.
    /// </summary>
    public static async Task RunIndexAsync(Options options, Func<Options, CancellationToken, Task> startSilo)
    {
        var items = options.Users;
        var redisAddress = options.Redis ?? "localhost:6379";
        const int Dimension = 8, Seeded = 20_000;
        var clock = Stopwatch.StartNew();
        var random = new Random(3);
        float[] Vectors(int n) => [.. Enumerable.Range(0, n * Dimension).Select(_ => (float)random.NextDouble())];
        var v1 = new GenRec.SemanticIds.RqKMeansTrainer(levels: 3, codebookSize: 256).Fit(new GenRec.SemanticIds.ItemEmbeddings([.. Enumerable.Range(1, Seeded).Select(i => new ItemId(i))], Vectors(Seeded), Dimension));
        var added = items - Seeded;
        var withoutV2 = GC.GetTotalMemory(forceFullCollection: true);
        GenRec.SemanticIds.SemanticIdIndex? v2 = v1.AddItems(new GenRec.SemanticIds.ItemEmbeddings([.. Enumerable.Range(Seeded + 1, added).Select(i => new ItemId(i))], Vectors(added), Dimension));
        var count = v2.Count;
        var publisherCopy = GC.GetTotalMemory(forceFullCollection: true) - withoutV2;
        Console.WriteLine($"synthetic index of {count:N0} items made in {clock.Elapsed.TotalSeconds:0} s; {Environment.ProcessorCount} cores");

        var serviceId = $"genrec-bench-index-{Guid.NewGuid():N}";
        const string Catalogue = "synthetic";
        using var redis = await ConnectionMultiplexer.ConnectAsync($"{redisAddress},allowAdmin=true"); // INFO and SCAN
        var loads = new System.Collections.Concurrent.ConcurrentBag<(int Version, double Seconds, TimeSpan At)>();
        var run = Stopwatch.StartNew();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "GenRec" && instrument.Name == "genrec.index.load.duration")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, seconds, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "catalogue" && tag.Value as string == Catalogue)
                {
                    loads.Add((0, seconds, run.Elapsed));
                }
            }
        });
        listener.Start();
        string line;
        await using (var cluster = await LocalCluster.StartAsync(3, i => options with { SiloPort = 12111 + i, GatewayPort = 31000 + i, PrimaryPort = 12111, Redis = null, StorageRedis = redisAddress, ServiceId = serviceId, Catalogue = Catalogue }, startSilo))
        {
            var grains = cluster.Grains;
            var index = grains.GetGrain<ISemanticIdIndexGrain>(Catalogue);
            await index.PublishAsync(v1);
            var users = Enumerable.Range(1, 64).ToArray();
            foreach (var u in users)
            {
                await grains.GetGrain<IUserSessionGrain>(u).AppendEventsAsync([new BehaviourEvent(1 + (u % Seeded), ActionType.Click, DateTimeOffset.UtcNow.AddHours(-1))]);
            }

            while (loads.Count < 3)
            {
                await Task.Delay(50);
            }

            // Callers append events (items of the first version) all through the publish and the loads.
            using var stop = new CancellationTokenSource();
            var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
            var failures = 0;
            var callers = Enumerable.Range(0, 8).Select(c => Task.Run(async () =>
            {
                for (var k = 0; !stop.IsCancellationRequested; k++)
                {
                    var start = Stopwatch.GetTimestamp();
                    try
                    {
                        await grains.GetGrain<IUserSessionGrain>(users[(c * 8) + (k % 8)]).AppendEventsAsync([new BehaviourEvent(1 + ((c * 1000) + k) % Seeded, ActionType.Click, DateTimeOffset.UtcNow.AddMinutes(-1))]);
                        latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    }
                    catch (OrleansException)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
            })).ToArray();

            var memoryBefore = GC.GetTotalMemory(forceFullCollection: true) - publisherCopy; // the silos, before the new version
            var published = run.Elapsed;
            var uploadClock = Stopwatch.StartNew();
            var manifest = await index.PublishAsync(v2, progress: new Progress<int>(n =>
            {
                if (n % 10 == 0)
                {
                    Console.WriteLine($"  {n} chunks uploaded");
                }
            }));
            var upload = uploadClock.Elapsed.TotalSeconds;
            v2 = null; // the silos' copies are what is measured
            Console.WriteLine($"  version 2 published: {manifest.Chunks.Count} chunks of up to {manifest.ChunkBytes / 1024 / 1024} MiB ({manifest.Length / 1e6:N0} MB) in {upload:0.0} s");
            while (loads.Count < 6)
            {
                if (run.Elapsed - published > TimeSpan.FromMinutes(10))
                {
                    throw new TimeoutException("The silos did not load version 2 within 10 minutes.");
                }

                await Task.Delay(50);
            }

            var everySilo = (loads.Max(l => l.At) - published).TotalSeconds;
            await stop.CancelAsync();
            await Task.WhenAll(callers);
            var memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
            var perSilo = loads.OrderBy(l => l.At).Skip(3).Select(l => l.Seconds).ToArray();
            var sorted = latencies.Order().ToArray();
            var (largest, grainState) = await LargestValuesAsync(redis, serviceId);
            line = string.Create(
                CultureInfo.InvariantCulture,
                $"| {count:N0} | {manifest.Length / 1e6:N0} MB, {manifest.Chunks.Count} chunks | {upload:0.0} s | {string.Join(" / ", perSilo.Select(s => s.ToString("0.0", CultureInfo.InvariantCulture)))} s | {everySilo:0.0} s | {sorted.Length:N0}, {failures} failed, p50 {sorted[sorted.Length / 2]:0.0} ms, p99 {sorted[(int)(sorted.Length * 0.99)]:0.0} ms | {largest / 1024.0 / 1024:0.00} MiB | {grainState:N0} B | {(memoryAfter - memoryBefore) / 3 / 1e6:N0} MB |");
        }

        await DeleteKeysAsync(redis, serviceId);
        Console.WriteLine();
        Console.WriteLine("| items | published as | upload (client) | load on each silo (read, check, parse) | publish → every silo serves it | appends meanwhile (8 callers) | largest value written | index grain state | managed memory per silo copy |");
        Console.WriteLine("|---:|---|---:|---|---:|---|---:|---:|---:|");
        Console.WriteLine(line);
    }

    /// <summary>The largest value under a benchmark service's keys (strings and hash fields), and the index grain state's size.</summary>
    private static async Task<(long Largest, long IndexGrainState)> LargestValuesAsync(ConnectionMultiplexer redis, string serviceId)
    {
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var db = redis.GetDatabase();
        long largest = 0, grainState = 0;
        await foreach (var key in server.KeysAsync(pattern: $"*{serviceId}*"))
        {
            long size = await db.KeyTypeAsync(key) switch
            {
                RedisType.String => await db.StringLengthAsync(key),
                RedisType.Hash => (await db.HashGetAllAsync(key)).Select(e => (long)(((byte[]?)e.Value)?.Length ?? 0)).DefaultIfEmpty(0).Max(),
                _ => 0,
            };
            largest = Math.Max(largest, size);
            if (key.ToString().Contains("semanticidindex", StringComparison.OrdinalIgnoreCase))
            {
                grainState = Math.Max(grainState, size);
            }
        }

        return (largest, grainState);
    }

    /// <summary>Deletes a benchmark service's keys (its sessions and grain state).</summary>
    private static async Task DeleteKeysAsync(ConnectionMultiplexer redis, string serviceId)
    {
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        await foreach (var key in server.KeysAsync(pattern: $"*{serviceId}*"))
        {
            await redis.GetDatabase().KeyDeleteAsync(key);
        }
    }

    private static long NetInputBytes(IServer server) =>
        long.Parse(server.Info("stats").SelectMany(g => g).First(p => p.Key == "total_net_input_bytes").Value, CultureInfo.InvariantCulture);

    /// <summary>Silos on this machine (localhost clustering, gateways 31000…) and a client; disposing stops them all.</summary>
    private sealed class LocalCluster : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop;
        private readonly Task[] _silos;
        private readonly IHost _client;

        private LocalCluster(CancellationTokenSource stop, Task[] silos, IHost client)
        {
            (_stop, _silos, _client) = (stop, silos, client);
        }

        public IClusterClient Grains => _client.Services.GetRequiredService<IClusterClient>();

        public static async Task<LocalCluster> StartAsync(int silos, Func<int, Options> siloOptions, Func<Options, CancellationToken, Task> startSilo)
        {
            var stop = new CancellationTokenSource();
            var gateways = Enumerable.Range(0, silos).Select(i => siloOptions(i).GatewayPort).ToArray();
            var running = Enumerable.Range(0, silos).Select(i => startSilo(siloOptions(i), stop.Token)).ToArray();
            await WaitForPortsAsync(gateways);
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.UseOrleansClient(c => c.UseLocalhostClustering(gateways, siloOptions(0).ServiceId));
            var host = builder.Build();
            await host.StartAsync();
            return new LocalCluster(stop, running, host);
        }

        public async ValueTask DisposeAsync()
        {
            await _client.StopAsync();
            _client.Dispose();
            await _stop.CancelAsync();
            await Task.WhenAll(_silos);
            _stop.Dispose();
        }
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
