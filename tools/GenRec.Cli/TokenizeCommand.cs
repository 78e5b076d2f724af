using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GenRec.Data;
using GenRec.Embeddings;
using GenRec.SemanticIds;
using GenRec.Training;

namespace GenRec.Cli;

/// <summary>Builds the item embeddings the tokenizers read, with progress on standard error.</summary>
internal static class EmbeddingBuilder
{
    public static readonly string[] Kinds = ["content", "collaborative", "both"];

    /// <summary>The item2vec epochs of the collaborative embeddings unless told otherwise (<see cref="Item2VecTrainer.Options.Epochs"/>).</summary>
    public static readonly int DefaultItem2VecEpochs = new Item2VecTrainer.Options().Epochs;

    public static ItemEmbeddings Build(string kind, DataSplit split, string? cacheFolder, int seed, int item2VecEpochs, CancellationToken ct) => kind switch
    {
        "content" => Content(split, cacheFolder, ct),
        "collaborative" => Collaborative(split, seed, item2VecEpochs, ct),
        "both" => Content(split, cacheFolder, ct).Concat(Collaborative(split, seed, item2VecEpochs, ct)),
        _ => throw new UsageException($"unknown embedding '{kind}'; known: {string.Join(", ", Kinds)}."),
    };

    public static ItemEmbeddings Content(DataSplit split, string? cacheFolder, CancellationToken ct)
    {
        var items = split.Dataset.Catalogue.Select(i => split.Dataset.Items[i]).ToArray();
        var cache = cacheFolder is null ? null : Path.Combine(cacheFolder, $"content-minilm-{items.Length}.emb");
        if (cache is not null && File.Exists(cache))
        {
            var cached = ItemEmbeddingsFile.Load(cache, ContentEmbedder.SourceName);
            if (cached.Count == items.Length && items.All(i => cached.Contains(i.Id)))
            {
                ConsoleProgress.Status($"content embeddings: {cached.Count} items from {cache}");
                return cached.Subset(items.Select(i => i.Id).ToArray());
            }
        }

        using var embedder = new ContentEmbedder();
        ConsoleProgress.Status($"content embeddings: all-MiniLM-L6-v2 on ONNX Runtime {embedder.ExecutionProvider}{(embedder.FallbackReason is { } why ? $" ({why})" : string.Empty)}");
        var progress = new ConsoleProgress("embed items", "items");
        var embeddings = embedder.Embed(items, new SyncProgress<EmbeddingProgress>(p => progress.Report(new(p.Done, p.Total, p.Elapsed))), ct);
        if (cache is not null)
        {
            ItemEmbeddingsFile.Save(embeddings, cache, ContentEmbedder.SourceName);
            ConsoleProgress.Status($"cached content embeddings in {cache}");
        }

        return embeddings;
    }

    private static ItemEmbeddings Collaborative(DataSplit split, int seed, int epochs, CancellationToken ct)
    {
        ConsoleProgress.Status("collaborative embeddings: item2vec on the train part");
        var trainer = new Item2VecTrainer(new Item2VecTrainer.Options
        {
            Seed = seed,
            Epochs = epochs,
            Progress = new SyncProgress<EpochProgress>(p => ConsoleProgress.Status($"item2vec epoch {p.Epoch}/{p.Epochs}: loss {p.Loss:0.0000} ({p.Elapsed.TotalSeconds:0.0}s)")),
        });
        return trainer.Fit(split.Train, split.Dataset.Catalogue, ct).Normalized();
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread, in order.</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

/// <summary><c>genrec tokenize</c>: item embeddings → RQ-KMeans or RQ-VAE → a semantic-ID index file.</summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var data = CommonOptions.Data();
        var embedding = new Option<string>("--embedding") { Description = "content, collaborative or both.", DefaultValueFactory = _ => "content" };
        embedding.AcceptOnlyFromAmong(EmbeddingBuilder.Kinds);
        var method = new Option<string>("--method") { Description = "rqkmeans or rqvae.", DefaultValueFactory = _ => "rqkmeans" };
        method.AcceptOnlyFromAmong("rqkmeans", "rqvae");
        var levels = new Option<int>("--levels") { Description = "Quantization levels (the semantic ID has one more code).", DefaultValueFactory = _ => 3 };
        var codes = new Option<int>("--codes") { Description = "Codes per level.", DefaultValueFactory = _ => 256 };
        var noBalance = new Option<bool>("--no-balance") { Description = "RQ-KMeans: plain nearest-centroid assignment instead of balanced." };
        var epochs = new Option<int>("--epochs") { Description = "RQ-VAE: training epochs.", DefaultValueFactory = _ => 200 };
        var item2VecEpochs = new Option<int>("--item2vec-epochs") { Description = "Collaborative embeddings: item2vec epochs over the train part.", DefaultValueFactory = _ => EmbeddingBuilder.DefaultItem2VecEpochs };
        var cache = new Option<string?>("--cache") { Description = "A folder to cache content embeddings in (they take a minute or two to compute)." };
        var output = new Option<string>("--out") { Description = "The index file to write.", Required = true };
        var seed = CommonOptions.Seed();
        var coldStart = CommonOptions.ColdStart();
        var coldSeed = CommonOptions.ColdSeed();
        var coldTuning = CommonOptions.ColdTuning();
        var command = new Command("tokenize", "Embed the catalogue, train a semantic-ID tokenizer and write the index; prints its statistics as JSON on the last line.")
        {
            data, embedding, method, levels, codes, noBalance, epochs, item2VecEpochs, cache, output, coldStart, coldSeed, coldTuning, seed,
        };
        command.SetAction((parse, ct) =>
        {
            var l = parse.GetValue(levels);
            var k = parse.GetValue(codes);
            CommonOptions.RequirePositive(l, "--levels");
            CommonOptions.RequirePositive(k, "--codes");
            CommonOptions.RequirePositive(parse.GetValue(epochs), "--epochs");
            CommonOptions.RequirePositive(parse.GetValue(item2VecEpochs), "--item2vec-epochs");
            var split = CommonOptions.Load(DataSource.Required(parse, data), null, parse.GetValue(coldStart), parse.GetValue(coldSeed), parse.GetValue(coldTuning)).Split;
            var clock = Stopwatch.StartNew();
            var kind = parse.GetValue(embedding)!;
            var embeddings = EmbeddingBuilder.Build(kind, split, parse.GetValue(cache), parse.GetValue(seed), parse.GetValue(item2VecEpochs), ct);
            ConsoleProgress.Status($"{kind} embeddings: {embeddings.Count} items × {embeddings.Dimension} ({clock.Elapsed.TotalSeconds:0.0}s)");
            var embeddingSeconds = clock.Elapsed.TotalSeconds;

            var name = parse.GetValue(method)!;
            SemanticIdIndex index;
            if (name == "rqkmeans")
            {
                var lastLevel = -1;
                index = new RqKMeansTrainer(new RqKMeansTrainer.Options
                {
                    Levels = l,
                    CodebookSize = k,
                    Balanced = !parse.GetValue(noBalance),
                    Seed = parse.GetValue(seed),
                    Progress = new SyncProgress<TokenizerProgress>(p =>
                    {
                        if (p.Level != lastLevel || p.Iteration % 5 == 0)
                        {
                            lastLevel = p.Level;
                            ConsoleProgress.Status($"rq-kmeans level {p.Level + 1}/{p.Levels}, iteration {p.Iteration}/{p.MaxIterations} ({p.Elapsed.TotalSeconds:0.0}s)");
                        }
                    }),
                }).Fit(embeddings, ct);
            }
            else
            {
                var total = parse.GetValue(epochs);
                index = new RqVaeTrainer(new RqVaeTrainer.Options
                {
                    Levels = l,
                    CodebookSize = k,
                    Epochs = total,
                    Seed = parse.GetValue(seed),
                    Progress = new SyncProgress<EpochProgress>(p =>
                    {
                        if (p.Epoch == 1 || p.Epoch % Math.Max(1, total / 10) == 0 || p.Epoch == total)
                        {
                            ConsoleProgress.Status($"rq-vae epoch {p.Epoch}/{p.Epochs}: loss {p.Loss:0.000000} ({p.Elapsed.TotalSeconds:0.0}s)");
                        }
                    }),
                }).Fit(embeddings, ct);
            }

            var path = parse.GetValue(output)!;
            index.Save(path);
            ConsoleProgress.Status($"wrote semantic-ID index version {index.Version} ({index.Count} items, {new FileInfo(path).Length:N0} bytes) to {path}");
            var s = index.Statistics;
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["embedding"] = kind,
                ["method"] = name,
                ["items"] = s.Items,
                ["dimension"] = embeddings.Dimension,
                ["levels"] = l,
                ["codes"] = k,
                ["collision_rate_before"] = Math.Round(s.CollisionRateBefore, 6),
                ["collision_rate_after"] = Math.Round(s.CollisionRateAfter, 6),
                ["max_items_per_tuple"] = s.MaxItemsPerTuple,
                ["utilization"] = s.Utilization.Select(u => Math.Round(u, 4)).ToArray(),
                ["perplexity"] = s.Perplexity.Select(p => Math.Round(p, 2)).ToArray(),
                ["reconstruction_mse"] = Math.Round(s.ReconstructionMse, 8),
                ["embedding_seconds"] = Math.Round(embeddingSeconds, 1),
                ["tokenizer_seconds"] = Math.Round(clock.Elapsed.TotalSeconds - embeddingSeconds, 1),
            }));
            return Task.FromResult(0);
        });
        return command;
    }
}

/// <summary><c>genrec index inspect</c>: what an index file holds, and one item's semantic ID round-tripped.</summary>
internal static class IndexCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("index-file") { Description = "The semantic-ID index file." };
        var item = new Option<long?>("--item") { Description = "Show this item's semantic ID and map it back." };
        var id = new Option<string?>("--id") { Description = "Show the item of this semantic ID, e.g. \"12,200,7,0\"." };
        var data = new Option<string?>("--data") { Description = "The ratings file (or --events with --schema), to show item texts." };
        var spec = new Option<string?>("--spec") { Description = "Also write what a model exported from PyTorch must agree on with this index (version, fingerprint, vocabulary sizes, every item's codes) as JSON: samples/PyTorch/tiger_export.py reads it." };
        var inspect = new Command("inspect", "Print an index's version, shape and statistics, and round-trip an item's semantic ID.") { file, item, id, data, spec };
        inspect.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            var index = SemanticIdIndex.Load(path);
            var titles = DataSource.Optional(parse, data)?.Read().Dataset.Items;
            string Title(ItemId i) => titles is not null && titles.TryGetValue(i, out var r) ? $" {r.Text} ({r.PublishedAt?.Year.ToString(CultureInfo.InvariantCulture) ?? "?"})" : string.Empty;
            var q = index.Quantizer;
            var s = index.Statistics;
            Console.WriteLine($"{path}: semantic-ID index version {index.Version}, created {index.CreatedAt:u}");
            Console.WriteLine($"  method {q.Method}: {q.InputDimension}-d embeddings → {(q.Encoder.Count > 0 ? $"{q.LatentDimension}-d latent → " : string.Empty)}{q.Levels} levels × {q.CodebookSize} codes + 1 disambiguation code (vocabularies {string.Join("/", index.VocabularySizes)})");
            Console.WriteLine($"  items {index.Count}; trie nodes {index.Trie.NodeCount}; collisions before {s.CollisionRateBefore:P2}, after {s.CollisionRateAfter:P2}; utilization {string.Join(" ", s.Utilization.Select(u => u.ToString("P0", CultureInfo.InvariantCulture)))}; reconstruction MSE {s.ReconstructionMse:0.000000}");
            var items = new List<ItemId>();
            if (parse.GetValue(item) is { } one)
            {
                items.Add(new ItemId(one));
            }

            if (parse.GetValue(id) is { } text)
            {
                var sid = SemanticId.Parse(text);
                if (!index.TryGetItem(sid, out var found))
                {
                    throw new KeyNotFoundException($"no item has the semantic ID {sid} in this index.");
                }

                items.Add(found);
            }

            if (items.Count == 0)
            {
                items.AddRange(index.Items.Take(5));
            }

            if (parse.GetValue(spec) is { } specPath)
            {
                WriteSpec(index, specPath);
                Console.WriteLine($"  wrote {specPath}: fingerprint, vocabularies and the codes of {index.Count} items");
            }

            foreach (var i in items)
            {
                var sid = index[i];
                var back = index[sid];
                Console.WriteLine($"  item {i}{Title(i)} → {sid} → item {back} ({(back == i ? "round-trips" : "MISMATCH")})");
            }

            return 0;
        });
        var command = new Command("index", "Work with semantic-ID index files.");
        command.Subcommands.Add(inspect);
        return command;
    }

    /// <summary>The index as a PyTorch exporter reads it (docs/onnx-contract.md, "Exporting your own PyTorch model").</summary>
    private static void WriteSpec(SemanticIdIndex index, string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var json = new
        {
            format = "genrec-index-spec",
            formatVersion = 1,
            indexVersion = index.Version,
            indexFingerprint = index.Fingerprint,
            vocabularySizes = index.VocabularySizes,
            itemIds = index.Items.Select(i => i.Value),
            items = index.Items.Select(i => index[i].ToArray()),
        };
        File.WriteAllText(path, JsonSerializer.Serialize(json));
    }
}
