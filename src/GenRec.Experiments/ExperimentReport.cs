namespace GenRec.Experiments;

/// <summary>One metric of one arm: its value and, for a treatment arm, the comparison with the control.</summary>
/// <param name="Metric">The metric's name.</param>
/// <param name="Value">The arm's value (mean over users, or the set metric).</param>
/// <param name="VersusControl">Arm − control with its interval and p-value; <see langword="null"/> for the control itself.</param>
public sealed record MetricResult(string Metric, double Value, Comparison? VersusControl);

/// <summary>A guardrail check of an arm.</summary>
/// <param name="Name">What is checked, e.g. "p99 latency".</param>
/// <param name="Value">The arm's value.</param>
/// <param name="Limit">The most allowed.</param>
/// <param name="Unit">The unit, for display.</param>
public sealed record GuardrailResult(string Name, double Value, double Limit, string Unit)
{
    /// <summary>Whether the arm stays within the limit.</summary>
    public bool Passed => Value <= Limit;
}

/// <summary>One arm's result.</summary>
/// <param name="Name">The arm.</param>
/// <param name="IsControl">Whether it is the control.</param>
/// <param name="Metrics">Its metrics.</param>
/// <param name="Guardrails">Its guardrail checks.</param>
/// <param name="LatencyMs">Every request's latency, sorted ascending (for distributions).</param>
/// <param name="Verdict">A one-line reading: better, worse or no significant difference on NDCG@10, and failed guardrails.</param>
public sealed record ArmResult(string Name, bool IsControl, IReadOnlyList<MetricResult> Metrics, IReadOnlyList<GuardrailResult> Guardrails, IReadOnlyList<double> LatencyMs, string Verdict)
{
    /// <summary>A metric by name.</summary>
    public MetricResult this[string metric] => Metrics.First(m => m.Metric == metric);

    /// <summary>Whether every guardrail passed.</summary>
    public bool GuardrailsPassed => Guardrails.All(g => g.Passed);
}

/// <summary>The outcome of an experiment: every arm against the control, with the sample size.</summary>
/// <param name="Control">The control arm's name.</param>
/// <param name="Users">Users (offline) or exposures with an outcome (online) of the control: the sample size.</param>
/// <param name="Arms">The arms, control first.</param>
/// <param name="Paired">Whether every arm served the same users (offline replay) or different ones (online traffic).</param>
public sealed record ExperimentReport(string Control, int Users, IReadOnlyList<ArmResult> Arms, bool Paired = true)
{
    /// <summary>The primary metric the verdict reads.</summary>
    public const string PrimaryMetric = "NDCG@10";

    /// <summary>An arm by name.</summary>
    public ArmResult this[string arm] => Arms.First(a => a.Name == arm);

    internal static ExperimentReport Build(IReadOnlyList<ArmMeasurements> arms, string control, int catalogue, ReplayOptions options, bool paired = true)
    {
        var c = arms.First(a => a.Name == control);
        var results = new List<ArmResult>();
        foreach (var arm in arms.OrderBy(a => a.Name == control ? 0 : 1))
        {
            var metrics = new List<MetricResult>();
            foreach (var metric in OfflineReplay.PerUserMetrics.Where(c.PerUser.ContainsKey).Concat(c.PerUser.Keys.Except(OfflineReplay.PerUserMetrics).Order(StringComparer.Ordinal)))
            {
                var value = arm.PerUser[metric].Average();
                Comparison? comparison = arm == c ? null : paired
                    ? PairedStatistics.Compare(arm.PerUser[metric], c.PerUser[metric], options.BootstrapIterations, seed: options.Seed)
                    : IndependentStatistics.Compare(arm.PerUser[metric], c.PerUser[metric], options.BootstrapIterations, seed: options.Seed);
                metrics.Add(new MetricResult(metric, value, comparison));
            }

            // Coverage counts distinct items over all users: a bootstrap resample holds ~63 % distinct users, so its
            // coverage is biased low and a percentile interval would not even contain the estimate. The difference is
            // reported without an interval (and never called significant).
            double Coverage(ArmMeasurements m) => m.Top10.SelectMany(t => t).Distinct().Count() / (double)catalogue;
            Comparison? coverage = arm == c ? null : new Comparison(Coverage(arm) - Coverage(c), double.NaN, double.NaN, double.NaN, arm.Requests);

            metrics.Add(new MetricResult("coverage@10", Coverage(arm), coverage));
            var latency = arm.LatencyMs.Order().ToArray();
            var guardrails = new List<GuardrailResult>
            {
                new("p99 latency", Percentile(latency, 0.99), options.MaxP99LatencyMs, "ms"),
                new("error rate", arm.Errors / (double)Math.Max(1, arm.Requests), options.MaxErrorRate, "share"),
            };
            if (arm.Fallbacks is { } fallbacks)
            {
                guardrails.Add(new("fallback rate", fallbacks / (double)Math.Max(1, arm.Requests), options.MaxFallbackRate, "share"));
            }

            metrics.Add(new MetricResult("p50 latency ms", Percentile(latency, 0.5), null));
            results.Add(new ArmResult(arm.Name, arm == c, metrics, guardrails, latency, Verdict(arm == c, metrics, guardrails)));
        }

        return new ExperimentReport(control, c.Requests, results, paired);
    }

    internal static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, Math.Max(0, (int)Math.Ceiling(q * sorted.Length) - 1))];

    private static string Verdict(bool isControl, List<MetricResult> metrics, List<GuardrailResult> guardrails)
    {
        var failed = guardrails.Where(g => !g.Passed).Select(g => $"FAILS {g.Name} ({Format(g.Value, g.Unit)} > {Format(g.Limit, g.Unit)})").ToList();
        string reading;
        if (isControl)
        {
            reading = "control";
        }
        else
        {
            var primary = metrics.First(m => m.Metric == PrimaryMetric).VersusControl!.Value;
            reading = primary.Significant
                ? primary.Difference > 0 ? $"better on {PrimaryMetric}" : $"WORSE on {PrimaryMetric}"
                : $"no significant difference on {PrimaryMetric}";
        }

        return failed.Count == 0 ? reading : reading + "; " + string.Join("; ", failed);
    }

    private static string Format(double value, string unit) => unit == "ms"
        ? value.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + " ms"
        : value.ToString("P1", System.Globalization.CultureInfo.InvariantCulture);
}
