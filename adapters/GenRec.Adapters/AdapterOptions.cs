namespace GenRec.Adapters;

/// <summary>How a generative stage stands in a cascade beside the stage it may replace.</summary>
public enum StageMode
{
    /// <summary>The generative stage serves; the baseline stage serves only when it times out or fails.</summary>
    Replace = 0,

    /// <summary>Both run; their results are merged (<see cref="BlendMethod"/>). A failing generative side leaves the baseline's result.</summary>
    Blend = 1,

    /// <summary>Both run; the baseline's result is served; the generative one is compared with it and reported, never served.</summary>
    Shadow = 2,
}

/// <summary>How a blend merges the two sides.</summary>
public enum BlendMethod
{
    /// <summary>
    /// Lists interleaved by rank, the generative side capped at <see cref="AdapterOptions.GenerativeShare"/> of the
    /// result (the cascade's channel-quota merge).
    /// </summary>
    Quota = 0,

    /// <summary>
    /// Scores min-max normalised within each side, combined as <c>w·generative + (1 − w)·baseline</c>
    /// (<see cref="AdapterOptions.GenerativeWeight"/>; an item one side lacks counts 0 there), ordered by it.
    /// </summary>
    ScoreNormalized = 1,
}

/// <summary>Options of a stage adapter.</summary>
public sealed class AdapterOptions
{
    /// <summary>The mode. Default: <see cref="StageMode.Shadow"/> (the safe first step of a rollout).</summary>
    public StageMode Mode { get; set; } = StageMode.Shadow;

    /// <summary>
    /// How long the generative side may take; past it the adapter stops waiting (and cancels it), counts a fallback
    /// and serves without it. Default: 50 ms.
    /// </summary>
    public TimeSpan Budget { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The blend. Default: <see cref="BlendMethod.Quota"/>.</summary>
    public BlendMethod Blend { get; set; } = BlendMethod.Quota;

    /// <summary>Quota blend: the largest share of the result the generative side may fill, in (0, 1]. Default: 0.3.</summary>
    public double GenerativeShare { get; set; } = 0.3;

    /// <summary>Score blend: the generative side's weight, in [0, 1]. Default: 0.5.</summary>
    public double GenerativeWeight { get; set; } = 0.5;

    /// <summary>Shadow: how many top items are compared. Default: 10.</summary>
    public int CompareTop { get; set; } = 10;

    internal void Validate()
    {
        if (!Enum.IsDefined(Mode) || !Enum.IsDefined(Blend))
        {
            throw new ArgumentOutOfRangeException(nameof(Mode), "Unknown mode or blend method.");
        }

        if (Budget <= TimeSpan.Zero || GenerativeShare is <= 0 or > 1 || GenerativeWeight is < 0 or > 1 || CompareTop < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Budget), $"Budget must be positive, GenerativeShare in (0, 1], GenerativeWeight in [0, 1] and CompareTop at least 1; got {Budget}, {GenerativeShare}, {GenerativeWeight}, {CompareTop}.");
        }
    }
}

/// <summary>What a shadow run saw: both sides' top items for one request.</summary>
/// <param name="Stage">The adapter's name.</param>
/// <param name="User">The request's user.</param>
/// <param name="Baseline">The served (baseline) top items.</param>
/// <param name="Generative">The generative side's top items; empty when it failed or timed out.</param>
/// <param name="Overlap">Items in both tops ÷ the compared length.</param>
/// <param name="GenerativeElapsed">How long the generative side took (up to the budget).</param>
/// <param name="Outcome">"ok", "timeout" or "error".</param>
public sealed record ShadowComparison(string Stage, UserId User, IReadOnlyList<ItemId> Baseline, IReadOnlyList<ItemId> Generative, double Overlap, TimeSpan GenerativeElapsed, string Outcome);

/// <summary>
/// Receives shadow comparisons (e.g. to a log, a queue or the A/B harness's exposure log), in the background after the
/// request was served. Should not throw: an exception is logged and counted by the adapter (its <c>ObserverErrors</c>,
/// the <c>genrec.adapter.shadow.observer_errors</c> counter) and that comparison is lost.
/// </summary>
public interface IShadowObserver
{
    /// <summary>Called once per shadowed request, after the served result has been returned.</summary>
    /// <param name="comparison">What the two sides produced.</param>
    void Observe(ShadowComparison comparison);
}
