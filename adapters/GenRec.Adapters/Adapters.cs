using Microsoft.Extensions.Logging;

namespace GenRec.Adapters;

/// <summary>
/// A recall stage that puts a generative recall beside the cascade's recall (one stage, or several channels as a
/// <see cref="Cascade.CompositeRecall"/>): replacing it, blended with it, or shadowing it. The generative side runs
/// within <see cref="AdapterOptions.Budget"/>; on timeout, error or an empty answer the baseline's candidates are
/// served, the fallback counted (<c>genrec.adapter.fallbacks</c>) and logged. The request never fails because of it.
/// </summary>
public sealed class RecallAdapter : IRecallStage
{
    private readonly IRecallStage _baseline;
    private readonly IRecallStage _generative;
    private readonly StageGuard _guard;

    /// <summary>Creates the adapter.</summary>
    /// <param name="name">Its name (in candidates' sources, metrics and logs).</param>
    /// <param name="baseline">The stage it stands beside and falls back to.</param>
    /// <param name="generative">The generative stage.</param>
    /// <param name="options">Mode, budget, blend; defaults (shadow, 50 ms) when <see langword="null"/>.</param>
    /// <param name="logger">Where fallbacks are logged.</param>
    /// <param name="observer">Shadow mode: who receives the comparisons.</param>
    /// <param name="time">The clock of the budget; the system's when <see langword="null"/>.</param>
    public RecallAdapter(string name, IRecallStage baseline, IRecallStage generative, AdapterOptions? options = null, ILogger? logger = null, IShadowObserver? observer = null, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(generative);
        Name = name;
        _baseline = baseline;
        _generative = generative;
        _guard = new StageGuard(name, options, logger, observer, time);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The mode.</summary>
    public StageMode Mode => _guard.Options.Mode;

    /// <summary>Generative calls that timed out, failed or came back empty since the adapter was created.</summary>
    public long Fallbacks => _guard.FallbackCount;

    /// <summary>Shadow comparisons the observer threw on (each logged as a warning; the requests were served).</summary>
    public long ObserverErrors => _guard.ObserverErrorCount;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        if (_guard.Options.Mode == StageMode.Replace)
        {
            var (generated, _, _) = await Guarded(request, count, cancellationToken).ConfigureAwait(false);
            return generated ?? await _baseline.RecallAsync(request, count, cancellationToken).ConfigureAwait(false);
        }

        // A quota blend uses at most its share of the generative side: it asks for twice that (room for items the
        // baseline already has), not for the whole count, which would only cost time (a wider beam).
        var asked = _guard.Options.Mode == StageMode.Blend && _guard.Options.Blend == BlendMethod.Quota ? Math.Min(count, 2 * StageMerges.Cap(count, _guard.Options)) : count;
        var generative = Guarded(request, asked, cancellationToken);
        var baseline = await _baseline.RecallAsync(request, count, cancellationToken).ConfigureAwait(false);
        if (_guard.Options.Mode == StageMode.Shadow)
        {
            StageMerges.InBackground(generative, baseline, request, _guard);
            return baseline;
        }

        var (g, _, _) = await generative.ConfigureAwait(false);
        return g is null ? baseline : StageMerges.Blend(request, baseline, g, count, _guard.Options);
    }

    private async Task<(IReadOnlyList<Candidate>? Value, string Outcome, TimeSpan Elapsed)> Guarded(RecommendationRequest request, int count, CancellationToken cancellationToken)
    {
        var (value, outcome, elapsed) = await _guard.RunAsync(ct => _generative.RecallAsync(request, count, ct), cancellationToken).ConfigureAwait(false);
        return value is { Count: 0 } ? (null, _guard.Empty(elapsed), elapsed) : (value, outcome, elapsed);
    }
}

/// <summary>
/// A ranking stage that puts a generative ranker beside the cascade's ranker: replacing it, blending the two
/// scores (min-max normalised, weighted by <see cref="AdapterOptions.GenerativeWeight"/>), or shadowing it. Same
/// budget, fallback, counting and logging as <see cref="RecallAdapter"/>.
/// </summary>
public sealed class RankingAdapter : IRankingStage
{
    private readonly IRankingStage _baseline;
    private readonly IRankingStage _generative;
    private readonly StageGuard _guard;

    /// <summary>Creates the adapter.</summary>
    /// <param name="name">Its name.</param>
    /// <param name="baseline">The ranker it stands beside and falls back to.</param>
    /// <param name="generative">The generative ranker.</param>
    /// <param name="options">Mode, budget, weight; defaults when <see langword="null"/>.</param>
    /// <param name="logger">Where fallbacks are logged.</param>
    /// <param name="observer">Shadow mode: who receives the comparisons.</param>
    /// <param name="time">The clock of the budget.</param>
    public RankingAdapter(string name, IRankingStage baseline, IRankingStage generative, AdapterOptions? options = null, ILogger? logger = null, IShadowObserver? observer = null, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(generative);
        Name = name;
        _baseline = baseline;
        _generative = generative;
        _guard = new StageGuard(name, options, logger, observer, time);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>Generative calls that timed out or failed since the adapter was created.</summary>
    public long Fallbacks => _guard.FallbackCount;

    /// <summary>Shadow comparisons the observer threw on (each logged as a warning; the requests were served).</summary>
    public long ObserverErrors => _guard.ObserverErrorCount;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Candidate>> RankAsync(RecommendationRequest request, IReadOnlyList<Candidate> candidates, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(candidates);
        if (candidates.Count == 0)
        {
            return candidates;
        }

        var generative = _guard.RunAsync(ct => _generative.RankAsync(request, candidates, ct), cancellationToken);
        if (_guard.Options.Mode == StageMode.Replace)
        {
            var (ranked, _, _) = await generative.ConfigureAwait(false);
            return ranked ?? await _baseline.RankAsync(request, candidates, cancellationToken).ConfigureAwait(false);
        }

        var baseline = await _baseline.RankAsync(request, candidates, cancellationToken).ConfigureAwait(false);
        if (_guard.Options.Mode == StageMode.Shadow)
        {
            StageMerges.InBackground(generative, baseline, request, _guard);
            return baseline;
        }

        var (g, _, _) = await generative.ConfigureAwait(false);
        return g is null ? baseline : StageMerges.ScoreBlend(baseline, g, baseline.Count, _guard.Options.GenerativeWeight);
    }
}

/// <summary>
/// An end-to-end recommender beside the team's whole cascade: replacing it, blending the two final lists, or
/// shadowing it; the cascade serves whenever the generative side times out, fails or returns nothing.
/// </summary>
public sealed class RecommenderAdapter : IRecommender
{
    private readonly IRecommender _baseline;
    private readonly IRecommender _generative;
    private readonly StageGuard _guard;

    /// <summary>Creates the adapter.</summary>
    /// <param name="name">Its name.</param>
    /// <param name="baseline">The cascade it stands beside and falls back to.</param>
    /// <param name="generative">The end-to-end generative recommender.</param>
    /// <param name="options">Mode, budget, blend; defaults when <see langword="null"/>.</param>
    /// <param name="logger">Where fallbacks are logged.</param>
    /// <param name="observer">Shadow mode: who receives the comparisons.</param>
    /// <param name="time">The clock of the budget.</param>
    public RecommenderAdapter(string name, IRecommender baseline, IRecommender generative, AdapterOptions? options = null, ILogger? logger = null, IShadowObserver? observer = null, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(generative);
        Name = name;
        _baseline = baseline;
        _generative = generative;
        _guard = new StageGuard(name, options, logger, observer, time);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>Generative calls that timed out, failed or came back empty since the adapter was created.</summary>
    public long Fallbacks => _guard.FallbackCount;

    /// <summary>Shadow comparisons the observer threw on (each logged as a warning; the requests were served).</summary>
    public long ObserverErrors => _guard.ObserverErrorCount;

    /// <inheritdoc />
    public async ValueTask<RecommendationResult> RecommendAsync(RecommendationRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var generative = Guarded(request, cancellationToken);
        if (_guard.Options.Mode == StageMode.Replace)
        {
            var (result, _, _) = await generative.ConfigureAwait(false);
            return result ?? await _baseline.RecommendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        var baseline = await _baseline.RecommendAsync(request, cancellationToken).ConfigureAwait(false);
        if (_guard.Options.Mode == StageMode.Shadow)
        {
            StageMerges.InBackground(Items(generative), baseline.Items, request, _guard);
            return baseline;
        }

        var (g, _, elapsed) = await generative.ConfigureAwait(false);
        return g is null
            ? baseline
            : new RecommendationResult(StageMerges.Blend(request, baseline.Items, g.Items, request.Count, _guard.Options), [.. baseline.Stages, new StageTiming(_generative.Name, StageKind.EndToEnd, elapsed, g.Items.Count)]);
    }

    private async Task<(RecommendationResult? Value, string Outcome, TimeSpan Elapsed)> Guarded(RecommendationRequest request, CancellationToken cancellationToken)
    {
        var (value, outcome, elapsed) = await _guard.RunAsync(ct => _generative.RecommendAsync(request, ct), cancellationToken).ConfigureAwait(false);
        return value is { Items.Count: 0 } ? (null, _guard.Empty(elapsed), elapsed) : (value, outcome, elapsed);
    }

    private static async Task<(IReadOnlyList<Candidate>? Value, string Outcome, TimeSpan Elapsed)> Items(Task<(RecommendationResult? Value, string Outcome, TimeSpan Elapsed)> task)
    {
        var (value, outcome, elapsed) = await task.ConfigureAwait(false);
        return (value?.Items, outcome, elapsed);
    }
}
