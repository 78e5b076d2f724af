using GenRec.Generative;
using GenRec.SemanticIds;
using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>What a training run did: epochs, the kept epoch and its validation figures, and the time it took.</summary>
/// <param name="Epochs">Epochs run (early stopping may end before the maximum).</param>
/// <param name="BestEpoch">The epoch whose weights were kept.</param>
/// <param name="BestValidationNdcg10">Validation NDCG@10 of those weights (beam search at the trainer's evaluation width).</param>
/// <param name="Seconds">Wall-clock training time.</param>
/// <param name="Parameters">Trainable parameters.</param>
/// <param name="History">Per evaluated epoch: (epoch, mean training loss, validation NDCG@10, validation log-likelihood).</param>
/// <param name="BestValidationLogLikelihood">Mean log-probability of the validation targets under those weights (<see cref="TigerTrainer.ValidationLogLikelihood"/>); NaN when not measured (an untrained model, or a manifest written before it was recorded).</param>
public sealed record TigerTrainingReport(int Epochs, int BestEpoch, double BestValidationNdcg10, double Seconds, long Parameters, IReadOnlyList<(int Epoch, double Loss, double ValidationNdcg10, double ValidationLogLikelihood)> History, double BestValidationLogLikelihood = double.NaN);

/// <summary>
/// A trained generative retrieval model: the TorchSharp network, its shape, the fingerprint and version of the
/// semantic-ID index it was trained on, and its training report. It is an <see cref="IGenerativeDecoder"/>, so a
/// <see cref="GenerativeRecall"/> drives it with constrained beam search (eager TorchSharp, CUDA when present).
/// Saved as a folder: <c>manifest.json</c> (format <c>genrec-tiger</c>, version 1; an aligned model's manifest also
/// carries its <see cref="Alignment"/> report, an end-to-end model's its item table and genre count) and
/// <c>model.weights</c> (an end-to-end model's item side features included).
/// </summary>
public sealed class TigerModelArtifact : IGenerativeDecoder, IDisposable
{
    private const string Format = "genrec-tiger";
    private const int FormatVersion = 1;

    // A model whose token histories carry action tokens: a version-1 reader would feed it histories without them.
    private const int ActionHistoryVersion = 2;
    private readonly TigerNetwork _model;
    private readonly Device _device;

    internal TigerModelArtifact(TigerNetwork model, Device device, string indexFingerprint, int indexVersion, TigerTrainingReport report, AlignmentReport? alignment = null)
    {
        Alignment = alignment;
        _model = model;
        _device = device;
        IndexFingerprint = indexFingerprint;
        IndexVersion = indexVersion;
        Report = report;
        Vocabulary = new SemanticIdVocabulary(model.Config.VocabularySizes);
        _model.eval();
    }

    /// <summary>The model's shape.</summary>
    public TigerConfig Config => _model.Config;

    /// <inheritdoc />
    public string IndexFingerprint { get; }

    /// <summary>The version of the semantic-ID index the model was trained on.</summary>
    public int IndexVersion { get; }

    /// <summary>How training went.</summary>
    public TigerTrainingReport Report { get; }

    /// <summary>How the model was aligned to a reward model (<see cref="PreferenceAligner"/>); <see langword="null"/> when it was not.</summary>
    public AlignmentReport? Alignment { get; }

    /// <inheritdoc />
    public SemanticIdVocabulary Vocabulary { get; }

    /// <inheritdoc />
    public int MaxHistoryItems => Config.MaxHistoryItems;

    /// <summary>The device the model runs on.</summary>
    public string Device => _device.ToString();

    internal TigerNetwork Model => _model;

    internal Device TorchDevice => _device;

    /// <summary>End to end: the items of the model's item-ID table (an item outside it is read by its semantic ID and side features alone); empty for the other architectures.</summary>
    public IReadOnlyList<ItemId> Items => _model.Items;

    /// <inheritdoc />
    public int[] EncodeHistory(IReadOnlyList<UserEvent> history, SemanticIdIndex index)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(index);
        return _model.EncodeHistory(history, index);
    }

    /// <inheritdoc />
    public IDecodingSession Start(ReadOnlySpan<int> historyTokens) => _model.Start(historyTokens.ToArray(), _device);

    /// <summary>
    /// A model of the given shape with freshly initialised weights, tied to <paramref name="index"/>: for latency
    /// benchmarks of shapes nobody trained (the time a forward pass takes does not depend on the weights' values) and
    /// for tests. Its recommendations are meaningless.
    /// </summary>
    /// <param name="config">The shape; its vocabulary sizes must be the index's.</param>
    /// <param name="index">The semantic-ID index.</param>
    /// <param name="device">Where to run it. Default: <see cref="ComputeDevice.Auto"/>.</param>
    /// <param name="seed">The seed of the initial weights.</param>
    /// <returns>The model.</returns>
    public static TigerModelArtifact CreateUntrained(TigerConfig config, SemanticIdIndex index, ComputeDevice device = ComputeDevice.Auto, int seed = 42)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(index);
        config.Validate();
        if (!config.VocabularySizes.SequenceEqual(index.VocabularySizes))
        {
            throw new ArgumentException($"The shape's vocabulary [{string.Join(", ", config.VocabularySizes)}] is not the index's [{string.Join(", ", index.VocabularySizes)}].", nameof(config));
        }

        if (config.Items > index.Count + 1)
        {
            throw new ArgumentException($"The shape has {config.Items} item rows; the index holds {index.Count} items.", nameof(config));
        }

        torch.manual_seed(seed);
        var target = TorchDevices.Resolve(device);
        var model = TigerNetwork.Create(config, config.Items > 0 ? index.Items.Take(config.Items - 1).ToArray() : null);
        model.to(target);
        return new TigerModelArtifact(model, target, index.Fingerprint, index.Version, new TigerTrainingReport(0, 0, double.NaN, 0, model.parameters().Sum(p => p.numel()), []));
    }

    /// <summary>Saves the model folder.</summary>
    /// <param name="directory">The folder; created if missing.</param>
    public void Save(string directory)
    {
        var manifest = new Manifest(Format, Config.Actions ? ActionHistoryVersion : FormatVersion, Config.Architecture.ToString(), Config.Dimension, Config.Layers, Config.Heads, Config.MlpDimension, Config.Dropout, Config.MaxHistoryItems, [.. Config.VocabularySizes], IndexFingerprint, IndexVersion, Report.Epochs, Report.BestEpoch, Report.BestValidationNdcg10, Report.Seconds, Report.Parameters, double.IsFinite(Report.BestValidationLogLikelihood) ? Report.BestValidationLogLikelihood : null, Alignment, Config.Items > 0 ? [.. Items.Select(i => i.Value)] : null, Config.Genres, Config.Actions);
        TorchModelFolder.Save(directory, _model, manifest);
    }

    /// <summary>Loads a model folder.</summary>
    /// <param name="directory">The folder <see cref="Save"/> wrote.</param>
    /// <param name="device">Where to run it. Default: <see cref="ComputeDevice.Auto"/>.</param>
    /// <returns>The model.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">The manifest or the weights are missing, damaged, or of another format.</exception>
    public static TigerModelArtifact Load(string directory, ComputeDevice device = ComputeDevice.Auto)
    {
        var (m, manifestPath, weightsPath) = TorchModelFolder.Read<Manifest>(directory, "a GenRec generative model", m => (m.Format, m.FormatVersion), Format, FormatVersion, ActionHistoryVersion);
        if (m.Actions != (m.FormatVersion == ActionHistoryVersion))
        {
            throw new InvalidDataException($"'{manifestPath}' is format version {m.FormatVersion} but says Actions = {m.Actions}: version {ActionHistoryVersion} is exactly the models whose histories carry action tokens.");
        }

        // Manifests written before the encoder-decoder existed have no architecture: they are decoder-only.
        var architecture = TigerArchitecture.DecoderOnly;
        if (!string.IsNullOrEmpty(m.Architecture) && !Enum.TryParse(m.Architecture, out architecture))
        {
            throw new InvalidDataException($"'{manifestPath}' names an unknown architecture '{m.Architecture}'.");
        }

        var items = m.Items?.Select(i => new ItemId(i)).ToArray();
        if (architecture == TigerArchitecture.EndToEnd && (items is null || items.Length == 0))
        {
            throw new InvalidDataException($"'{manifestPath}' is an end-to-end model without its item table (Items).");
        }

        var config = new TigerConfig(m.Dimension, m.Layers, m.Heads, m.MlpDimension, m.Dropout, m.MaxHistoryItems, m.VocabularySizes, architecture, items is null ? 0 : items.Length + 1, m.Genres, m.Actions);
        try
        {
            config.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new InvalidDataException($"'{manifestPath}' describes an invalid model shape: {e.Message}", e);
        }

        var target = TorchDevices.Resolve(device);
        var model = TigerNetwork.Create(config, items);
        TorchModelFolder.LoadWeights(model, weightsPath);

        model.to(target);
        return new TigerModelArtifact(model, target, m.IndexFingerprint, m.IndexVersion, new TigerTrainingReport(m.Epochs, m.BestEpoch, m.BestValidationNdcg10, m.Seconds, m.Parameters, [], m.BestValidationLogLikelihood ?? double.NaN), m.Alignment);
    }

    /// <summary>Checks that <paramref name="index"/> is the one this model was trained on, or grew from it (<see cref="SemanticIdIndex.Serves"/>).</summary>
    /// <param name="index">The index.</param>
    /// <exception cref="InvalidOperationException">It is not.</exception>
    public void EnsureIndex(SemanticIdIndex index)
    {
        ArgumentNullException.ThrowIfNull(index);
        if (!index.Serves(IndexFingerprint))
        {
            throw new InvalidOperationException($"This model was trained on semantic-ID index version {IndexVersion} (fingerprint {IndexFingerprint}); the index given is version {index.Version} (fingerprint {index.Fingerprint}).");
        }
    }

    /// <inheritdoc />
    public void Dispose() => _model.Dispose();

    private sealed record Manifest(string Format, int FormatVersion, string Architecture, int Dimension, int Layers, int Heads, int MlpDimension, double Dropout, int MaxHistoryItems, int[] VocabularySizes, string IndexFingerprint, int IndexVersion, int Epochs, int BestEpoch, double BestValidationNdcg10, double Seconds, long Parameters, double? BestValidationLogLikelihood = null, AlignmentReport? Alignment = null, long[]? Items = null, int Genres = 0, bool Actions = false);
}
