using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GenRec.SemanticIds;

namespace GenRec.Cli;

/// <summary><c>genrec bench sid</c>: semantic-ID scale on synthetic vectors — fit, assign, lookups, memory.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var items = new Option<int>("--items") { Description = "Synthetic items.", DefaultValueFactory = _ => 1_000_000 };
        var dimension = new Option<int>("--dimension") { Description = "Vector width.", DefaultValueFactory = _ => 64 };
        var levels = new Option<int>("--levels") { Description = "Quantization levels.", DefaultValueFactory = _ => 3 };
        var codes = new Option<int>("--codes") { Description = "Codes per level.", DefaultValueFactory = _ => 256 };
        var rounds = new Option<int>("--rounds") { Description = "Timed rounds per lookup kind.", DefaultValueFactory = _ => 21 };
        var seed = CommonOptions.Seed();
        var sid = new Command("sid", "Fit RQ-KMeans on synthetic clustered vectors, assign new items, time index lookups and measure memory per item.")
        {
            items, dimension, levels, codes, rounds, seed,
        };
        sid.SetAction(parse =>
        {
            var n = parse.GetValue(items);
            var d = parse.GetValue(dimension);
            var r = parse.GetValue(rounds);
            CommonOptions.RequirePositive(n, "--items");
            CommonOptions.RequirePositive(d, "--dimension");
            CommonOptions.RequirePositive(r, "--rounds");
            var results = new Dictionary<string, object> { ["items"] = n, ["dimension"] = d, ["levels"] = parse.GetValue(levels), ["codes"] = parse.GetValue(codes) };

            ConsoleProgress.Status($"generating {n:N0} × {d} clustered vectors");
            var train = Synthetic(n, d, parse.GetValue(seed), idOffset: 0);
            var clock = Stopwatch.StartNew();
            var lastReport = TimeSpan.Zero;
            var trainer = new RqKMeansTrainer(new RqKMeansTrainer.Options
            {
                Levels = parse.GetValue(levels),
                CodebookSize = parse.GetValue(codes),
                Seed = parse.GetValue(seed),
                Progress = new SyncProgress<TokenizerProgress>(p =>
                {
                    if (p.Elapsed - lastReport > TimeSpan.FromSeconds(10) || p.Iteration == 1)
                    {
                        lastReport = p.Elapsed;
                        ConsoleProgress.Status($"rq-kmeans level {p.Level + 1}/{p.Levels}, iteration {p.Iteration}/{p.MaxIterations} ({p.Elapsed.TotalSeconds:0}s)");
                    }
                }),
            });

            var before = Memory();
            var index = trainer.Fit(train);
            results["fit_seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
            results["utilization"] = index.Statistics.Utilization.Select(u => Math.Round(u, 4)).ToArray();
            results["collision_rate_before"] = Math.Round(index.Statistics.CollisionRateBefore, 6);
            var after = Memory();
            GC.KeepAlive(index);
            results["index_bytes_per_item"] = Math.Round((after - before) / (double)n, 1);
            ConsoleProgress.Status($"fit: {results["fit_seconds"]} s; index memory {results["index_bytes_per_item"]} bytes/item");

            ConsoleProgress.Status($"assigning {n:N0} new items");
            var fresh = Synthetic(n, d, parse.GetValue(seed) + 1, idOffset: n);
            clock.Restart();
            var grown = index.AddItems(fresh);
            results["assign_seconds"] = Math.Round(clock.Elapsed.TotalSeconds, 1);
            results["assign_items_per_second"] = Math.Round(n / clock.Elapsed.TotalSeconds);

            // Lookups: r rounds of one pass over a shuffled probe list; median and p99 of the rounds' rates.
            var random = new Random(parse.GetValue(seed));
            var probeItems = Enumerable.Range(0, 1_000_000).Select(_ => grown.Items[random.Next(grown.Count)]).ToArray();
            var probeIds = probeItems.Select(i => grown[i]).ToArray();
            var probeNodes = probeIds.Select(id => grown.Trie.Find(id.ToArray().AsSpan(0, grown.Levels - 1))).ToArray();
            results["item_to_id"] = Rate(r, probeItems.Length, () =>
            {
                long sink = 0;
                foreach (var item in probeItems)
                {
                    sink += grown.TryGetSemanticId(item, out var id) ? id[0] : 0;
                }

                return sink;
            });
            results["id_to_item"] = Rate(r, probeIds.Length, () =>
            {
                long sink = 0;
                foreach (var id in probeIds)
                {
                    sink += grown.TryGetItem(id, out var item) ? item.Value : 0;
                }

                return sink;
            });
            results["valid_next_codes"] = Rate(r, probeNodes.Length, () =>
            {
                long sink = 0;
                foreach (var node in probeNodes)
                {
                    sink += grown.Trie.ValidNext(node).Length;
                }

                return sink;
            });
            results["trie_advance"] = Rate(r, probeIds.Length, () =>
            {
                long sink = 0;
                for (var i = 0; i < probeIds.Length; i++)
                {
                    sink += grown.Trie.TryAdvance(probeNodes[i], probeIds[i][grown.Levels - 1], out var child) ? child : 0;
                }

                return sink;
            });

            Console.WriteLine(JsonSerializer.Serialize(results));
            return Task.FromResult(0);
        });
        var command = new Command("bench", "Measure speed and memory.");
        command.Subcommands.Add(sid);
        command.Subcommands.Add(ServeBench.Create());
        command.Subcommands.Add(HstuBench.Create());
        command.Subcommands.Add(AppendBench.Create());
        command.Subcommands.Add(DecodeBench.Create());
        command.Subcommands.Add(DenseBench.Create());
        command.Subcommands.Add(HardwarePeak.Create());
        command.Subcommands.Add(ReadBench.Create());
        return command;
    }

    /// <summary>Vectors around 4,096 random centres (unit-norm centres, noise 0.3), seeded.</summary>
    internal static ItemEmbeddings Synthetic(int n, int d, int seed, int idOffset)
    {
        var random = new Random(seed);
        const int Centres = 4096;
        var centres = new float[Centres * d];
        for (var i = 0; i < centres.Length; i++)
        {
            centres[i] = (float)Gaussian(random);
        }

        for (var c = 0; c < Centres; c++)
        {
            var row = centres.AsSpan(c * d, d);
            var norm = MathF.Sqrt(row.ToArray().Sum(x => x * x));
            foreach (ref var x in row)
            {
                x /= norm;
            }
        }

        var values = new float[(long)n * d];
        for (var i = 0; i < n; i++)
        {
            var c = random.Next(Centres);
            for (var j = 0; j < d; j++)
            {
                values[((long)i * d) + j] = centres[(c * d) + j] + (0.3f * (float)Gaussian(random) / MathF.Sqrt(d));
            }
        }

        return new ItemEmbeddings(Enumerable.Range(idOffset, n).Select(i => new ItemId(i)).ToArray(), values, d);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    internal static long Memory()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static Dictionary<string, double> Rate(int rounds, int operations, Func<long> round)
    {
        round(); // warm-up
        var rates = new double[rounds];
        for (var i = 0; i < rounds; i++)
        {
            var start = Stopwatch.GetTimestamp();
            GC.KeepAlive(round());
            rates[i] = operations / Stopwatch.GetElapsedTime(start).TotalSeconds;
        }

        Array.Sort(rates);
        // The p99 of a rate is its slow tail: the rate that 99 % of rounds beat.
        return new Dictionary<string, double>
        {
            ["median_per_second"] = Math.Round(rates[rates.Length / 2]),
            ["p99_slow_per_second"] = Math.Round(rates[(int)Math.Floor(0.01 * (rates.Length - 1))]),
            ["median_ns"] = Math.Round(1e9 / rates[rates.Length / 2], 1),
        };
    }
}
