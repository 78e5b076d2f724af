using GenRec.Generative;
using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using Microsoft.Extensions.Options;

namespace GenRec.Orleans;

/// <summary>Options of the GenRec grains on a silo (<c>AddGenRecGrains</c>). Checked when the silo starts.</summary>
public sealed class GenRecOrleansOptions
{
    /// <summary>The name of the grain storage the grains use; register it with <c>UseInMemoryGenRecStorage</c> or <c>UseGenRecRedis</c>.</summary>
    public const string StorageName = "genrec";

    /// <summary>The catalogue (the key of its index and catalogue grains). Default: "default".</summary>
    public string Catalogue { get; set; } = "default";

    /// <summary>An index file published when the catalogue has no index yet (development and first deployment); optional.</summary>
    public string? IndexPath { get; set; }

    /// <summary>A model folder (from <c>genrec export</c>) published when no model is; optional.</summary>
    public string? ModelPath { get; set; }

    /// <summary>
    /// The size semantic-ID index versions are cut at (content-addressed chunks), and the largest chunk a silo takes; no
    /// write or message holds more than one. In [4 KiB, 64 MiB]. Default: 4 MiB.
    /// </summary>
    public int IndexChunkBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>The most events a user's sequence keeps; older ones are evicted. Default: 1000.</summary>
    public int MaxEvents { get; set; } = 1000;

    /// <summary>
    /// An HSTU ranker folder (<c>genrec export --kind hstu</c>) the sessions rank with in
    /// <see cref="IUserSessionGrain.RankWithHstuAsync"/>; its cross features come from an <see cref="ICandidateFeatures"/>
    /// registered in the silo's services. <see langword="null"/>: no HSTU ranking. Default: none.
    /// </summary>
    public string? HstuModelPath { get; set; }

    /// <summary>
    /// A dense retriever folder (<c>genrec export --kind dense</c>) for <see cref="RetrievalMode.Dense"/> and
    /// <see cref="RetrievalMode.Hybrid"/> recommendations; items registered with content through
    /// <see cref="ICatalogueGrain"/> join its catalogue on every silo. <see langword="null"/>: generative retrieval only. Default: none.
    /// </summary>
    public string? DenseModelPath { get; set; }

    /// <summary>
    /// The share of a <see cref="RetrievalMode.Hybrid"/> list given to the fresh-items channel (items without a
    /// collaborative vector: registered since the dense model was trained), at least one slot when above 0; the rest is
    /// the interleaved union of generative and dense retrieval. In [0, 1). Default: 0.2 (the 80 + 20 of
    /// <c>genrec eval --model hybrid-fresh</c>).
    /// </summary>
    public double FreshItemsShare { get; set; } = 0.2;

    /// <summary>
    /// <see cref="RetrievalMode.Fusion"/>: prefix levels, beams, the dense weight and the candidate cap of
    /// <see cref="BeamFusionRecall"/> (choose them on validation: <c>scripts/beam-fusion.sh</c>). Default: its defaults.
    /// </summary>
    public BeamFusionOptions Fusion { get; set; } = new();

    /// <summary><see cref="RetrievalMode.Fusion"/>: the item vectors of the dense similarity. Default: <see cref="DenseItemVectors.Full"/>.</summary>
    public DenseItemVectors FusionVectors { get; set; } = DenseItemVectors.Full;

    /// <summary>
    /// <see cref="RetrievalMode.Fusion"/>: added to the similarity of items without an ID embedding (new since the dense
    /// model was trained). Default: 0.
    /// </summary>
    public double FusionFreshOffset { get; set; }

    /// <summary>
    /// <see cref="RetrievalMode.Fusion"/>: score the items under each prefix against the dense folder's
    /// prefix-conditioned query (COBRA's dense head, <c>genrec train dense-head</c>; the folder must have one, trained on
    /// the served index's codes) instead of the user's own vector. Default: <see langword="false"/>.
    /// </summary>
    public bool FusionPrefixHead { get; set; }

    /// <summary>
    /// Events for items the catalogue does not know yet that a session keeps (durably, counted) until the item is
    /// registered, since catalogues lag events; past this many an append rejects them (<see cref="RejectionReason.UnknownItem"/>).
    /// 0 rejects them at once. Default: 100.
    /// </summary>
    public int MaxPendingEvents { get; set; } = 100;

    /// <summary>The most events one append may carry; a larger batch is refused whole. Default: 1000.</summary>
    public int MaxAppendBatch { get; set; } = 1000;

    /// <summary>How far in the future (by the silo's clock) an event may be. Default: 5 minutes.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Beams of the generative search when a query does not say. Default: 64.</summary>
    public int DefaultBeamWidth { get; set; } = 64;

    /// <summary>The most items one recommendation or ranking request may ask for. Default: 1000.</summary>
    public int MaxCount { get; set; } = 1000;

    /// <summary>
    /// Whether a session keeps its history's context (the encoder output / prefix cache) between requests; it is read
    /// again only after new events, a new model or a new index. Costs memory per active user. Default: true.
    /// </summary>
    public bool CacheGenerativeState { get; set; } = true;

    /// <summary>How often a silo checks for a newer index or model. Default: 1 second.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>ONNX Runtime options of the silo's model runner (execution provider: CUDA when present by default).</summary>
    public OnnxRuntimeOptions OnnxRuntime { get; set; } = new();

    /// <summary>Micro-batcher options of the silo's model runner.</summary>
    public MicroBatcherOptions MicroBatcher { get; set; } = new();

    /// <summary>
    /// Whether sessions send their HSTU ranking and generative retrieval to <see cref="IModelRunnerGrain"/> activations
    /// on the silos marked as model runners (<c>UseGenRecModelRunnerRole(true)</c>: those with an accelerator), rather
    /// than running them on their own silo. The runners keep the users' encoded HSTU histories (extended with appended
    /// events) and generative contexts. Dense, hybrid and fusion retrieval stay on the session's silo. Default: off
    /// (every silo serves its own sessions' requests).
    /// </summary>
    public bool ModelRunners { get; set; }

    /// <summary>Model runner activations users are spread over (user id modulo this); each serves many requests at once. Default: 8.</summary>
    public int ModelRunnerPartitions { get; set; } = 8;

    /// <summary>Encoded HSTU histories, and generative contexts, a model runner activation keeps of each (least recently used dropped; 0: none). About 100 KB and 230 KB each at 50 events. Default: 4,096.</summary>
    public int RunnerStateCapacity { get; set; } = 4096;
}

/// <summary>Checks <see cref="GenRecOrleansOptions"/> when the silo starts, naming what is wrong.</summary>
internal sealed class GenRecOrleansOptionsValidator : IValidateOptions<GenRecOrleansOptions>
{
    public ValidateOptionsResult Validate(string? name, GenRecOrleansOptions options)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Catalogue))
        {
            problems.Add("GenRecOrleansOptions.Catalogue is empty.");
        }

        if (options.IndexPath is { } index && !File.Exists(index))
        {
            problems.Add($"GenRecOrleansOptions.IndexPath '{index}' does not exist.");
        }

        if (options.ModelPath is { } model && !File.Exists(Path.Combine(model, GenerativeGraphContract.ManifestFile)))
        {
            problems.Add($"GenRecOrleansOptions.ModelPath '{model}' is not a model folder (no {GenerativeGraphContract.ManifestFile}; make one with `genrec export`).");
        }

        if (options.HstuModelPath is { } hstu && !File.Exists(Path.Combine(hstu, HstuGraphContract.ManifestFile)))
        {
            problems.Add($"GenRecOrleansOptions.HstuModelPath '{hstu}' is not an HSTU folder (no {HstuGraphContract.ManifestFile}; make one with `genrec export --kind hstu`).");
        }

        if (options.DenseModelPath is { } dense && !File.Exists(Path.Combine(dense, DenseGraphContract.ManifestFile)))
        {
            problems.Add($"GenRecOrleansOptions.DenseModelPath '{dense}' is not a dense retriever folder (no {DenseGraphContract.ManifestFile}; make one with `genrec export --kind dense`).");
        }

        if (options.Fusion is null || options.Fusion.PrefixLevels < 1 || options.Fusion.Beams < 1 || options.Fusion.MaxCandidates < 1 || !double.IsFinite(options.Fusion.DenseWeight) || options.Fusion.DenseWeight < 0)
        {
            problems.Add("GenRecOrleansOptions.Fusion needs PrefixLevels, Beams and MaxCandidates of 1 or more and a finite DenseWeight of 0 or more.");
        }

        if (options.ModelRunnerPartitions < 1 || options.RunnerStateCapacity < 0)
        {
            problems.Add($"GenRecOrleansOptions.ModelRunnerPartitions must be 1 or more and RunnerStateCapacity 0 or more; got {options.ModelRunnerPartitions} and {options.RunnerStateCapacity}.");
        }

        if (!double.IsFinite(options.FusionFreshOffset))
        {
            problems.Add($"GenRecOrleansOptions.FusionFreshOffset is {options.FusionFreshOffset}; it must be a finite number.");
        }

        if (!(options.FreshItemsShare >= 0 && options.FreshItemsShare < 1))
        {
            problems.Add($"GenRecOrleansOptions.FreshItemsShare is {options.FreshItemsShare}; it must be in [0, 1).");
        }

        foreach (var (value, what) in new[] { (options.MaxEvents, "MaxEvents"), (options.MaxAppendBatch, "MaxAppendBatch"), (options.DefaultBeamWidth, "DefaultBeamWidth"), (options.MaxCount, "MaxCount") })
        {
            if (value < 1)
            {
                problems.Add($"GenRecOrleansOptions.{what} is {value}; it must be 1 or more.");
            }
        }

        if (options.MaxPendingEvents < 0)
        {
            problems.Add($"GenRecOrleansOptions.MaxPendingEvents is {options.MaxPendingEvents}; it must be 0 (reject events for unknown items) or more.");
        }

        if (options.IndexChunkBytes is < SemanticIdIndexChunks.MinChunkBytes or > SemanticIdIndexChunks.MaxChunkBytes)
        {
            problems.Add($"GenRecOrleansOptions.IndexChunkBytes is {options.IndexChunkBytes:N0}; it must be in [{SemanticIdIndexChunks.MinChunkBytes:N0}, {SemanticIdIndexChunks.MaxChunkBytes:N0}].");
        }

        if (options.MaxClockSkew < TimeSpan.Zero || options.RefreshInterval <= TimeSpan.Zero)
        {
            problems.Add("GenRecOrleansOptions.MaxClockSkew must not be negative and RefreshInterval must be positive.");
        }

        if (options.OnnxRuntime is null || options.MicroBatcher is null)
        {
            problems.Add("GenRecOrleansOptions.OnnxRuntime and MicroBatcher must be set.");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
