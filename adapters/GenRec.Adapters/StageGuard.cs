using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace GenRec.Adapters;

/// <summary>
/// What every adapter shares: its name, validated options and shadow observer, and the running of its generative
/// side within the budget, never letting it fail the request; counts and logs every fallback.
/// </summary>
internal sealed partial class StageGuard
{
    private static readonly Meter Meter = new(GenRecDiagnostics.MeterName);
    private static readonly ActivitySource Source = new(GenRecDiagnostics.ActivitySourceName);
    private static readonly Counter<long> Fallbacks = Meter.CreateCounter<long>("genrec.adapter.fallbacks", description: "Generative stage calls that timed out or failed, so the adapter served without them.");
    private static readonly Histogram<double> Durations = Meter.CreateHistogram<double>("genrec.adapter.generative.duration", unit: "ms", description: "Time the generative side of an adapter took (up to the budget).");
    private static readonly Histogram<double> Overlaps = Meter.CreateHistogram<double>("genrec.adapter.shadow.overlap", description: "Shadow mode: share of the served top items the generative side also proposed.");
    private static readonly Counter<long> ObserverErrors = Meter.CreateCounter<long>("genrec.adapter.shadow.observer_errors", description: "Shadow comparisons the IShadowObserver threw on (logged; the request was already served).");
    private readonly string _name;
    private readonly AdapterOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private long _fallbacks;
    private long _observerErrors;

    public StageGuard(string name, AdapterOptions? options, ILogger? logger, IShadowObserver? observer, TimeProvider? time)
    {
        _name = name;
        _options = options ?? new AdapterOptions();
        _options.Validate();
        Observer = observer;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    public string Name => _name;

    public AdapterOptions Options => _options;

    public IShadowObserver? Observer { get; }

    public long FallbackCount => Interlocked.Read(ref _fallbacks);

    public long ObserverErrorCount => Interlocked.Read(ref _observerErrors);

    /// <summary>Hands a shadow comparison to the observer; an observer that throws is logged and counted, never left to fault a background task.</summary>
    public void Report(ShadowComparison comparison)
    {
        if (Observer is not { } observer)
        {
            return;
        }

        try
        {
            observer.Observe(comparison);
        }
        catch (Exception e)
        {
            // Logged before it is counted: whoever sees the count can find the entry.
            ObserverFailed(_logger, _name, observer.GetType().Name, e);
            ObserverErrors.Add(1, new KeyValuePair<string, object?>("stage", _name));
            Interlocked.Increment(ref _observerErrors);
        }
    }

    /// <summary>
    /// The generative call's result, or the reason it has none ("timeout", "error"); a call that ignores
    /// cancellation is abandoned at the budget. A cancelled request throws <see cref="OperationCanceledException"/>
    /// (that is the caller's decision, not a fallback).
    /// </summary>
    public async Task<(T? Value, string Outcome, TimeSpan Elapsed)> RunAsync<T>(Func<CancellationToken, ValueTask<T>> call, CancellationToken requestToken)
        where T : class
    {
        requestToken.ThrowIfCancellationRequested();
        using var activity = Source.StartActivity("genrec.adapter");
        activity?.SetTag("genrec.stage", _name);
        activity?.SetTag("genrec.mode", _options.Mode.ToString());
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(requestToken);
        var start = _time.GetTimestamp();
        Task<T> task;
        try
        {
            task = call(budget.Token).AsTask();
        }
        catch (Exception e) when (!requestToken.IsCancellationRequested)
        {
            return (null, Fail("error", e, _time.GetElapsedTime(start)), _time.GetElapsedTime(start));
        }

        using var timer = new CancellationTokenSource(_options.Budget, _time);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, requestToken);
        var finished = await Task.WhenAny(task, Task.Delay(Timeout.InfiniteTimeSpan, wait.Token)).ConfigureAwait(false);
        var elapsed = _time.GetElapsedTime(start);
        Durations.Record(elapsed.TotalMilliseconds, new KeyValuePair<string, object?>("stage", _name));
        if (finished != task)
        {
            await budget.CancelAsync().ConfigureAwait(false);
            Observe(task);
            requestToken.ThrowIfCancellationRequested();
            return (null, Fail("timeout", null, elapsed), elapsed);
        }

        try
        {
            var value = await task.ConfigureAwait(false);
            activity?.SetTag("genrec.outcome", "ok");
            return (value, "ok", elapsed);
        }
        catch (Exception e) when (!requestToken.IsCancellationRequested)
        {
            return (null, Fail("error", e, elapsed), elapsed);
        }
    }

    /// <summary>Counts an empty generative answer as a fallback (the baseline serves instead).</summary>
    public string Empty(TimeSpan elapsed) => Fail("empty", null, elapsed);

    public void RecordOverlap(double overlap) => Overlaps.Record(overlap, new KeyValuePair<string, object?>("stage", _name));

    private string Fail(string reason, Exception? error, TimeSpan elapsed)
    {
        // The adapter's span (current while the guard runs; not for an empty answer, judged after it) says why the baseline served.
        if (Activity.Current is { OperationName: "genrec.adapter" } span)
        {
            span.SetTag("genrec.outcome", reason);
            if (error is not null)
            {
                span.SetStatus(ActivityStatusCode.Error, error.Message);
            }
        }

        Interlocked.Increment(ref _fallbacks);
        Fallbacks.Add(1, new KeyValuePair<string, object?>("stage", _name), new KeyValuePair<string, object?>("mode", _options.Mode.ToString()), new KeyValuePair<string, object?>("reason", reason));
        FallbackLogged(_logger, _name, reason, elapsed.TotalMilliseconds, _options.Mode, error);
        return reason;
    }

    /// <summary>An abandoned call's later failure is observed (logged at debug), never left unobserved.</summary>
    private void Observe(Task task) => task.ContinueWith(
        t => AbandonedFailed(_logger, _name, t.Exception?.GetBaseException().Message ?? "", null),
        CancellationToken.None,
        TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
        TaskScheduler.Default);

    [LoggerMessage(1, LogLevel.Warning, "GenRec adapter {Stage}: generative side {Reason} after {Milliseconds:0.0} ms; served without it ({Mode} mode).")]
    private static partial void FallbackLogged(ILogger logger, string stage, string reason, double milliseconds, StageMode mode, Exception? error);

    [LoggerMessage(3, LogLevel.Warning, "GenRec adapter {Stage}: the shadow observer {Observer} threw; the comparison is lost (the request was served).")]
    private static partial void ObserverFailed(ILogger logger, string stage, string observer, Exception error);

    [LoggerMessage(2, LogLevel.Debug, "GenRec adapter {Stage}: an abandoned generative call failed later: {Message}")]
    private static partial void AbandonedFailed(ILogger logger, string stage, string message, Exception? error);
}
