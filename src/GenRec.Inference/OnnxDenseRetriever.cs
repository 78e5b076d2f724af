using GenRec.Generative;
using GenRec.Models;
using GenRec.SemanticIds;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace GenRec.Inference;

/// <summary>
/// A dense (two-tower) retriever served by ONNX Runtime (a folder from <c>genrec export --kind dense</c>): the request's
/// history vectors go through the user tower graph, and the catalogue's nearest items by inner product are the
/// candidates (exact search, or partitioned by the semantic IDs' first level with <see cref="UsePartitions"/>).
/// Items registered later (<see cref="AddItems"/>) get their vectors from the item tower graph — from their content
/// alone when they have no collaborative ID — and are retrievable at once. CUDA when present (a logged fallback to
/// the CPU). Thread-safe: the catalogue is an immutable version swapped whole when items are added.
/// </summary>
public sealed class OnnxDenseRetriever : IRecallStage, IDisposable
{
    private readonly InferenceSession _user;
    private readonly InferenceSession _item;
    private readonly InferenceSession? _head;
    private readonly Dictionary<ItemId, long> _rows;
    private readonly Lock _gate = new();
    private DenseItemCatalogue _catalogue;

    private OnnxDenseRetriever(DenseOnnxManifest manifest, InferenceSession user, InferenceSession item, InferenceSession? head, DenseItemCatalogue catalogue, ExecutionProviderPreference provider, string name)
    {
        Manifest = manifest;
        _user = user;
        _item = item;
        _head = head;
        _catalogue = catalogue;
        ExecutionProvider = provider;
        Name = name;
        _rows = manifest.TrainedItems.Select((id, i) => (id, row: (long)i + 1)).ToDictionary(p => new ItemId(p.id), p => p.row);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The folder's manifest.</summary>
    public DenseOnnxManifest Manifest { get; }

    /// <summary>Where the graphs run: <see cref="ExecutionProviderPreference.Cuda"/> or <see cref="ExecutionProviderPreference.Cpu"/>.</summary>
    public ExecutionProviderPreference ExecutionProvider { get; }

    /// <summary>The current catalogue: content vectors, item vectors and the index searches run on.</summary>
    public DenseItemCatalogue Catalogue => Volatile.Read(ref _catalogue);

    /// <summary>Loads a served folder.</summary>
    /// <param name="directory">The folder (dense.json, user_tower.onnx, item_tower.onnx, items.emb, content.emb).</param>
    /// <param name="options">ONNX Runtime options; defaults when <see langword="null"/>.</param>
    /// <param name="logger">Where the provider choice is logged.</param>
    /// <param name="name">The stage's name. Default: "dense".</param>
    /// <returns>The retriever.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">A file is missing, damaged or inconsistent, or a graph breaks the contract.</exception>
    public static OnnxDenseRetriever Load(string directory, OnnxRuntimeOptions? options = null, ILogger? logger = null, string name = "dense")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var manifest = DenseOnnxManifest.Load(directory);
        var vectors = ReadVectors(directory, DenseGraphContract.ItemVectorsFile, DenseGraphContract.ItemVectorsSource, manifest.Dimension);
        var content = ReadVectors(directory, DenseGraphContract.ContentFile, manifest.ContentSource, manifest.ContentDimension);
        DenseItemCatalogue catalogue;
        try
        {
            catalogue = DenseItemCatalogue.Create(content, vectors, manifest.TrainedItems.Select(i => new ItemId(i)).ToHashSet());
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"'{directory}': {e.Message}", e);
        }

        var (user, item) = OnnxExecutionProviders.OpenGraphPair(
            options ?? new OnnxRuntimeOptions(), directory, manifest.UserTower.File, manifest.ItemTower.File, "dense retriever", logger ?? NullLogger.Instance, out var provider, out _);
        if (!user.InputMetadata.ContainsKey(DenseGraphContract.History) || !user.InputMetadata.ContainsKey(DenseGraphContract.Valid) || !user.OutputMetadata.ContainsKey(DenseGraphContract.User)
            || user.InputMetadata.ContainsKey(DenseGraphContract.Actions) != manifest.ReadsActions
            || !item.InputMetadata.ContainsKey(DenseGraphContract.Content) || !item.InputMetadata.ContainsKey(DenseGraphContract.Rows) || !item.OutputMetadata.ContainsKey(DenseGraphContract.Vectors))
        {
            user.Dispose();
            item.Dispose();
            throw new InvalidDataException($"The graphs in '{directory}' do not follow the dense retriever contract (see DenseGraphContract; the manifest says the user tower {(manifest.ReadsActions ? "reads" : "does not read")} an '{DenseGraphContract.Actions}' input).");
        }

        InferenceSession? head = null;
        if (manifest.PrefixHead is { } prefixHead)
        {
            head = OnnxExecutionProviders.OpenGraph(options ?? new OnnxRuntimeOptions(), directory, prefixHead.Graph.File, "dense prefix head", logger ?? NullLogger.Instance, out _);
            if (!head.InputMetadata.ContainsKey(DenseGraphContract.User) || !head.InputMetadata.ContainsKey(DenseGraphContract.Prefix) || !head.OutputMetadata.ContainsKey(DenseGraphContract.Queries))
            {
                head.Dispose();
                user.Dispose();
                item.Dispose();
                throw new InvalidDataException($"The prefix head graph in '{directory}' does not follow the dense retriever contract (see DenseGraphContract).");
            }
        }

        return new OnnxDenseRetriever(manifest, user, item, head, catalogue, provider, name);
    }

    /// <summary>
    /// The prefix head's unit queries, row-major [P, d]: for one user vector (<see cref="UserVector"/>) and P prefixes
    /// of the head's length, the query that ranks the items under each prefix (COBRA's dense head).
    /// </summary>
    /// <param name="user">The user's query vector.</param>
    /// <param name="prefixes">Prefixes of <see cref="DensePrefixHeadManifest.Levels"/> codes.</param>
    /// <returns>P × d floats.</returns>
    /// <exception cref="InvalidOperationException">The folder has no prefix head.</exception>
    /// <exception cref="ArgumentException">A prefix has another length, or a code the head does not know.</exception>
    public float[] ConditionedQueries(ReadOnlySpan<float> user, IReadOnlyList<SemanticId> prefixes)
    {
        ArgumentNullException.ThrowIfNull(prefixes);
        var head = Manifest.PrefixHead;
        if (_head is null || head is null)
        {
            throw new InvalidOperationException("This dense retriever has no prefix head: train one with `genrec train dense-head` and export again.");
        }

        if (user.Length != Manifest.Dimension)
        {
            throw new ArgumentException($"The user vector has {user.Length} values; the model's are {Manifest.Dimension}-wide.", nameof(user));
        }

        var codes = new long[prefixes.Count * head.Levels];
        for (var p = 0; p < prefixes.Count; p++)
        {
            if (prefixes[p].Length != head.Levels)
            {
                throw new ArgumentException($"The prefix head reads {head.Levels} codes; prefix {prefixes[p]} has {prefixes[p].Length}.", nameof(prefixes));
            }

            for (var l = 0; l < head.Levels; l++)
            {
                codes[(p * head.Levels) + l] = prefixes[p][l] < head.Vocabulary[l]
                    ? prefixes[p][l]
                    : throw new ArgumentException($"Prefix {prefixes[p]}: code {prefixes[p][l]} at level {l} is beyond the head's {head.Vocabulary[l]} codes.", nameof(prefixes));
            }
        }

        if (prefixes.Count == 0)
        {
            return [];
        }

        using var userValue = OrtValue.CreateTensorValueFromMemory(user.ToArray(), [1, user.Length]);
        using var prefixValue = OrtValue.CreateTensorValueFromMemory(codes, [1, prefixes.Count, head.Levels]);
        using var runOptions = new RunOptions();
        using var outputs = _head.Run(runOptions, [DenseGraphContract.User, DenseGraphContract.Prefix], [userValue, prefixValue], [DenseGraphContract.Queries]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>
    /// The retriever as COBRA's conditioned dense side of <see cref="BeamFusionRecall"/>: the items under each generated
    /// prefix are scored by their inner product with the prefix head's query for it (plus <paramref name="freshOffset"/>
    /// for items without an ID embedding).
    /// </summary>
    /// <param name="vectors">Which item vectors it scores with. Default: <see cref="DenseItemVectors.Full"/>.</param>
    /// <param name="freshOffset">Added to the score of every item without an ID embedding (see <see cref="AsRanker"/>). Default: 0.</param>
    /// <returns>The ranker, named as this retriever.</returns>
    /// <exception cref="InvalidOperationException">The folder has no prefix head.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="freshOffset"/> is not finite.</exception>
    public IPrefixConditionedRanker AsConditionedRanker(DenseItemVectors vectors = DenseItemVectors.Full, double freshOffset = 0)
    {
        if (!double.IsFinite(freshOffset))
        {
            throw new ArgumentOutOfRangeException(nameof(freshOffset), freshOffset, "The fresh items' offset must be a finite number.");
        }

        var head = Manifest.PrefixHead ?? throw new InvalidOperationException("This dense retriever has no prefix head: train one with `genrec train dense-head` and export again.");
        return new ConditionedRanker(this, vectors, freshOffset, head.Levels, head.IndexFingerprint);
    }

    /// <summary>The user tower's query vector after a history (unit length).</summary>
    /// <param name="history">The user's events, oldest first; items the catalogue does not hold are skipped, the last max-history read.</param>
    /// <returns>A vector of the manifest's dimension.</returns>
    public float[] UserVector(IReadOnlyList<UserEvent> history)
    {
        ArgumentNullException.ThrowIfNull(history);
        var catalogue = Catalogue;
        var known = catalogue.KnownHistory(history, Manifest.MaxHistory);
        var (input, valid, t) = catalogue.HistoryInput(known, Manifest.MaxHistory);
        var d = Manifest.Dimension;
        using var historyValue = OrtValue.CreateTensorValueFromMemory(input, [1, t, d]);
        using var validValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, valid.AsMemory(), [1, t]);
        using var runOptions = new RunOptions();
        if (!Manifest.ReadsActions)
        {
            using var outputs = _user.Run(runOptions, [DenseGraphContract.History, DenseGraphContract.Valid], [historyValue, validValue], [DenseGraphContract.User]);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }

        using var actionsValue = OrtValue.CreateTensorValueFromMemory(DenseGraphContract.EncodeActions(known), [1, t]);
        using var withActions = _user.Run(runOptions, [DenseGraphContract.History, DenseGraphContract.Valid, DenseGraphContract.Actions], [historyValue, validValue, actionsValue], [DenseGraphContract.User]);
        return withActions[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>Unit item vectors from the item tower graph (content projection, plus the collaborative ID embedding of an item seen in training).</summary>
    /// <param name="content">The items' content vectors, from the manifest's content source.</param>
    /// <returns>The items' vectors.</returns>
    /// <exception cref="ArgumentException">The content vectors are of another width.</exception>
    public ItemEmbeddings EmbedItems(ItemEmbeddings content) => EmbedItems(content, contentOnly: false);

    /// <summary>
    /// Every item's content-only unit vector (the item tower with no ID embedding, as items registered after training
    /// have), for the current catalogue; computed once per catalogue version.
    /// </summary>
    public ItemEmbeddings ContentOnlyVectors => Catalogue.ContentOnlyVectors(content => EmbedItems(content, contentOnly: true));

    private ItemEmbeddings EmbedItems(ItemEmbeddings content, bool contentOnly)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (content.Dimension != Manifest.ContentDimension)
        {
            throw new ArgumentException($"The model reads {Manifest.ContentDimension}-wide content vectors ({Manifest.ContentSource}); these are {content.Dimension}-wide.", nameof(content));
        }

        var rows = content.Items.Select(i => contentOnly ? 0L : _rows.GetValueOrDefault(i)).ToArray();
        using var contentValue = OrtValue.CreateTensorValueFromMemory(content.Values.ToArray(), [content.Count, content.Dimension]);
        using var rowsValue = OrtValue.CreateTensorValueFromMemory(rows, [rows.Length]);
        using var runOptions = new RunOptions();
        using var outputs = _item.Run(runOptions, [DenseGraphContract.Content, DenseGraphContract.Rows], [contentValue, rowsValue], [DenseGraphContract.Vectors]);
        return new ItemEmbeddings(content.Items, outputs[0].GetTensorDataAsSpan<float>(), Manifest.Dimension);
    }

    /// <summary>
    /// Registers items (new ones, or new content for known ones): their vectors come from the item tower and a new
    /// catalogue version replaces the current one; searches in flight finish on the old one.
    /// </summary>
    /// <param name="content">The items' content vectors, from the manifest's content source.</param>
    /// <param name="ids">For a partitioned index: semantic IDs that include the items.</param>
    /// <exception cref="ArgumentException">The content vectors are of another width.</exception>
    public void AddItems(ItemEmbeddings content, SemanticIdIndex? ids = null)
    {
        var vectors = EmbedItems(content);
        lock (_gate)
        {
            Volatile.Write(ref _catalogue, _catalogue.WithItems(content, vectors, ids));
        }
    }

    /// <summary>Serves searches from an index partitioned by the first code of the items' semantic IDs, scanning <paramref name="probes"/> partitions.</summary>
    /// <param name="ids">Semantic IDs of every item in the catalogue.</param>
    /// <param name="probes">Partitions a search scans.</param>
    public void UsePartitions(SemanticIdIndex ids, int probes)
    {
        ArgumentNullException.ThrowIfNull(ids);
        lock (_gate)
        {
            Volatile.Write(ref _catalogue, _catalogue.WithPartitions(ids, probes));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Catalogue.Recall(request, UserVector(request.History), count, Name));
    }

    /// <summary>
    /// The retriever as a fresh-items recall channel: only items without a collaborative ID embedding (registered
    /// after training with <see cref="AddItems"/>, or never seen in its train part), ranked by inner product with the
    /// user's query vector. Their content-only vectors rarely outrank warm items' in one list, so a channel of their
    /// own, with a quota in a union, is how they reach users on the day they arrive.
    /// </summary>
    /// <param name="name">The channel's name. Default: "dense-new".</param>
    /// <returns>The stage.</returns>
    public IRecallStage AsNewItemsRecall(string name = "dense-new")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return new FreshRecall(this, name);
    }

    /// <summary>
    /// The retriever as a ranking stage: candidates re-scored by inner product with the user's query vector (those
    /// without a vector last), e.g. to order the union of dense and generative candidates.
    /// </summary>
    /// <param name="vectors">Which item vectors it scores with. Default: <see cref="DenseItemVectors.Full"/>.</param>
    /// <param name="freshOffset">
    /// Added to the score of every item without an ID embedding (new since training): the prior correction, chosen on
    /// a cold validation split, that lets such items into one list with the rest. Default: 0.
    /// </param>
    /// <returns>The stage, named as this retriever.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="freshOffset"/> is not finite.</exception>
    public IRankingStage AsRanker(DenseItemVectors vectors = DenseItemVectors.Full, double freshOffset = 0)
    {
        if (!double.IsFinite(freshOffset))
        {
            throw new ArgumentOutOfRangeException(nameof(freshOffset), freshOffset, "The fresh items' offset must be a finite number.");
        }

        return new Ranker(this, vectors, freshOffset);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _user.Dispose();
        _item.Dispose();
        _head?.Dispose();
    }

    private static ItemEmbeddings ReadVectors(string directory, string file, string source, int dimension)
    {
        var path = Path.Combine(directory, file);
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"The dense retriever folder '{directory}' lacks {file}.");
        }

        var vectors = ItemEmbeddingsFile.Load(path, source);
        return vectors.Dimension == dimension
            ? vectors
            : throw new InvalidDataException($"'{path}' holds {vectors.Dimension}-wide vectors; the manifest says {dimension}.");
    }

    private sealed class FreshRecall(OnnxDenseRetriever retriever, string name) : IRecallStage
    {
        public string Name => name;

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(request);
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
            cancellationToken.ThrowIfCancellationRequested();
            var catalogue = retriever.Catalogue;
            return ValueTask.FromResult(catalogue.RecallFresh(request, retriever.UserVector(request.History), count, name));
        }
    }

    private sealed class ConditionedRanker(OnnxDenseRetriever retriever, DenseItemVectors vectors, double freshOffset, int levels, string fingerprint) : IPrefixConditionedRanker
    {
        public string Name => retriever.Name;

        public int PrefixLevels => levels;

        public string IndexFingerprint => fingerprint;

        public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<PrefixCandidates> groups, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(request);
            ArgumentNullException.ThrowIfNull(groups);
            cancellationToken.ThrowIfCancellationRequested();
            if (groups.Count == 0)
            {
                return ValueTask.FromResult<IReadOnlyList<Candidate>>([]);
            }

            var queries = retriever.ConditionedQueries(retriever.UserVector(request.History), [.. groups.Select(g => g.Prefix)]);
            var catalogue = retriever.Catalogue;
            var itemVectors = vectors == DenseItemVectors.ContentOnly ? catalogue.ContentOnlyVectors(content => retriever.EmbedItems(content, contentOnly: true)) : catalogue.Vectors;
            return ValueTask.FromResult(catalogue.RankGroups(queries, [.. groups.Select(g => g.Candidates)], itemVectors, freshOffset));
        }
    }

    private sealed class Ranker(OnnxDenseRetriever retriever, DenseItemVectors vectors, double freshOffset) : IRankingStage
    {
        public string Name => retriever.Name;

        public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(request);
            ArgumentNullException.ThrowIfNull(candidates);
            cancellationToken.ThrowIfCancellationRequested();
            if (candidates.Count == 0)
            {
                return ValueTask.FromResult(candidates);
            }

            var catalogue = retriever.Catalogue;
            var itemVectors = vectors == DenseItemVectors.ContentOnly ? catalogue.ContentOnlyVectors(content => retriever.EmbedItems(content, contentOnly: true)) : catalogue.Vectors;
            return ValueTask.FromResult(catalogue.Rank(retriever.UserVector(request.History), candidates, itemVectors, freshOffset));
        }
    }
}
