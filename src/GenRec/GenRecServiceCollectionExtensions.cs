using GenRec.Adapters;
using GenRec.Cascade;
using GenRec.Generative;
using GenRec.Inference;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>What <see cref="GenRecServiceCollectionExtensions.AddGenRec"/> returns: every GenRec feature is an extension method on it.</summary>
public interface IGenRecBuilder
{
    /// <summary>The service collection the features are added to.</summary>
    IServiceCollection Services { get; }
}

/// <summary>Options shared by the GenRec services.</summary>
public sealed class GenRecOptions
{
    /// <summary>The semantic-ID index file (<c>genrec tokenize</c>, or the copy in an exported model folder). Set by <c>AddSemanticIdIndex</c>.</summary>
    public string? IndexPath { get; set; }

    /// <summary>The ONNX model folder (<c>genrec export</c>). Set by <c>AddOnnxModel</c>.</summary>
    public string? ModelPath { get; set; }

    /// <summary>ONNX Runtime options (execution provider: CUDA when present by default).</summary>
    public OnnxRuntimeOptions OnnxRuntime { get; set; } = new();

    /// <summary>Micro-batcher options of the model.</summary>
    public MicroBatcherOptions MicroBatcher { get; set; } = new();

    /// <summary>
    /// Micro-batcher options of the HSTU ranker (<c>AddHstuRanking</c>): when set, concurrent ranking requests are
    /// scored together, off the callers' threads. Default: <see langword="null"/> — each request is scored on its
    /// caller's thread, which on a 2-core CPU served more requests per second than batching (docs/benchmarks.md);
    /// batching is the shape an accelerator wants.
    /// </summary>
    public HstuBatcherOptions? HstuBatcher { get; set; }

    /// <summary>Generative recall options (name, beam width).</summary>
    public GenerativeRecallOptions Recall { get; set; } = new();
}

/// <summary>Registers GenRec in a service collection.</summary>
public static class GenRecServiceCollectionExtensions
{
    /// <summary>The configuration section GenRec's options are bound from: <c>GenRec</c> (<see cref="GenRecOptions"/>), and
    /// <c>GenRec:Adapters:{name}</c> for each adapter's <see cref="AdapterOptions"/>.</summary>
    public const string ConfigurationSection = "GenRec";

    /// <summary>
    /// Adds GenRec's options and returns the builder to add features to. The options are bound from the
    /// <c>GenRec</c> section of the application's <c>IConfiguration</c> when one is registered (appsettings.json,
    /// environment variables, command line), then <paramref name="configure"/> runs; they are validated when the host
    /// starts (or when a GenRec service is first resolved), every nested option included, each problem naming its key.
    /// Calling it twice is harmless (each <paramref name="configure"/> applies, in order); user registrations win (<c>TryAdd</c>).
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the options (after the configuration's values).</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddGenRec(this IServiceCollection services, Action<GenRecOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        // Once, before any configure delegate: the configuration's values first, so code can override them.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<GenRecOptions>, GenRecOptionsBinding>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<AdapterOptions>, AdapterOptionsBinding>());
        var options = services.AddOptions<GenRecOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GenRecOptions>, GenRecOptionsValidator>());
        return new GenRecBuilder(services);
    }

    private sealed class GenRecBuilder(IServiceCollection services) : IGenRecBuilder
    {
        public IServiceCollection Services => services;
    }
}

/// <summary>The GenRec features.</summary>
public static class GenRecBuilderExtensions
{
    /// <summary>Adds the semantic-ID index (a singleton loaded from <paramref name="path"/>, checked when the host starts).</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="path">The index file.</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddSemanticIdIndex(this IGenRecBuilder builder, string path)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        builder.Services.Configure<GenRecOptions>(o => o.IndexPath = path);
        builder.Services.TryAddSingleton(sp => SemanticIdIndex.Load(Options(sp).IndexPath!));
        return builder;
    }

    /// <summary>
    /// Adds an ONNX generative model (<see cref="OnnxGenerativeModel"/>, also as <see cref="IGenerativeDecoder"/>)
    /// and its micro-batcher, from a folder <c>genrec export</c> wrote; checked when the host starts.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="folder">The model folder.</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddOnnxModel(this IGenRecBuilder builder, string folder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        builder.Services.Configure<GenRecOptions>(o => o.ModelPath = folder);
        builder.Services.TryAddSingleton(sp =>
        {
            var o = Options(sp);
            return OnnxGenerativeModel.Load(o.ModelPath!, o.OnnxRuntime, sp.GetService<ILoggerFactory>()?.CreateLogger("GenRec.Inference"));
        });
        builder.Services.TryAddSingleton<IGenerativeDecoder>(sp => sp.GetRequiredService<OnnxGenerativeModel>());
        builder.Services.TryAddSingleton(sp => new GenerativeMicroBatcher(sp.GetRequiredService<OnnxGenerativeModel>(), Options(sp).MicroBatcher));
        return builder;
    }

    /// <summary>Adds <see cref="GenerativeRecall"/> over the model and the index (both must be added), its searches micro-batched.</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Sets the recall options (name, beam width).</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddGenerativeRecall(this IGenRecBuilder builder, Action<GenerativeRecallOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (configure is not null)
        {
            builder.Services.Configure<GenRecOptions>(o => configure(o.Recall));
        }

        builder.Services.TryAddSingleton(sp => new GenerativeRecall(
            Require<IGenerativeDecoder>(sp, "a generative model", ".AddOnnxModel(folder)"),
            Require<SemanticIdIndex>(sp, "a semantic-ID index", ".AddSemanticIdIndex(path)"),
            Options(sp).Recall,
            sp.GetService<GenerativeMicroBatcher>()));
        builder.Services.TryAddKeyedSingleton<IRecallStage>(GenRecStages.Generative, (sp, _) => sp.GetRequiredService<GenerativeRecall>());
        return builder;
    }

    /// <summary>
    /// Adds a dense (two-tower) retriever served by ONNX Runtime (<see cref="OnnxDenseRetriever"/>, a folder from
    /// <c>genrec export --kind dense</c>; CUDA when present), resolvable as itself and as a keyed
    /// <see cref="IRecallStage"/> under <see cref="GenRecStages.Dense"/>. New items reach it through
    /// <see cref="OnnxDenseRetriever.AddItems"/> with their content vectors, and are retrievable at once.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="folder">The exported dense retriever folder.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">The folder holds no dense retriever manifest.</exception>
    public static IGenRecBuilder AddDenseRetrieval(this IGenRecBuilder builder, string folder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (!File.Exists(Path.Combine(folder, DenseGraphContract.ManifestFile)))
        {
            throw new ArgumentException($"GenRec: '{folder}' (AddDenseRetrieval) is not a dense retriever folder: it has no {DenseGraphContract.ManifestFile} (export one with `genrec export --kind dense`).", nameof(folder));
        }

        builder.Services.TryAddSingleton(sp => OnnxDenseRetriever.Load(folder, Options(sp).OnnxRuntime, sp.GetService<ILoggerFactory>()?.CreateLogger("GenRec.Inference")));
        builder.Services.TryAddKeyedSingleton<IRecallStage>(GenRecStages.Dense, (sp, _) => sp.GetRequiredService<OnnxDenseRetriever>());
        return builder;
    }

    /// <summary>
    /// Makes the generative recall stage (the one <see cref="AddRecallAdapter(IGenRecBuilder, Func{IServiceProvider, IRecallStage}, Action{AdapterOptions})"/> puts beside the team's) the union of
    /// generative and dense retrieval, as LIGER does: the generative recall (<see cref="AddGenerativeRecall"/>, or the
    /// cluster's with <c>AddOrleansClient</c> (package GenRec.Orleans.Client)) and the dense retriever (<see cref="AddDenseRetrieval"/>), each
    /// asked for the whole list, merged by <paramref name="merge"/>. The dense side is what reaches items registered
    /// after training, which generative retrieval alone almost never emits; with <paramref name="freshItemsShare"/>
    /// above 0, that share of every list is reserved for the items without a collaborative vector (new since
    /// training: <see cref="OnnxDenseRetriever.AsNewItemsRecall"/>), which in one list rarely outrank warm ones. Call it
    /// before or after the two it joins.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="merge">How the two lists merge. Default: <see cref="RecallMerge.ReciprocalRank"/>.</param>
    /// <param name="name">The stage's name. Default: "hybrid".</param>
    /// <param name="freshItemsShare">The share of every list for the fresh-items channel, in [0, 1). Default: 0 (none).</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddHybridRecall(this IGenRecBuilder builder, RecallMerge merge = RecallMerge.ReciprocalRank, string name = "hybrid", double freshItemsShare = 0)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!(freshItemsShare >= 0 && freshItemsShare < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(freshItemsShare), freshItemsShare, "GenRec: AddHybridRecall's fresh-items share must be in [0, 1).");
        }

        ReplaceGenerativeRecall(builder, sp =>
        {
            var dense = Require<OnnxDenseRetriever>(sp, "a dense retriever", ".AddDenseRetrieval(folder)");
            var union = new CompositeRecall(
                name,
                [
                    new RecallChannel((IRecallStage?)sp.GetService<GenerativeRecall>() ?? sp.GetKeyedService<IRecallStage>(GenRecStages.RemoteGenerative) ?? throw new InvalidOperationException(
                        "GenRec needs a generative recall for AddHybridRecall: call .AddGenerativeRecall() (with .AddOnnxModel and .AddSemanticIdIndex) or .AddOrleansClient(...) on AddGenRec().")),
                    new RecallChannel(dense),
                ],
                merge);
            return freshItemsShare > 0 ? new ReservedShareRecall(name, union, dense.AsNewItemsRecall(), freshItemsShare) : union;
        });
        return builder;
    }

    /// <summary>
    /// Makes the generative recall stage (the one <see cref="AddRecallAdapter(IGenRecBuilder, Func{IServiceProvider, IRecallStage}, Action{AdapterOptions})"/> puts beside the team's) COBRA-style
    /// beam fusion (<see cref="BeamFusionRecall"/>): the generative model (<see cref="AddOnnxModel"/>) emits semantic-ID
    /// prefixes, the dense retriever (<see cref="AddDenseRetrieval"/>) scores every item under them, and the list is
    /// ordered by log P(prefix) + weight × similarity. Items registered after training are scored on the same scale,
    /// with <paramref name="freshOffset"/> added to theirs. Searches go through the micro-batcher when one is added.
    /// Call it before or after the parts it joins.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Prefix levels, beams, dense weight, candidate cap (choose them on validation).</param>
    /// <param name="vectors">The item vectors of the dense similarity. Default: <see cref="DenseItemVectors.Full"/>.</param>
    /// <param name="freshOffset">Added to the similarity of items without an ID embedding (new since training). Default: 0.</param>
    /// <param name="prefixHead">
    /// Score the items under each prefix against the dense folder's prefix-conditioned query (COBRA's dense head,
    /// <c>genrec train dense-head</c>; the folder must have one, trained on this index's codes) instead of the user's own
    /// vector. Default: <see langword="false"/>.
    /// </param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="freshOffset"/> is not finite.</exception>
    public static IGenRecBuilder AddBeamFusionRecall(this IGenRecBuilder builder, Action<BeamFusionOptions>? configure = null, DenseItemVectors vectors = DenseItemVectors.Full, double freshOffset = 0, bool prefixHead = false)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!double.IsFinite(freshOffset))
        {
            throw new ArgumentOutOfRangeException(nameof(freshOffset), freshOffset, "GenRec: AddBeamFusionRecall's fresh-items offset must be a finite number.");
        }

        var options = new BeamFusionOptions();
        configure?.Invoke(options);
        ReplaceGenerativeRecall(builder, sp =>
        {
            var decoder = Require<IGenerativeDecoder>(sp, "a generative model", ".AddOnnxModel(folder)");
            var index = Require<SemanticIdIndex>(sp, "a semantic-ID index", ".AddSemanticIdIndex(path)");
            var dense = Require<OnnxDenseRetriever>(sp, "a dense retriever", ".AddDenseRetrieval(folder)");
            var runner = sp.GetService<GenerativeMicroBatcher>();
            return prefixHead
                ? new BeamFusionRecall(decoder, index, dense.AsConditionedRanker(vectors, freshOffset), options, runner)
                : new BeamFusionRecall(decoder, index, dense.AsRanker(vectors, freshOffset), options, runner);
        });
        return builder;
    }

    /// <summary>Makes <paramref name="create"/> the generative recall stage, whatever was registered as it before or is (TryAdd) after.</summary>
    private static void ReplaceGenerativeRecall(IGenRecBuilder builder, Func<IServiceProvider, IRecallStage> create)
    {
        foreach (var d in builder.Services.Where(d => d.ServiceType == typeof(IRecallStage) && Equals(d.ServiceKey, GenRecStages.Generative)).ToArray())
        {
            builder.Services.Remove(d);
        }

        builder.Services.AddKeyedSingleton(GenRecStages.Generative, (sp, _) => create(sp));
    }

    /// <summary>Adds <see cref="GenerativeRanking"/> (candidates scored by their log-probability as the next item) over the model and the index.</summary>
    /// <param name="builder">The builder.</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddGenerativeRanking(this IGenRecBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton(sp => new GenerativeRanking(
            Require<OnnxGenerativeModel>(sp, "a generative model", ".AddOnnxModel(folder)"),
            Require<SemanticIdIndex>(sp, "a semantic-ID index", ".AddSemanticIdIndex(path)")));
        builder.Services.TryAddKeyedSingleton<IRankingStage>(GenRecStages.Generative, (sp, _) => sp.GetRequiredService<GenerativeRanking>());
        return builder;
    }

    /// <summary>
    /// Adds an HSTU generative ranker served by ONNX Runtime (<see cref="HstuOnnxRanker"/>, a folder from
    /// <c>genrec export --kind hstu</c>) as the generative ranking stage: all candidates scored after the user's history in
    /// one pass, reading the cascade's cross features when the model was trained on them. With
    /// <see cref="GenRecOptions.HstuBatcher"/> set, concurrent requests go through an <see cref="HstuMicroBatcher"/>.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="folder">The exported HSTU folder.</param>
    /// <param name="features">The cascade's cross features (e.g. <c>DlrmCascadeModel.CandidateFeatures</c>); required when the model reads some.</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddHstuRanking(this IGenRecBuilder builder, string folder, Func<IServiceProvider, ICandidateFeatures?>? features = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (!File.Exists(Path.Combine(folder, HstuGraphContract.ManifestFile)))
        {
            throw new ArgumentException($"GenRec: '{folder}' (AddHstuRanking) is not an HSTU model folder: it has no {HstuGraphContract.ManifestFile} (export one with `genrec export --kind hstu`).", nameof(folder));
        }

        builder.Services.TryAddSingleton(sp => HstuOnnxRanker.Load(
            folder,
            features?.Invoke(sp),
            Options(sp).OnnxRuntime,
            sp.GetService<ILoggerFactory>()?.CreateLogger("GenRec.Inference")));
        builder.Services.TryAddKeyedSingleton<IRankingStage>(
            GenRecStages.Generative,
            (sp, _) => Options(sp).HstuBatcher is { } batching
                ? new HstuMicroBatcher(sp.GetRequiredService<HstuOnnxRanker>(), batching)
                : sp.GetRequiredService<HstuOnnxRanker>());
        return builder;
    }

    /// <summary>
    /// Adds a <see cref="RankingAdapter"/> named <see cref="GenRecAdapterNames.Ranking"/> (resolve it as
    /// <see cref="RankingAdapter"/>, or as a keyed <see cref="IRankingStage"/> under <see cref="GenRecStages.Adapted"/> or
    /// its name): the generative ranker added by <see cref="AddHstuRanking"/>, <see cref="AddGenerativeRanking"/> or
    /// <c>AddOrleansClient</c> (package GenRec.Orleans.Client) beside <paramref name="baseline"/>. Its
    /// <see cref="AdapterOptions"/> are bound from the configuration section <c>GenRec:Adapters:Ranking</c>, then
    /// <paramref name="configure"/> runs, and they are validated when the host starts; it takes the
    /// <see cref="TimeProvider"/> and <see cref="IShadowObserver"/> registered in the container. A second call adds
    /// its configuration to the first's and its baseline replaces the first's.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="baseline">The team's ranker (e.g. the DLRM).</param>
    /// <param name="configure">Mode, budget, blend.</param>
    /// <returns>The builder.</returns>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0027:API with optional parameter(s) should have the most parameters amongst its public overloads", Justification = "Shipped before the named overload, whose first parameter (a string) cannot be confused with this one's (a delegate).")]
    public static IGenRecBuilder AddRankingAdapter(this IGenRecBuilder builder, Func<IServiceProvider, IRankingStage> baseline, Action<AdapterOptions>? configure = null) =>
        AddRankingAdapter(builder, GenRecAdapterNames.Ranking, baseline, configure);

    /// <summary>
    /// Adds a <see cref="RankingAdapter"/> under <paramref name="name"/> (a keyed <see cref="RankingAdapter"/> and
    /// <see cref="IRankingStage"/>; options bound from <c>GenRec:Adapters:{name}</c>), for a service with several ranking
    /// adapters; otherwise as <see cref="AddRankingAdapter(IGenRecBuilder, Func{IServiceProvider, IRankingStage}, Action{AdapterOptions})"/>.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="name">The adapter's name: its service key, options name and configuration section.</param>
    /// <param name="baseline">The team's ranker (e.g. the DLRM).</param>
    /// <param name="configure">Mode, budget, blend (after the configuration's values); <see langword="null"/> for none.</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddRankingAdapter(this IGenRecBuilder builder, string name, Func<IServiceProvider, IRankingStage> baseline, Action<AdapterOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(baseline);
        return AddAdapter<IRankingStage, RankingAdapter>(
            builder,
            name,
            baseline,
            configure,
            "AddRankingAdapter needs a generative ranker: call .AddHstuRanking(folder), .AddGenerativeRanking() or .AddOrleansClient(...) on AddGenRec().",
            (options, generative) => $"{options.Mode.ToString().ToLowerInvariant()}-{generative.Name}",
            (stage, b, g, options, logger, observer, time) => new RankingAdapter(stage, b, g, options, logger, observer, time));
    }

    /// <summary>
    /// Adds a <see cref="RecallAdapter"/> named <see cref="GenRecAdapterNames.Recall"/> (resolve it as
    /// <see cref="RecallAdapter"/>, or as a keyed <see cref="IRecallStage"/> under <see cref="GenRecStages.Adapted"/> or its
    /// name): the generative recall added by <see cref="AddGenerativeRecall"/> or <c>AddOrleansClient</c> (package
    /// GenRec.Orleans.Client) beside <paramref name="baseline"/>. Its <see cref="AdapterOptions"/> are bound from the
    /// configuration section <c>GenRec:Adapters:Recall</c>, then <paramref name="configure"/> runs, and they are validated
    /// when the host starts; it takes the <see cref="TimeProvider"/> and <see cref="IShadowObserver"/> registered in the
    /// container. A second call adds its configuration to the first's and its baseline replaces the first's.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="baseline">The team's recall (one stage, or its channels as a <c>CompositeRecall</c>).</param>
    /// <param name="configure">Mode, budget, blend.</param>
    /// <returns>The builder.</returns>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0027:API with optional parameter(s) should have the most parameters amongst its public overloads", Justification = "Shipped before the named overload, whose first parameter (a string) cannot be confused with this one's (a delegate).")]
    public static IGenRecBuilder AddRecallAdapter(this IGenRecBuilder builder, Func<IServiceProvider, IRecallStage> baseline, Action<AdapterOptions>? configure = null) =>
        AddRecallAdapter(builder, GenRecAdapterNames.Recall, baseline, configure);

    /// <summary>
    /// Adds a <see cref="RecallAdapter"/> under <paramref name="name"/> (a keyed <see cref="RecallAdapter"/> and
    /// <see cref="IRecallStage"/>; options bound from <c>GenRec:Adapters:{name}</c>), for a service with several recall
    /// adapters; otherwise as <see cref="AddRecallAdapter(IGenRecBuilder, Func{IServiceProvider, IRecallStage}, Action{AdapterOptions})"/>.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="name">The adapter's name: its service key, options name and configuration section.</param>
    /// <param name="baseline">The team's recall.</param>
    /// <param name="configure">Mode, budget, blend (after the configuration's values); <see langword="null"/> for none.</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddRecallAdapter(this IGenRecBuilder builder, string name, Func<IServiceProvider, IRecallStage> baseline, Action<AdapterOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(baseline);
        return AddAdapter<IRecallStage, RecallAdapter>(
            builder,
            name,
            baseline,
            configure,
            "AddRecallAdapter needs a generative recall: call .AddGenerativeRecall() (with .AddOnnxModel and .AddSemanticIdIndex) or .AddOrleansClient(...) on AddGenRec().",
            (options, _) => $"{options.Mode.ToString().ToLowerInvariant()}-generative",
            (stage, b, g, options, logger, observer, time) => new RecallAdapter(stage, b, g, options, logger, observer, time));
    }

    /// <summary>
    /// Adds the generative model as a whole recommender (a keyed <see cref="IRecommender"/> under
    /// <see cref="GenRecStages.Generative"/>): its trie-constrained beam search writes the final list (distinct items,
    /// history and excluded items never generated, most probable first) with no cascade behind it. Needs
    /// <see cref="AddGenerativeRecall"/> (with the model and the index). Put it beside the team's cascade with
    /// <see cref="AddRecommenderAdapter(IGenRecBuilder, Func{IServiceProvider, IRecommender}, Action{AdapterOptions})"/>; a model aligned to a reward (<c>genrec train align</c>, exported like any
    /// other) serves the same way.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="name">The recommender's name (in stage timings and metrics). Default: "generative".</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddGenerativeRecommender(this IGenRecBuilder builder, string name = "generative")
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        builder.Services.TryAddKeyedSingleton<IRecommender>(GenRecStages.Generative, (sp, _) => new GenRec.Cascade.CascadePipeline(
            name,
            [new GenRec.Cascade.RecallChannel(Require<GenerativeRecall>(sp, "a generative recall", ".AddGenerativeRecall() (with .AddOnnxModel and .AddSemanticIdIndex)"))]));
        return builder;
    }

    /// <summary>
    /// Adds an end-to-end generative recommender (OneRec-style: <c>genrec train tiger --arch end-to-end</c>, aligned or
    /// not, then <c>genrec export</c>) as the keyed <see cref="IRecommender"/> under <see cref="GenRecStages.Generative"/>:
    /// one model reads the user's events (items, actions, times) and its trie-constrained beam search writes the final
    /// list, with no cascade behind it (distinct items, history and excluded items never generated, most probable
    /// first). The model is its own (keyed <see cref="OnnxGenerativeModel"/> and micro-batcher under
    /// <see cref="GenRecStages.EndToEnd"/>, beside any <see cref="AddOnnxModel"/> recall model); it reads the index of
    /// <see cref="AddSemanticIdIndex"/>. Put it beside the team's cascade with <see cref="AddRecommenderAdapter(IGenRecBuilder, Func{IServiceProvider, IRecommender}, Action{AdapterOptions})"/>.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="folder">The exported end-to-end model folder.</param>
    /// <param name="configure">Sets the name (default "end-to-end") and the beam width (default 100; widened to the requested count).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">The folder is not an exported model folder.</exception>
    public static IGenRecBuilder AddEndToEndRecommender(this IGenRecBuilder builder, string folder, Action<GenerativeRecallOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (!File.Exists(Path.Combine(folder, GenerativeGraphContract.ManifestFile)))
        {
            throw new ArgumentException($"GenRec: '{folder}' (AddEndToEndRecommender) is not a model folder: it has no {GenerativeGraphContract.ManifestFile} (train with `genrec train tiger --arch end-to-end`, then `genrec export`).", nameof(folder));
        }

        var options = new GenerativeRecallOptions { Name = "end-to-end" };
        configure?.Invoke(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.BeamWidth, "BeamWidth");
        builder.Services.TryAddKeyedSingleton(GenRecStages.EndToEnd, (sp, _) =>
        {
            var model = OnnxGenerativeModel.Load(folder, Options(sp).OnnxRuntime, sp.GetService<ILoggerFactory>()?.CreateLogger("GenRec.Inference"));
            if (model.Layout is null)
            {
                model.Dispose();
                throw new InvalidOperationException($"GenRec: '{folder}' (AddEndToEndRecommender) reads semantic-ID tokens only, not events: serve it with .AddOnnxModel, .AddGenerativeRecall and .AddGenerativeRecommender.");
            }

            return model;
        });
        builder.Services.TryAddKeyedSingleton(GenRecStages.EndToEnd, (sp, _) => new GenerativeMicroBatcher(sp.GetRequiredKeyedService<OnnxGenerativeModel>(GenRecStages.EndToEnd), Options(sp).MicroBatcher));
        builder.Services.TryAddKeyedSingleton<IRecommender>(GenRecStages.Generative, (sp, _) => new GenRec.Cascade.CascadePipeline(
            options.Name,
            [new GenRec.Cascade.RecallChannel(new GenerativeRecall(
                sp.GetRequiredKeyedService<OnnxGenerativeModel>(GenRecStages.EndToEnd),
                Require<SemanticIdIndex>(sp, "a semantic-ID index", ".AddSemanticIdIndex(path)"),
                options,
                sp.GetRequiredKeyedService<GenerativeMicroBatcher>(GenRecStages.EndToEnd)))]));
        return builder;
    }

    /// <summary>
    /// Adds a <see cref="RecommenderAdapter"/> named <see cref="GenRecAdapterNames.Recommender"/> (resolve it as
    /// <see cref="RecommenderAdapter"/>, or as a keyed <see cref="IRecommender"/> under <see cref="GenRecStages.Adapted"/>
    /// or its name): the generative recommender registered under <see cref="GenRecStages.Generative"/> (e.g. by
    /// <see cref="AddGenerativeRecommender"/>) beside the team's whole cascade, replacing it, blending the two lists (slot
    /// interleaving or score fusion) or shadowing it; the cascade serves whenever the generative side times out, fails or
    /// returns nothing. Its <see cref="AdapterOptions"/> are bound from <c>GenRec:Adapters:Recommender</c>, then
    /// <paramref name="configure"/> runs, and they are validated when the host starts.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="baseline">The team's cascade.</param>
    /// <param name="configure">Mode, budget, blend.</param>
    /// <returns>The builder.</returns>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0027:API with optional parameter(s) should have the most parameters amongst its public overloads", Justification = "Shipped before the named overload, whose first parameter (a string) cannot be confused with this one's (a delegate).")]
    public static IGenRecBuilder AddRecommenderAdapter(this IGenRecBuilder builder, Func<IServiceProvider, IRecommender> baseline, Action<AdapterOptions>? configure = null) =>
        AddRecommenderAdapter(builder, GenRecAdapterNames.Recommender, baseline, configure);

    /// <summary>
    /// Adds a <see cref="RecommenderAdapter"/> under <paramref name="name"/> (a keyed <see cref="RecommenderAdapter"/> and
    /// <see cref="IRecommender"/>; options bound from <c>GenRec:Adapters:{name}</c>); otherwise as
    /// <see cref="AddRecommenderAdapter(IGenRecBuilder, Func{IServiceProvider, IRecommender}, Action{AdapterOptions})"/>.
    /// </summary>
    /// <param name="builder">The builder.</param>
    /// <param name="name">The adapter's name: its service key, options name and configuration section.</param>
    /// <param name="baseline">The team's cascade.</param>
    /// <param name="configure">Mode, budget, blend (after the configuration's values); <see langword="null"/> for none.</param>
    /// <returns>The builder.</returns>
    public static IGenRecBuilder AddRecommenderAdapter(this IGenRecBuilder builder, string name, Func<IServiceProvider, IRecommender> baseline, Action<AdapterOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(baseline);
        return AddAdapter<IRecommender, RecommenderAdapter>(
            builder,
            name,
            baseline,
            configure,
            "AddRecommenderAdapter needs a generative recommender: call .AddEndToEndRecommender(folder) or .AddGenerativeRecommender() on AddGenRec(), or register one as a keyed IRecommender under GenRecStages.Generative.",
            (options, generative) => $"{options.Mode.ToString().ToLowerInvariant()}-{generative.Name}",
            (stage, b, g, options, logger, observer, time) => new RecommenderAdapter(stage, b, g, options, logger, observer, time));
    }

    /// <summary>
    /// Registers an adapter named <paramref name="name"/> (keyed <typeparamref name="TAdapter"/> and
    /// <typeparamref name="TStage"/>; for the kind's default name also unkeyed, and keyed under
    /// <see cref="GenRecStages.Adapted"/>) over the generative stage keyed <see cref="GenRecStages.Generative"/> and the
    /// team's <paramref name="baseline"/>; its options are the named <see cref="AdapterOptions"/> <paramref name="name"/>.
    /// </summary>
    private static IGenRecBuilder AddAdapter<TStage, TAdapter>(
        IGenRecBuilder builder,
        string name,
        Func<IServiceProvider, TStage> baseline,
        Action<AdapterOptions>? configure,
        string missing,
        Func<AdapterOptions, TStage, string> stageName,
        Func<string, TStage, TStage, AdapterOptions, ILogger?, IShadowObserver?, TimeProvider?, TAdapter> create)
        where TStage : class
        where TAdapter : class, TStage
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name is GenRecStages.Generative or GenRecStages.Adapted or GenRecStages.Dense or GenRecStages.EndToEnd or GenRecStages.RemoteGenerative)
        {
            throw new ArgumentException($"GenRec: '{name}' is one of GenRecStages' keys; name the adapter something else.", nameof(name));
        }

        var services = builder.Services;
        var options = services.AddOptions<AdapterOptions>(name);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        var registration = services.Where(d => d.ServiceType == typeof(AdapterRegistration) && Equals(d.ServiceKey, name))
            .Select(d => d.KeyedImplementationInstance).OfType<AdapterRegistration>().SingleOrDefault();
        if (registration is not null)
        {
            // Another call for the same adapter: its configuration was added above; its baseline replaces the earlier one.
            if (registration.Stage != typeof(TStage))
            {
                throw new InvalidOperationException($"GenRec: the adapter '{name}' is already a {registration.Stage.Name} adapter; give this {typeof(TStage).Name} adapter another name.");
            }

            registration.Baseline = sp => baseline(sp);
            return builder;
        }

        registration = new AdapterRegistration(typeof(TStage), sp => baseline(sp));
        services.AddKeyedSingleton(name, registration);
        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AdapterOptions>, AdapterOptionsValidator>());
        services.AddKeyedSingleton(name, (sp, _) =>
        {
            var o = sp.GetRequiredService<IOptionsMonitor<AdapterOptions>>().Get(name);
            var generative = sp.GetKeyedService<TStage>(GenRecStages.Generative) ?? throw new InvalidOperationException(missing);
            return create(
                stageName(o, generative),
                (TStage)registration.Baseline(sp),
                generative,
                o,
                sp.GetService<ILoggerFactory>()?.CreateLogger("GenRec.Adapters"),
                sp.GetService<IShadowObserver>(),
                sp.GetService<TimeProvider>());
        });
        services.AddKeyedSingleton<TStage>(name, (sp, _) => sp.GetRequiredKeyedService<TAdapter>(name));
        if (name is GenRecAdapterNames.Recall or GenRecAdapterNames.Ranking or GenRecAdapterNames.Recommender)
        {
            services.TryAddSingleton(sp => sp.GetRequiredKeyedService<TAdapter>(name));
            services.TryAddKeyedSingleton<TStage>(GenRecStages.Adapted, (sp, _) => sp.GetRequiredKeyedService<TAdapter>(name));
        }

        return builder;
    }

    /// <summary>An adapter's kind and baseline, kept so that a later call for the same name can replace the baseline.</summary>
    private sealed class AdapterRegistration(Type stage, Func<IServiceProvider, object> baseline)
    {
        public Type Stage { get; } = stage;

        public Func<IServiceProvider, object> Baseline { get; set; } = baseline;
    }

    private static GenRecOptions Options(IServiceProvider sp) => sp.GetRequiredService<IOptions<GenRecOptions>>().Value;

    private static T Require<T>(IServiceProvider sp, string what, string call)
        where T : class =>
        sp.GetService<T>() ?? throw new InvalidOperationException($"GenRec needs {what} here: call {call} on AddGenRec().");
}

/// <summary>Keys of the stages GenRec registers as keyed services.</summary>
public static class GenRecStages
{
    /// <summary>The generative recall or ranking stage.</summary>
    public const string Generative = "genrec:generative";

    /// <summary>The adapter that puts the generative stage beside the team's.</summary>
    public const string Adapted = "genrec:adapted";

    /// <summary>The dense retriever (<see cref="GenRecBuilderExtensions.AddDenseRetrieval"/>).</summary>
    public const string Dense = "genrec:dense";

    /// <summary>The end-to-end model and its micro-batcher (<see cref="GenRecBuilderExtensions.AddEndToEndRecommender"/>).</summary>
    public const string EndToEnd = "genrec:end-to-end";

    /// <summary>
    /// The generative recall served elsewhere (an Orleans cluster's user sessions: <c>AddOrleansClient</c>, package
    /// GenRec.Orleans.Client), which <see cref="GenRecBuilderExtensions.AddHybridRecall"/> joins when no local model
    /// (<see cref="GenRecBuilderExtensions.AddGenerativeRecall"/>) is added.
    /// </summary>
    public const string RemoteGenerative = "genrec:remote-generative";
}

/// <summary>
/// The names of the adapters added without one (<c>AddRecallAdapter</c>, <c>AddRankingAdapter</c>,
/// <c>AddRecommenderAdapter</c>): the names of their <see cref="AdapterOptions"/> and of their configuration sections under
/// <c>GenRec:Adapters</c>.
/// </summary>
public static class GenRecAdapterNames
{
    /// <summary>The recall adapter: options <c>GenRec:Adapters:Recall</c>.</summary>
    public const string Recall = "Recall";

    /// <summary>The ranking adapter: options <c>GenRec:Adapters:Ranking</c>.</summary>
    public const string Ranking = "Ranking";

    /// <summary>The whole-cascade (recommender) adapter: options <c>GenRec:Adapters:Recommender</c>.</summary>
    public const string Recommender = "Recommender";
}
