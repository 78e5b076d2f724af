using GenRec.Generative;
using GenRec.Models;
using GenRec.SemanticIds;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>
/// A trained two-tower dense retriever (<see cref="DenseRetrievalTrainer"/>) serving the catalogue from an
/// <see cref="ItemVectorIndex"/>: a request's history goes through the user tower, and the items with the largest inner
/// product with its state are the candidates. Items registered after training (<see cref="AddItems"/>) get their vector
/// from their content alone and are retrievable at once. TorchSharp eager, on CUDA when present. Thread-safe: user-tower
/// calls are serialised, and the item catalogue is an immutable snapshot swapped whole when items are added.
/// </summary>
public sealed class DenseRetrievalModel : IDisposable
{
    /// <summary>The folder format written by <see cref="Save"/>.</summary>
    public const string Format = "genrec-dense";

    /// <summary>The folder format version (2 adds the optional prefix head, 3 a user tower that reads actions; version 1 folders still load).</summary>
    public const int FormatVersion = 3;

    /// <summary>The prefix head's weights in the model folder, when the model has one.</summary>
    public const string PrefixHeadFile = "prefix-head.weights";

    /// <summary>The content vectors of the catalogue, saved in the model folder (the item tower's input).</summary>
    public const string ContentFile = "content.emb";

    private readonly DenseRetrievalNetwork _network;
    private readonly Device _device;
    private readonly Dictionary<ItemId, long> _rows;
    private readonly Lock _gate = new();
    private DenseItemCatalogue _catalogue;
    private HeadState? _head;

    internal DenseRetrievalModel(DenseRetrievalNetwork network, IReadOnlyList<ItemId> trainedItems, ItemEmbeddings content, string contentSource, Device device, DenseTrainingReport report)
    {
        _network = network;
        _device = device;
        TrainedItems = trainedItems;
        _rows = trainedItems.Select((item, r) => (item, row: r + 1L)).ToDictionary(p => p.item, p => p.row);
        ContentSource = contentSource;
        Report = report;
        _catalogue = DenseItemCatalogue.Create(content, Embed(content), _rows.Keys.ToHashSet());
    }

    /// <summary>The items that had train interactions (they carry a collaborative ID embedding), by ID-table row − 1.</summary>
    public IReadOnlyList<ItemId> TrainedItems { get; }

    /// <summary>What made the content vectors the item tower reads (e.g. <c>content:all-MiniLM-L6-v2</c>).</summary>
    public string ContentSource { get; }

    /// <summary>Width of the content vectors the item tower reads.</summary>
    public int ContentDimension => _network.Config.ContentDimension;

    /// <summary>Width of item and user vectors.</summary>
    public int Dimension => _network.Config.Dimension;

    /// <summary>History items the user tower reads.</summary>
    public int MaxHistory => _network.Config.MaxHistory;

    /// <summary>Whether the user tower reads each history event's action (<see cref="DenseRetrievalTrainer.Options.ReadActions"/>).</summary>
    public bool ReadsActions => _network.Config.Actions;

    /// <summary>How the model was trained.</summary>
    public DenseTrainingReport Report { get; }

    internal DenseRetrievalNetwork Network => _network;

    internal Device TorchDevice => _device;

    /// <summary>The head and its report as one snapshot (the exporter reads both).</summary>
    internal (PrefixHeadNetwork Network, PrefixHeadReport Report)? Head => Volatile.Read(ref _head) is { } h ? (h.Network, h.Report) : null;

    internal double Temperature => _network.Config.Temperature;

    /// <summary>
    /// How the model's prefix head (COBRA's dense head, <see cref="PrefixHeadTrainer"/>) was trained, or
    /// <see langword="null"/> when it has none.
    /// </summary>
    public PrefixHeadReport? PrefixHead => Volatile.Read(ref _head)?.Report;

    /// <summary>The device it runs on.</summary>
    public string Device => _device.ToString();

    /// <summary>The current catalogue: content vectors, item vectors and the index searches run on.</summary>
    public DenseItemCatalogue Catalogue => Volatile.Read(ref _catalogue);

    /// <summary>Every item's unit vector (the item tower's output), in the current catalogue.</summary>
    public ItemEmbeddings ItemVectors => Catalogue.Vectors;

    /// <summary>
    /// Every item's content-only unit vector (the item tower with no ID embedding, as items registered after training
    /// have), for the current catalogue; computed once per catalogue snapshot. Trained with ID dropout, these put warm
    /// and new items on one scale, where <see cref="ItemVectors"/> favour the items that carry an ID embedding.
    /// </summary>
    public ItemEmbeddings ContentOnlyVectors => Catalogue.ContentOnlyVectors(content => Embed(content, contentOnly: true));

    /// <summary>
    /// Registers items (new ones, or new content for known ones): their vectors come from the item tower — content
    /// projection plus the ID embedding for items seen in training, content alone for the rest — and a new catalogue
    /// snapshot (vectors and index) replaces the current one; searches in flight finish on the old one.
    /// </summary>
    /// <param name="content">The items' content vectors, from the same content model as training (<see cref="ContentSource"/>).</param>
    /// <param name="ids">For a partitioned index (<see cref="UsePartitions"/>): semantic IDs that include the new items.</param>
    /// <exception cref="ArgumentException">The vectors are of another width.</exception>
    public void AddItems(ItemEmbeddings content, SemanticIdIndex? ids = null)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (content.Dimension != ContentDimension)
        {
            throw new ArgumentException($"The model reads {ContentDimension}-wide content vectors ({ContentSource}); these are {content.Dimension}-wide.", nameof(content));
        }

        var added = Embed(content);
        lock (_gate)
        {
            Volatile.Write(ref _catalogue, _catalogue.WithItems(content, added, ids));
        }
    }

    /// <summary>
    /// Serves searches from an index partitioned by the first code of the items' semantic IDs (an inverted file the
    /// tokenizer already defines), scanning <paramref name="probes"/> partitions per query, instead of exact search.
    /// </summary>
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

    /// <summary>The user tower's state after a history (unit length): the query vector.</summary>
    /// <param name="history">The user's events, oldest first; items the catalogue does not hold are skipped, the last <see cref="MaxHistory"/> read.</param>
    /// <returns>A vector of <see cref="Dimension"/> floats.</returns>
    public float[] UserVector(IReadOnlyList<UserEvent> history)
    {
        ArgumentNullException.ThrowIfNull(history);
        var catalogue = Catalogue;
        var known = catalogue.KnownHistory(history, MaxHistory);
        var (input, valid, t) = catalogue.HistoryInput(known, MaxHistory);
        var d = Dimension;
        lock (_gate)
        {
            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            var actions = ReadsActions ? torch.tensor(DenseGraphContract.EncodeActions(known), [1, t], device: _device) : null;
            var users = _network.Users(torch.tensor(input, [1, t, d], device: _device), torch.tensor(valid, [1, t], device: _device), actions);
            return users[0, -1].cpu().data<float>().ToArray();
        }
    }

    /// <summary>The model as a recall stage: candidates scored by inner product with the user state.</summary>
    /// <param name="name">The channel's name. Default: "dense".</param>
    /// <returns>The stage.</returns>
    public IRecallStage AsRecall(string name = "dense") => new Recall(this, name, NewItemsOnly: false);

    /// <summary>
    /// The model as a fresh-items recall channel: only items without a collaborative ID embedding (registered after
    /// training, or never interacted with in its train part) are candidates, ranked by inner product with the user
    /// state. Their content-only vectors rarely outrank warm items' in a single list, so a channel of their own,
    /// with a quota in a union, is how they reach the user.
    /// </summary>
    /// <param name="name">The channel's name. Default: "dense-new".</param>
    /// <returns>The stage.</returns>
    public IRecallStage AsNewItemsRecall(string name = "dense-new") => new Recall(this, name, NewItemsOnly: true);

    /// <summary>
    /// The model as a ranking stage: every candidate re-scored by the inner product of its vector with the user state
    /// (LIGER's ranking of the union of dense and generative candidates). Candidates without a vector keep their place
    /// after the others, with a score of negative infinity.
    /// </summary>
    /// <param name="name">The ranker's name. Default: "dense".</param>
    /// <param name="vectors">Which item vectors it scores with. Default: <see cref="DenseItemVectors.Full"/>.</param>
    /// <param name="freshOffset">
    /// Added to the score of every item without an ID embedding (registered after training, or never seen in its train
    /// part). The model learned from the train part, where such items never occur, so it ranks them below what their
    /// share of real traffic warrants; a positive offset, chosen on a cold validation split, corrects that prior in
    /// one list. Default: 0.
    /// </param>
    /// <returns>The stage.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="freshOffset"/> is not finite.</exception>
    public IRankingStage AsRanker(string name = "dense", DenseItemVectors vectors = DenseItemVectors.Full, double freshOffset = 0)
    {
        if (!double.IsFinite(freshOffset))
        {
            throw new ArgumentOutOfRangeException(nameof(freshOffset), freshOffset, "The fresh items' offset must be a finite number.");
        }

        return new Ranker(this, name, vectors, freshOffset);
    }

    /// <summary>
    /// The model as COBRA's conditioned dense side of <see cref="BeamFusionRecall"/>: for each generated prefix, the
    /// prefix head turns the user's state and the prefix's codes into a query, and the items under the prefix are
    /// scored by their inner product with it (plus <paramref name="freshOffset"/> for items without an ID embedding).
    /// </summary>
    /// <param name="name">The ranker's name. Default: "dense".</param>
    /// <param name="vectors">Which item vectors it scores with. Default: <see cref="DenseItemVectors.Full"/>.</param>
    /// <param name="freshOffset">Added to the score of every item without an ID embedding (see <see cref="AsRanker"/>). Default: 0.</param>
    /// <returns>The ranker.</returns>
    /// <exception cref="InvalidOperationException">The model has no prefix head (train one with <see cref="PrefixHeadTrainer"/>).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="freshOffset"/> is not finite.</exception>
    public IPrefixConditionedRanker AsConditionedRanker(string name = "dense", DenseItemVectors vectors = DenseItemVectors.Full, double freshOffset = 0)
    {
        if (!double.IsFinite(freshOffset))
        {
            throw new ArgumentOutOfRangeException(nameof(freshOffset), freshOffset, "The fresh items' offset must be a finite number.");
        }

        var report = PrefixHead ?? throw new InvalidOperationException("This dense model has no prefix head: train one with PrefixHeadTrainer (`genrec train dense-head`).");
        return new ConditionedRanker(this, name, vectors, freshOffset, report.Levels, report.IndexFingerprint);
    }

    /// <summary>
    /// The prefix head's unit queries, row-major [P, d]: for one user vector (<see cref="UserVector"/>) and P prefixes
    /// of the head's length, the query that ranks the items under each prefix (COBRA's dense head).
    /// </summary>
    /// <param name="user">The user's query vector.</param>
    /// <param name="prefixes">Prefixes of <see cref="PrefixHeadReport.Levels"/> codes.</param>
    /// <returns>P × d floats.</returns>
    /// <exception cref="InvalidOperationException">The model has no prefix head.</exception>
    /// <exception cref="ArgumentException">The user vector has another width, or a prefix another length or a code the head does not know.</exception>
    public float[] ConditionedQueries(float[] user, IReadOnlyList<SemanticId> prefixes)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(prefixes);
        if (user.Length != Dimension)
        {
            throw new ArgumentException($"The user vector has {user.Length} values; the model's are {Dimension}-wide.", nameof(user));
        }

        // Under the gate: a head replaced meanwhile (SetPrefixHead) is disposed under it too.
        lock (_gate)
        {
            var head = _head ?? throw new InvalidOperationException("This dense model has no prefix head: train one with PrefixHeadTrainer (`genrec train dense-head`).");
            var levels = head.Report.Levels;
            var codes = new long[prefixes.Count * levels];
            for (var p = 0; p < prefixes.Count; p++)
            {
                if (prefixes[p].Length != levels)
                {
                    throw new ArgumentException($"The prefix head reads {levels} codes; prefix {prefixes[p]} has {prefixes[p].Length}.", nameof(prefixes));
                }

                for (var l = 0; l < levels; l++)
                {
                    var code = prefixes[p][l];
                    if (code >= head.Network.Config.Vocabulary[l])
                    {
                        throw new ArgumentException($"Prefix {prefixes[p]}: code {code} at level {l} is beyond the head's {head.Network.Config.Vocabulary[l]} codes.", nameof(prefixes));
                    }

                    codes[(p * levels) + l] = code;
                }
            }

            if (prefixes.Count == 0)
            {
                return [];
            }

            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            var queries = head.Network.forward(torch.tensor(user, [1, user.Length], device: _device), torch.tensor(codes, [1, prefixes.Count, levels], device: _device));
            return queries.cpu().data<float>().ToArray();
        }
    }

    /// <summary>Gives the model a trained prefix head, replacing (and disposing) the one it had.</summary>
    internal void SetPrefixHead(PrefixHeadNetwork network, PrefixHeadReport report)
    {
        lock (_gate)
        {
            var old = _head;
            Volatile.Write(ref _head, new HeadState(network, report));
            old?.Network.Dispose();
        }
    }

    /// <summary>Saves the model folder: manifest, weights and the catalogue's content vectors.</summary>
    /// <param name="directory">The folder; created if missing.</param>
    public void Save(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var c = _network.Config;
        var head = Volatile.Read(ref _head);
        var headManifest = head is null ? null : new HeadManifest(head.Network.Config.Vocabulary, head.Network.Config.Hidden, head.Report);
        var manifest = new Manifest(Format, FormatVersion, c.ContentDimension, c.Dimension, c.Layers, c.Heads, c.MlpDimension, c.MaxHistory, c.Dropout, c.Temperature, ContentSource, [.. TrainedItems.Select(i => i.Value)], Report, headManifest, c.Actions);
        var headPath = Path.Combine(directory, PrefixHeadFile);
        Directory.CreateDirectory(directory);
        if (head is null)
        {
            File.Delete(headPath);
        }
        else
        {
            head.Network.save(headPath);
        }

        TorchModelFolder.Save(directory, _network, manifest);
        ItemEmbeddingsFile.Save(Catalogue.Content, Path.Combine(directory, ContentFile), ContentSource);
    }

    /// <summary>Loads a model folder.</summary>
    /// <param name="directory">The folder <see cref="Save"/> wrote.</param>
    /// <param name="device">Where to run it. Default: <see cref="ComputeDevice.Auto"/>.</param>
    /// <returns>The model, serving every item of the saved catalogue from an exact index.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">A file is missing, damaged, or of another format or shape.</exception>
    public static DenseRetrievalModel Load(string directory, ComputeDevice device = ComputeDevice.Auto)
    {
        var (m, manifestPath, weightsPath) = TorchModelFolder.Read<Manifest>(directory, "a dense retrieval model", m => (m.Format, m.FormatVersion), Format, 1, FormatVersion);
        if (m.TrainedItems is null || m.TrainedItems.Distinct().Count() != m.TrainedItems.Length || m.Report is null || string.IsNullOrEmpty(m.ContentSource))
        {
            throw new InvalidDataException($"'{manifestPath}' repeats an item, or lacks its item list, content source or report.");
        }

        var contentPath = Path.Combine(directory, ContentFile);
        if (!File.Exists(contentPath))
        {
            throw new InvalidDataException($"'{directory}' has no {ContentFile}: a dense model folder carries its catalogue's content vectors.");
        }

        var content = ItemEmbeddingsFile.Load(contentPath, m.ContentSource);
        DenseRetrievalConfig config;
        try
        {
            config = new DenseRetrievalConfig(m.TrainedItems.Length + 1, m.ContentDimension, m.Dimension, m.Layers, m.Heads, m.MlpDimension, m.MaxHistory, m.Dropout, m.Temperature, m.ReadsActions);
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"'{manifestPath}' describes an invalid shape: {e.Message}", e);
        }

        if (content.Dimension != config.ContentDimension)
        {
            throw new InvalidDataException($"'{contentPath}' holds {content.Dimension}-wide vectors; the manifest says {config.ContentDimension}.");
        }

        var head = m.PrefixHead is null ? null : LoadHead(directory, manifestPath, m.PrefixHead, config.Dimension);
        var network = new DenseRetrievalNetwork(config);
        TorchModelFolder.LoadWeights(network, weightsPath);
        var target = TorchDevices.Resolve(device);
        network.to(target);
        network.eval();
        var model = new DenseRetrievalModel(network, [.. m.TrainedItems.Select(i => new ItemId(i))], content, m.ContentSource, target, m.Report);
        if (head is not null)
        {
            head.to(target);
            head.eval();
            model.SetPrefixHead(head, m.PrefixHead!.Report);
        }

        return model;
    }

    private static PrefixHeadNetwork LoadHead(string directory, string manifestPath, HeadManifest m, int dimension)
    {
        var path = Path.Combine(directory, PrefixHeadFile);
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"'{manifestPath}' describes a prefix head, but '{directory}' has no {PrefixHeadFile}.");
        }

        PrefixHeadConfig config;
        try
        {
            if (m.Report is null || m.Vocabulary is null || m.Report.Levels != m.Vocabulary.Length || string.IsNullOrEmpty(m.Report.IndexFingerprint))
            {
                throw new ArgumentException("its levels, vocabulary and index fingerprint disagree or are missing");
            }

            config = new PrefixHeadConfig(dimension, m.Vocabulary, m.Hidden);
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"'{manifestPath}' describes an invalid prefix head: {e.Message}", e);
        }

        var head = new PrefixHeadNetwork(config);
        TorchModelFolder.LoadWeights(head, path);
        return head;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _network.Dispose();
        _head?.Network.Dispose();
    }

    /// <summary>The item tower over content vectors: unit vectors of the same items.</summary>
    private ItemEmbeddings Embed(ItemEmbeddings content, bool contentOnly = false)
    {
        lock (_gate)
        {
            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            var rows = content.Items.Select(i => contentOnly ? 0L : _rows.GetValueOrDefault(i)).ToArray();
            var vectors = _network.ItemVectors(
                torch.tensor(content.Values.ToArray(), [content.Count, content.Dimension], device: _device),
                torch.tensor(rows, device: _device));
            return new ItemEmbeddings(content.Items, vectors.cpu().data<float>().ToArray(), Dimension);
        }
    }

    private sealed record Manifest(
        string Format, int FormatVersion, int ContentDimension, int Dimension, int Layers, int Heads, int MlpDimension, int MaxHistory, double Dropout, double Temperature,
        string ContentSource, long[] TrainedItems, DenseTrainingReport Report, HeadManifest? PrefixHead = null, bool ReadsActions = false);

    private sealed record HeadManifest(int[] Vocabulary, int Hidden, PrefixHeadReport Report);

    private sealed record HeadState(PrefixHeadNetwork Network, PrefixHeadReport Report);

    private sealed class ConditionedRanker(DenseRetrievalModel model, string name, DenseItemVectors vectors, double freshOffset, int levels, string fingerprint) : IPrefixConditionedRanker
    {
        public string Name => name;

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

            var queries = model.ConditionedQueries(model.UserVector(request.History), [.. groups.Select(g => g.Prefix)]);
            var catalogue = model.Catalogue;
            var itemVectors = vectors == DenseItemVectors.ContentOnly ? catalogue.ContentOnlyVectors(content => model.Embed(content, contentOnly: true)) : catalogue.Vectors;
            return ValueTask.FromResult(catalogue.RankGroups(queries, [.. groups.Select(g => g.Candidates)], itemVectors, freshOffset));
        }
    }

    private sealed class Ranker(DenseRetrievalModel model, string name, DenseItemVectors vectors, double freshOffset) : IRankingStage
    {
        public string Name => name;

        public ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(request);
            ArgumentNullException.ThrowIfNull(candidates);
            cancellationToken.ThrowIfCancellationRequested();
            if (candidates.Count == 0)
            {
                return ValueTask.FromResult(candidates);
            }

            var query = model.UserVector(request.History);
            var catalogue = model.Catalogue;
            var itemVectors = vectors == DenseItemVectors.ContentOnly ? catalogue.ContentOnlyVectors(content => model.Embed(content, contentOnly: true)) : catalogue.Vectors;
            return ValueTask.FromResult(catalogue.Rank(query, candidates, itemVectors, freshOffset));
        }
    }

    private sealed class Recall(DenseRetrievalModel model, string name, bool NewItemsOnly) : IRecallStage
    {
        public string Name => name;

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(request);
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
            cancellationToken.ThrowIfCancellationRequested();
            var catalogue = model.Catalogue;
            var query = model.UserVector(request.History);
            return ValueTask.FromResult(NewItemsOnly ? catalogue.RecallFresh(request, query, count, name) : catalogue.Recall(request, query, count, name));
        }
    }
}
