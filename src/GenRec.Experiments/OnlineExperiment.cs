using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace GenRec.Experiments;

/// <summary>What a user was shown (or, for a shadow arm, would have been shown) and when.</summary>
/// <param name="User">The user.</param>
/// <param name="Arm">The arm that produced the list.</param>
/// <param name="Items">The list, best first.</param>
/// <param name="Time">When it was served.</param>
/// <param name="LatencyMs">How long the arm took.</param>
/// <param name="Failed">Whether the arm failed (the user then got the control's list).</param>
/// <param name="Shadow">Whether the list was computed beside the served one and not shown.</param>
public sealed record Exposure(UserId User, string Arm, IReadOnlyList<ItemId> Items, DateTimeOffset Time, double LatencyMs, bool Failed, bool Shadow);

/// <summary>Where an online experiment writes what it showed and what users did afterwards.</summary>
public interface IExposureLog
{
    /// <summary>Records an exposure.</summary>
    void Record(Exposure exposure);

    /// <summary>Records a behaviour event.</summary>
    void Record(UserEvent userEvent);

    /// <summary>Every exposure so far.</summary>
    IReadOnlyList<Exposure> Exposures { get; }

    /// <summary>Every event so far.</summary>
    IReadOnlyList<UserEvent> Events { get; }
}

/// <summary>An in-memory, thread-safe exposure log, for development and tests (it is lost with the process).</summary>
public sealed class InMemoryExposureLog : IExposureLog
{
    private readonly ConcurrentQueue<Exposure> _exposures = new();
    private readonly ConcurrentQueue<UserEvent> _events = new();

    /// <inheritdoc />
    public void Record(Exposure exposure) => _exposures.Enqueue(exposure);

    /// <inheritdoc />
    public void Record(UserEvent userEvent) => _events.Enqueue(userEvent);

    /// <inheritdoc />
    public IReadOnlyList<Exposure> Exposures => [.. _exposures];

    /// <inheritdoc />
    public IReadOnlyList<UserEvent> Events => [.. _events];
}

/// <summary>
/// Runs an experiment in a live service: each request's user is assigned through the layer, served by their arm
/// (users outside the experiment, and the holdout, get the control), and the list is logged as an exposure; shadow
/// arms run beside the served one on every request and are logged but never shown. An arm that throws is recorded
/// as a failed exposure, logged with its exception and counted (<see cref="ArmFailures"/>, the
/// <c>genrec.experiment.arm_failures</c> counter), and the user gets the control's list. When the control itself
/// throws, its exception reaches the caller (after the exposure is recorded): the experiment never turns a failure
/// into an empty list, so the service's own fallback applies.
/// </summary>
public sealed partial class OnlineExperiment : IRecommender
{
    private static readonly Meter Meter = new("GenRec");
    private static readonly Counter<long> Failures = Meter.CreateCounter<long>("genrec.experiment.arm_failures", description: "Requests an experiment arm (served or shadow) failed on.");
    private readonly ILogger _logger;
    private long _armFailures;
    private readonly ExperimentLayer _layer;
    private readonly ExperimentDefinition _experiment;
    private readonly IReadOnlyDictionary<string, IRecommender> _arms;
    private readonly IReadOnlyDictionary<string, IRecommender> _shadows;
    private readonly IExposureLog _log;

    /// <summary>Creates the experiment.</summary>
    /// <param name="layer">The layer the experiment lives in.</param>
    /// <param name="experiment">The experiment (one of the layer's).</param>
    /// <param name="arms">A recommender for each of the experiment's arms.</param>
    /// <param name="log">Where exposures and events go.</param>
    /// <param name="shadows">Arms run on every request but never served; may be <see langword="null"/>.</param>
    /// <param name="logger">Where arm failures are logged, with their exceptions; none when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">An arm of the experiment has no recommender.</exception>
    public OnlineExperiment(ExperimentLayer layer, ExperimentDefinition experiment, IReadOnlyDictionary<string, IRecommender> arms, IExposureLog log, IReadOnlyDictionary<string, IRecommender>? shadows = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(experiment);
        ArgumentNullException.ThrowIfNull(arms);
        ArgumentNullException.ThrowIfNull(log);
        var missing = experiment.Arms.Select(a => a.Name).Where(a => !arms.ContainsKey(a)).ToArray();
        if (missing.Length > 0)
        {
            throw new ArgumentException($"Experiment '{experiment.Name}' has arms without a recommender: {string.Join(", ", missing)}.", nameof(arms));
        }

        _layer = layer;
        _experiment = experiment;
        _arms = arms;
        _shadows = shadows ?? new Dictionary<string, IRecommender>();
        _log = log;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public string Name => _experiment.Name;

    /// <summary>Requests an arm (served or shadow) failed on since the experiment was created.</summary>
    public long ArmFailures => Interlocked.Read(ref _armFailures);

    /// <inheritdoc />
    public async ValueTask<RecommendationResult> RecommendAsync(RecommendationRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var assignment = _layer.Assign(request.User);
        var inExperiment = assignment.Experiment == _experiment.Name && assignment.Arm is not null;
        var armName = inExperiment ? assignment.Arm! : _experiment.Control;
        var (result, latency, error) = await Run(armName, _arms[armName], shadow: false, request, cancellationToken).ConfigureAwait(false);
        var failed = error is not null;
        if (failed && armName != _experiment.Control)
        {
            (result, _, error) = await Run(_experiment.Control, _arms[_experiment.Control], shadow: false, request, cancellationToken).ConfigureAwait(false);
        }

        if (inExperiment)
        {
            _log.Record(new Exposure(request.User, armName, failed ? [] : result.Items.Select(i => i.Item).ToArray(), request.RequestTime, latency, failed, Shadow: false));
            foreach (var (name, shadow) in _shadows)
            {
                var (shadowResult, shadowLatency, shadowError) = await Run(name, shadow, shadow: true, request, cancellationToken).ConfigureAwait(false);
                _log.Record(new Exposure(request.User, name, shadowError is not null ? [] : shadowResult.Items.Select(i => i.Item).ToArray(), request.RequestTime, shadowLatency, shadowError is not null, Shadow: true));
            }
        }

        if (error is not null)
        {
            // The control failed (as the user's arm or as the fallback): the caller sees its exception, not an empty list.
            ExceptionDispatchInfo.Throw(error);
        }

        return result;
    }

    /// <summary>Records what a user did, for the analysis of later exposures.</summary>
    /// <param name="userEvent">The event.</param>
    public void Observe(UserEvent userEvent)
    {
        ArgumentNullException.ThrowIfNull(userEvent);
        _log.Record(userEvent);
    }

    private async Task<(RecommendationResult Result, double LatencyMs, Exception? Error)> Run(string arm, IRecommender recommender, bool shadow, RecommendationRequest request, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            var result = await recommender.RecommendAsync(request, cancellationToken).ConfigureAwait(false);
            return (result, Stopwatch.GetElapsedTime(start).TotalMilliseconds, null);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // Recorded as a failed exposure (the error-rate guardrail), logged and counted; the caller decides what is served.
            Interlocked.Increment(ref _armFailures);
            Failures.Add(1, new KeyValuePair<string, object?>("experiment", _experiment.Name), new KeyValuePair<string, object?>("arm", arm), new KeyValuePair<string, object?>("shadow", shadow));
            ArmFailed(_logger, _experiment.Name, arm, shadow ? "shadow" : arm == _experiment.Control ? "control" : "served", request.User.Value, e);
            return (new RecommendationResult([], []), Stopwatch.GetElapsedTime(start).TotalMilliseconds, e);
        }
    }

    [LoggerMessage(1, LogLevel.Warning, "GenRec experiment {Experiment}: arm {Arm} ({Role}) failed for user {User}.")]
    private static partial void ArmFailed(ILogger logger, string experiment, string arm, string role, long user, Exception error);
}
