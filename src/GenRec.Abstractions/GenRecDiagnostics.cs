using System.Diagnostics;

namespace GenRec;

/// <summary>
/// The names the SDK's telemetry goes out under, for OpenTelemetry's <c>AddSource</c> and <c>AddMeter</c>: traces of a
/// cascade request (<c>genrec.cascade</c> with a <c>genrec.recall</c> span per channel and a <c>genrec.rank</c> span)
/// and of an adapter's generative call (<c>genrec.adapter</c>, its <c>genrec.outcome</c>: ok, timeout or error), and
/// the SDK's metrics.
/// </summary>
public static class GenRecDiagnostics
{
    /// <summary>The name of the SDK's <see cref="System.Diagnostics.ActivitySource"/>: "GenRec".</summary>
    public const string ActivitySourceName = "GenRec";

    /// <summary>The name of the SDK's <see cref="System.Diagnostics.Metrics.Meter"/>: "GenRec".</summary>
    public const string MeterName = "GenRec";

    /// <summary>This assembly's source (each SDK assembly has its own, under the same name).</summary>
    internal static readonly ActivitySource Source = new(ActivitySourceName);
}
