using System.Diagnostics;
using System.Net;
using GenRec.Data;
using GenRec.Inference;
using GenRec.Models;
using GenRec.Orleans;
using GenRec.SemanticIds;
using GenRec.Training.Onnx;
using GenRec.Training;
using GenRec;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// A GenRec cluster on one machine. `prepare` builds the semantic-ID index and a small generative model once;
// `silo` starts a silo (start it several times with other ports to grow the cluster); `client` streams MovieLens
// events in time order into user sessions and asks for recommendations; `demo` does all of it in one process.
var command = args.FirstOrDefault() ?? "demo";
var options = Options.Parse(args.Skip(1).ToArray());
var data = Path.Combine(AppContext.BaseDirectory, "data", "movielens-small", "ratings.csv.gz");
switch (command)
{
    case "prepare":
        Prepare(data, options.Folder);
        return 0;
    case "silo":
        await RunSiloAsync(options, CancellationToken.None);
        return 0;
    case "client":
        return await RunClientAsync(options, data);
    case "demo":
        Prepare(data, options.Folder);
        using (var stop = new CancellationTokenSource())
        {
            var silos = new[] { options with { SiloPort = 11111, GatewayPort = 30000 }, options with { SiloPort = 11112, GatewayPort = 30001 } }
                .Select(o => RunSiloAsync(o, stop.Token)).ToArray();
            await Task.Delay(TimeSpan.FromSeconds(3));
            var status = await RunClientAsync(options with { Gateways = [30000, 30001] }, data);
            await stop.CancelAsync();
            await Task.WhenAll(silos);
            return status;
        }

    case "bench":
        var users = options.Users == 100 ? 10_000 : options.Users;
        if (users < ClusterBench.MinimumUsers)
        {
            Console.Error.WriteLine($"error: bench needs at least {ClusterBench.MinimumUsers:N0} users (--users {users}): it times {ClusterBench.MinimumUsers:N0} of them.");
            return 2;
        }

        Prepare(data, options.Folder);
        await ClusterBench.RunAsync(data, options with { Users = users }, RunSiloAsync);
        return 0;

    case "bench-ingest":
        Prepare(data, options.Folder);
        await ClusterBench.RunIngestAsync(data, options, RunSiloAsync);
        return 0;

    case "bench-append":
        Prepare(data, options.Folder);
        await ClusterBench.RunAppendAsync(data, options, RunSiloAsync);
        return 0;

    case "bench-index":
        Prepare(data, options.Folder);
        await ClusterBench.RunIndexAsync(options with { Users = options.Users == 100 ? 10_000_000 : options.Users }, RunSiloAsync);
        return 0;

    case "bench-runners":
        Prepare(data, options.Folder);
        PrepareHstu(data, options.Folder);
        await ClusterBench.RunRunnersAsync(data, options with { Users = options.Users == 100 ? 2_000 : options.Users }, RunSiloAsync);
        return 0;

    default:
        Console.Error.WriteLine("usage: GenRec.OrleansCluster [prepare|silo|client|demo|bench|bench-ingest|bench-append|bench-index|bench-runners] [--port N] [--gateway N] [--primary N] [--gateways N,N] [--users N] [--redis host:port] [--folder dir]");
        return 2;
}

static void Prepare(string data, string folder)
{
    var modelPath = Path.Combine(folder, "model");
    if (File.Exists(Path.Combine(modelPath, "manifest.json")))
    {
        Console.WriteLine($"model and index ready in {folder}");
        return;
    }

    var clock = Stopwatch.StartNew();
    Console.WriteLine("preparing: item2vec → RQ-KMeans semantic IDs, then a small TIGER (8 epochs), exported to ONNX");
    var split = LeaveOneOutSplit.Create(MovieLensReader.Read(data));
    var index = PrepareIndex(split, folder);
    using var model = new TigerTrainer(new TigerTrainer.Options
    {
        Epochs = 8,
        EvaluationUsers = 100,
        Progress = new Progress<TigerTrainingProgress>(p => Console.WriteLine($"  epoch {p.Epoch}: loss {p.Loss:0.000}{(p.ValidationNdcg10 is { } v ? $", validation NDCG@10 {v:0.0000}" : "")}")),
    }).Fit(split, index);
    TigerOnnxExporter.Export(model, modelPath);
    Console.WriteLine($"model and index ready in {folder} ({clock.Elapsed.TotalSeconds:0} s)");
}

// The semantic-ID index (item2vec → RQ-KMeans 3 × 256): the catalogue every session checks events against.
static SemanticIdIndex PrepareIndex(DataSplit split, string folder)
{
    var path = ModelFolderLayout.IndexPath(folder);
    if (File.Exists(path))
    {
        return SemanticIdIndex.Load(path);
    }

    var embeddings = new Item2VecTrainer(dimension: 64, epochs: 5).Fit(split.Train, split.Dataset.Catalogue).Normalized();
    var index = new RqKMeansTrainer(levels: 3, codebookSize: 256).Fit(embeddings);
    Directory.CreateDirectory(folder);
    index.Save(path);
    return index;
}

// The HSTU ranker of bench-runners: one epoch (latency does not depend on the weights), d 64, history 50, item side
// features, no cross features (the silos then need no ICandidateFeatures), exported to ONNX.
static void PrepareHstu(string data, string folder)
{
    var hstuPath = Path.Combine(folder, "hstu");
    if (File.Exists(Path.Combine(hstuPath, "manifest.json")))
    {
        Console.WriteLine($"HSTU ready in {hstuPath}");
        return;
    }

    var clock = Stopwatch.StartNew();
    Console.WriteLine("preparing: an HSTU ranker (one epoch), exported to ONNX");
    var split = LeaveOneOutSplit.Create(MovieLensReader.Read(data));
    PrepareIndex(split, folder);
    using var model = new HstuTrainer(new HstuTrainer.Options
    {
        Epochs = 1,
        Progress = new Progress<HstuTrainingProgress>(p => Console.WriteLine($"  epoch {p.Epoch}, step {p.Step}/{p.Steps}: sequence loss {p.SequenceLoss:0.000}")),
    }).Fit(split);
    HstuOnnxExporter.Export(model, hstuPath);
    Console.WriteLine($"HSTU ready in {hstuPath} ({clock.Elapsed.TotalSeconds:0} s)");
}

static async Task RunSiloAsync(Options o, CancellationToken stop)
{
    await RunSiloCoreAsync(o, stop, null);
}

static async Task RunSiloCoreAsync(Options o, CancellationToken stop, Action<GenRecOrleansOptions>? tune)
{
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Warning).AddFilter("GenRec", LogLevel.Information);
    builder.UseOrleans(silo =>
    {
        silo.AddGenRecGrains(g =>
        {
            g.IndexPath = ModelFolderLayout.IndexPath(o.Folder);
            g.ModelPath = Path.Combine(o.Folder, "model");
            g.ModelRunners = o.ModelRunners;
            if (o.Hstu)
            {
                g.HstuModelPath = Path.Combine(o.Folder, "hstu");
            }

            g.Catalogue = o.Catalogue;
            tune?.Invoke(g);
        });
        if (o.ModelRunners)
        {
            silo.UseGenRecModelRunnerRole(o.RunsModels);
        }

        if (o.IngestStream is { } stream)
        {
            silo.UseGenRecRedisIngestion(i =>
            {
                i.ConnectionString = o.IngestRedis ?? "localhost:6379";
                i.Stream = stream;
                i.Consumer = $"silo-{o.SiloPort}";
            });
        }

        if (o.Redis is { } redis)
        {
            silo.UseGenRecRedis(redis);
            silo.Configure<Orleans.Configuration.EndpointOptions>(e =>
            {
                e.SiloPort = o.SiloPort;
                e.GatewayPort = o.GatewayPort;
                e.AdvertisedIPAddress = IPAddress.Loopback;
            });
        }
        else
        {
            silo.UseLocalhostClustering(o.SiloPort, o.GatewayPort, new IPEndPoint(IPAddress.Loopback, o.PrimaryPort), o.ServiceId);
            if (o.StorageRedis is { } storage)
            {
                silo.UseGenRecRedisStorage(storage);
            }
            else
            {
                silo.UseInMemoryGenRecStorage();
            }
        }
    });
    using var host = builder.Build();
    await host.StartAsync(stop);
    Console.WriteLine($"silo up: port {o.SiloPort}, gateway {o.GatewayPort} ({(o.Redis is null ? $"localhost clustering, primary {o.PrimaryPort}, {(o.StorageRedis is null ? "in-memory storage" : $"storage in Redis {o.StorageRedis}")}" : $"Redis {o.Redis}")}); Ctrl+C stops it");
    try
    {
        await Task.Delay(Timeout.Infinite, stop);
    }
    catch (OperationCanceledException)
    {
        // Stopping.
    }

    await host.StopAsync(CancellationToken.None);
}

static async Task<int> RunClientAsync(Options o, string data)
{
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.UseOrleansClient(client =>
    {
        if (o.Redis is { } redis)
        {
            client.UseGenRecRedisClustering(redis);
        }
        else
        {
            client.UseLocalhostClustering(o.Gateways);
        }
    });
    using var host = builder.Build();
    await host.StartAsync();
    var grains = host.Services.GetRequiredService<IClusterClient>();
    var dataset = MovieLensReader.Read(data);
    var users = dataset.Users.Take(o.Users).ToHashSet();
    var events = dataset.Interactions.Where(i => users.Contains(i.User)).Order(Interaction.Chronological).ToArray();
    Console.WriteLine($"streaming {events.Length:N0} MovieLens events of {users.Count} users in time order");

    // Consecutive events of a user go in one call (up to 20): the order within a user is the time order.
    var clock = Stopwatch.StartNew();
    var pending = new Dictionary<UserId, List<BehaviourEvent>>();
    var calls = new List<Task<AppendResult>>();
    long stored = 0, rejected = 0, sent = 0, report = 10_000;
    async Task FlushAsync(UserId user)
    {
        var batch = pending[user].ToArray();
        pending[user].Clear();
        calls.Add(grains.GetGrain<IUserSessionGrain>(user.Value).AppendEventsAsync(batch));
        sent += batch.Length;
        if (calls.Count >= 64)
        {
            foreach (var r in await Task.WhenAll(calls))
            {
                stored += r.Stored;
                rejected += r.Rejected.Count;
            }

            calls.Clear();
        }
    }

    foreach (var e in events)
    {
        var list = pending.TryGetValue(e.User, out var l) ? l : pending[e.User] = [];
        list.Add(new BehaviourEvent(e.Item.Value, ActionType.Rate, e.Time, e.Rating));
        if (list.Count == 20)
        {
            await FlushAsync(e.User);
        }

        if (sent >= report)
        {
            Console.WriteLine($"  {sent:N0} events sent, {sent / clock.Elapsed.TotalSeconds:N0}/s");
            report += 10_000;
        }
    }

    foreach (var user in pending.Keys.Where(u => pending[u].Count > 0).ToArray())
    {
        await FlushAsync(user);
    }

    foreach (var r in await Task.WhenAll(calls))
    {
        stored += r.Stored;
        rejected += r.Rejected.Count;
    }

    Console.WriteLine($"stored {stored:N0} events ({rejected} rejected) in {clock.Elapsed.TotalSeconds:0.0} s: {stored / clock.Elapsed.TotalSeconds:N0} events/s");
    foreach (var user in users.Take(3))
    {
        var session = grains.GetGrain<IUserSessionGrain>(user.Value);
        var history = await session.GetHistoryAsync();
        var result = await session.RecommendAsync(new RecommendQuery(Count: 5));
        Console.WriteLine($"user {user}: {history.Count} events, last: {Title(dataset, history[^1].Item)}");
        foreach (var item in result.Items)
        {
            Console.WriteLine($"  {item.Score,8:0.00}  {Title(dataset, item.Item)}");
        }
    }

    await host.StopAsync();
    return stored > 0 ? 0 : 1;
}

static string Title(InteractionDataset dataset, long item) =>
    dataset.Items.TryGetValue(new ItemId(item), out var record) ? record.Text : $"item {item}";

/// <summary>Command-line options.</summary>
/// <param name="Hstu">The silo serves the HSTU ranker in the folder's <c>hstu</c> (bench-runners).</param>
/// <param name="ModelRunners">Sessions send HSTU ranking and generative retrieval to model runner grains (GenRecOrleansOptions.ModelRunners).</param>
/// <param name="RunsModels">This silo is marked as a model runner.</param>
/// <param name="IngestRedis">The Redis server of <paramref name="IngestStream"/> (bench-ingest).</param>
/// <param name="IngestStream">The silo ingests behaviour events from this Redis stream (bench-ingest).</param>
/// <param name="StorageRedis">With localhost clustering: the grains' storage is this Redis server instead of memory (bench-append, bench-ingest).</param>
/// <param name="ServiceId">With localhost clustering: the service id (what Redis storage keys are named after).</param>
/// <param name="Catalogue">The catalogue the silos serve (bench-index uses its own).</param>
internal sealed record Options(int SiloPort, int GatewayPort, int PrimaryPort, int[] Gateways, int Users, string? Redis, string Folder, bool Hstu = false, bool ModelRunners = false, bool RunsModels = false, string? IngestRedis = null, string? IngestStream = null, string? StorageRedis = null, string ServiceId = "dev", string Catalogue = "default")
{
    public static Options Parse(string[] args)
    {
        string? Value(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        int Int(string name, int fallback) => Value(name) is { } v ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
        return new Options(
            Int("--port", 11111),
            Int("--gateway", 30000),
            Int("--primary", 11111),
            Value("--gateways") is { } g ? g.Split(',').Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).ToArray() : [30000],
            Int("--users", 100),
            Value("--redis"),
            Value("--folder") ?? Path.Combine("out", "cluster"));
    }
}
