using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace GenRec.Experiments;

/// <summary>Writes an <see cref="ExperimentReport"/> as a text table, JSON, or a self-contained HTML page with plots.</summary>
public static class ExperimentReportWriter
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// The report as a fixed-width table: one row per arm, each metric's value and, for treatments, the difference to
    /// the control with its 95 % interval (* when the interval excludes zero), then the verdict.
    /// </summary>
    public static string ToTable(ExperimentReport report, IReadOnlyList<string>? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        metrics ??= report.Arms[0].Metrics.Any(m => m.Metric == OfflineReplay.RewardMetric)
            ? ["HR@10", "NDCG@10", "MRR", "coverage@10", "ILD@10", "novelty@10", OfflineReplay.RewardMetric, "p50 latency ms"]
            : ["HR@10", "NDCG@10", "MRR", "coverage@10", "ILD@10", "novelty@10", "p50 latency ms"];
        var header = new List<string> { "arm" };
        header.AddRange(metrics);
        header.Add("p99 ms");
        header.Add("verdict");
        var rows = new List<List<string>> { header };
        foreach (var arm in report.Arms)
        {
            var row = new List<string> { arm.IsControl ? arm.Name + " (control)" : arm.Name };
            foreach (var metric in metrics)
            {
                var m = arm[metric];
                var cell = Number(m.Value);
                if (m.VersusControl is { } c)
                {
                    cell += double.IsFinite(c.Lower)
                        ? string.Create(Invariant, $" {Signed(c.Difference)} [{Signed(c.Lower)}, {Signed(c.Upper)}]{(c.Significant ? "*" : string.Empty)}")
                        : $" {Signed(c.Difference)}";
                }

                row.Add(cell);
            }

            row.Add(Number(arm.Guardrails.First(g => g.Name == "p99 latency").Value));
            row.Add(arm.Verdict);
            rows.Add(row);
        }

        var widths = Enumerable.Range(0, header.Count).Select(i => rows.Max(r => r[i].Length)).ToArray();
        var text = new StringBuilder();
        text.AppendLine(report.Paired
            ? string.Create(CultureInfo.InvariantCulture, $"{report.Users} users per arm, paired on the same users; control: {report.Control}; [95% bootstrap interval of arm − control], * = excludes 0")
            : string.Create(CultureInfo.InvariantCulture, $"online: {report.Users} control exposures with an outcome, arms on different users; control: {report.Control}; [95% bootstrap interval of arm − control], * = excludes 0"));
        foreach (var (row, i) in rows.Select((r, i) => (r, i)))
        {
            text.AppendLine(string.Join("  ", row.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd());
            if (i == 0)
            {
                text.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
            }
        }

        return text.ToString();
    }

    /// <summary>Writes the report as JSON.</summary>
    public static void WriteJson(ExperimentReport report, string path)
    {
        ArgumentNullException.ThrowIfNull(report);
        var json = new
        {
            control = report.Control,
            users = report.Users,
            arms = report.Arms.Select(a => new
            {
                name = a.Name,
                control = a.IsControl,
                verdict = a.Verdict,
                guardrails_passed = a.GuardrailsPassed,
                metrics = a.Metrics.ToDictionary(
                    m => m.Metric,
                    m => new
                    {
                        value = Finite(m.Value),
                        difference = Finite(m.VersusControl?.Difference),
                        ci_lower = Finite(m.VersusControl?.Lower),
                        ci_upper = Finite(m.VersusControl?.Upper),
                        p_value = Finite(m.VersusControl?.PValue),
                        significant = m.VersusControl?.Significant,
                    }),
                guardrails = a.Guardrails.Select(g => new { name = g.Name, value = Finite(g.Value), limit = Finite(g.Limit), unit = g.Unit, passed = g.Passed }),
                latency_ms = new { p50 = Finite(ExperimentReport.Percentile([.. a.LatencyMs], 0.5)), p90 = Finite(ExperimentReport.Percentile([.. a.LatencyMs], 0.9)), p99 = Finite(ExperimentReport.Percentile([.. a.LatencyMs], 0.99)) },
            }),
        };
        File.WriteAllText(path, JsonSerializer.Serialize(json, Indented));
    }

    /// <summary>Writes a self-contained HTML report: the table, a forest plot per metric, and latency distributions.</summary>
    public static void WriteHtml(ExperimentReport report, string path, string title = "GenRec A/B report")
    {
        ArgumentNullException.ThrowIfNull(report);
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{Enc(title)}</title><style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}.bad{{color:#b00020;font-weight:bold}}.good{{color:#0a7d32;font-weight:bold}}svg{{margin:0.5em 1em 1em 0}}</style></head><body>");
        html.Append(CultureInfo.InvariantCulture, $"<h1>{Enc(title)}</h1><p>{(report.Paired ? $"{report.Users} users per arm, every arm on the same users (paired)" : $"Online: {report.Users} control exposures with an outcome; arms on different users (unpaired)")}. Control: <b>{Enc(report.Control)}</b>. Intervals: 95 % percentile bootstrap of arm − control; p: {(report.Paired ? "paired t-test" : "Welch's t-test")}.</p>");
        html.Append("<table><tr><th>arm</th>");
        var metrics = report.Arms[0].Metrics.Select(m => m.Metric).ToArray();
        foreach (var m in metrics)
        {
            html.Append(CultureInfo.InvariantCulture, $"<th>{Enc(m)}</th>");
        }

        html.Append("<th>guardrails</th><th>verdict</th></tr>");
        foreach (var arm in report.Arms)
        {
            html.Append(CultureInfo.InvariantCulture, $"<tr><td>{Enc(arm.Name)}{(arm.IsControl ? " (control)" : string.Empty)}</td>");
            foreach (var m in arm.Metrics)
            {
                var cell = Number(m.Value);
                var css = string.Empty;
                if (m.VersusControl is { } c)
                {
                    cell += double.IsFinite(c.Lower)
                        ? string.Create(Invariant, $"<br><small>{Signed(c.Difference)} [{Signed(c.Lower)}, {Signed(c.Upper)}]{(double.IsFinite(c.PValue) ? $" p={c.PValue:0.000}" : string.Empty)}</small>")
                        : $"<br><small>{Signed(c.Difference)} (set metric: no interval)</small>";
                    css = c.Significant ? (c.Difference > 0) == LowerIsWorse(m.Metric) ? " class=\"good\"" : " class=\"bad\"" : string.Empty;
                }

                html.Append(CultureInfo.InvariantCulture, $"<td{css}>{cell}</td>");
            }

            var guard = string.Join("<br>", arm.Guardrails.Select(g => $"<span class=\"{(g.Passed ? "good" : "bad")}\">{Enc(g.Name)} {Number(g.Value)} / {Number(g.Limit)}</span>"));
            html.Append(CultureInfo.InvariantCulture, $"<td>{guard}</td><td>{Enc(arm.Verdict)}</td></tr>");
        }

        html.Append("</table><h2>Difference to control, with 95 % intervals</h2>");
        foreach (var metric in metrics.Where(m => report.Arms.Any(a => a[m].VersusControl is { } c && double.IsFinite(c.Lower))))
        {
            html.Append(ForestPlot(report, metric));
        }

        html.Append("<h2>Request latency</h2>").Append(LatencyPlot(report)).Append("</body></html>");
        File.WriteAllText(path, html.ToString());
    }

    /// <summary>JSON has no NaN or infinity: such values are written as null.</summary>
    private static double? Finite(double? value) => value is { } v && double.IsFinite(v) ? v : null;

    private static bool LowerIsWorse(string metric) => !metric.Contains("latency", StringComparison.Ordinal);

    private static string ForestPlot(ExperimentReport report, string metric)
    {
        var rows = report.Arms.Where(a => a[metric].VersusControl is not null).Select(a => (a.Name, C: a[metric].VersusControl!.Value)).ToArray();
        const int Width = 420, Row = 26, Left = 150, Right = 20;
        var height = 40 + (rows.Length * Row);
        var span = rows.SelectMany(r => new[] { Math.Abs(r.C.Lower), Math.Abs(r.C.Upper), Math.Abs(r.C.Difference) }).DefaultIfEmpty(1).Max();
        span = span == 0 ? 1 : span * 1.1;
        double X(double v) => Left + ((v + span) / (2 * span) * (Width - Left - Right));
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg width=\"{Width}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\"><text x=\"4\" y=\"14\" font-weight=\"bold\">{Enc(metric)}: arm − control</text>");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(0):0.0}\" y1=\"22\" x2=\"{X(0):0.0}\" y2=\"{height - 14}\" stroke=\"#888\" stroke-dasharray=\"3,3\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"{height - 2}\" fill=\"#666\">{Signed(-span)}</text><text x=\"{Width - Right - 40}\" y=\"{height - 2}\" fill=\"#666\">{Signed(span)}</text>");
        for (var i = 0; i < rows.Length; i++)
        {
            var (name, c) = rows[i];
            var y = 36 + (i * Row);
            var color = !c.Significant ? "#555" : (c.Difference > 0) == LowerIsWorse(metric) ? "#0a7d32" : "#b00020";
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"{y + 4}\">{Enc(name)}</text><line x1=\"{X(c.Lower):0.0}\" y1=\"{y}\" x2=\"{X(c.Upper):0.0}\" y2=\"{y}\" stroke=\"{color}\" stroke-width=\"2\"/><circle cx=\"{X(c.Difference):0.0}\" cy=\"{y}\" r=\"4\" fill=\"{color}\"/>");
        }

        return svg.Append("</svg>").ToString();
    }

    private static string LatencyPlot(ExperimentReport report)
    {
        const int Width = 760, Row = 34, Left = 150, Right = 190;
        var height = 50 + (report.Arms.Count * Row);
        var limit = report.Arms[0].Guardrails.FirstOrDefault(g => g.Name == "p99 latency")?.Limit ?? 100;
        var max = Math.Max(limit, report.Arms.SelectMany(a => a.LatencyMs).DefaultIfEmpty(1).Max());
        var scale = Math.Log10(Math.Max(max, 1) * 1.2);
        double X(double ms) => Left + (Math.Log10(Math.Max(ms, 0.01) * 100) / (scale + 2) * (Width - Left - Right));
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg width=\"{Width}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\"><text x=\"4\" y=\"14\" font-weight=\"bold\">per-request latency, log scale (box: p25–p75, whiskers: p1–p99, bar: p50; red: p99 guardrail)</text>");
        var axis = height - 16;
        for (var tick = 0.01; tick <= max * 1.2; tick *= 10)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(tick):0.0}\" y1=\"22\" x2=\"{X(tick):0.0}\" y2=\"{axis}\" stroke=\"#eee\"/><text x=\"{X(tick) - 10:0.0}\" y=\"{axis + 12}\" fill=\"#666\">{tick.ToString("0.##", Invariant)} ms</text>");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(limit):0.0}\" y1=\"22\" x2=\"{X(limit):0.0}\" y2=\"{axis}\" stroke=\"#b00020\" stroke-dasharray=\"4,3\"/>");
        for (var i = 0; i < report.Arms.Count; i++)
        {
            var arm = report.Arms[i];
            var l = arm.LatencyMs.ToArray();
            double P(double q) => ExperimentReport.Percentile(l, q);
            var y = 34 + (i * Row);
            var color = arm.GuardrailsPassed ? "#3366cc" : "#b00020";
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"{y + 4}\">{Enc(arm.Name)}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(P(0.01)):0.0}\" y1=\"{y}\" x2=\"{X(P(0.99)):0.0}\" y2=\"{y}\" stroke=\"{color}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{X(P(0.25)):0.0}\" y=\"{y - 8}\" width=\"{Math.Max(1, X(P(0.75)) - X(P(0.25))):0.0}\" height=\"16\" fill=\"{color}\" fill-opacity=\"0.3\" stroke=\"{color}\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(P(0.5)):0.0}\" y1=\"{y - 8}\" x2=\"{X(P(0.5)):0.0}\" y2=\"{y + 8}\" stroke=\"{color}\" stroke-width=\"2\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{X(P(0.99)) + 4:0.0}\" y=\"{y + 4}\" fill=\"#444\">p50 {P(0.5):0.0} · p99 {P(0.99):0.0} ms</text>");
        }

        return svg.Append("</svg>").ToString();
    }

    private static string Number(double v) => double.IsFinite(v) ? v.ToString(Math.Abs(v) >= 100 ? "0.0" : "0.0000", Invariant) : "n/a";

    private static string Signed(double v) => (v >= 0 ? "+" : string.Empty) + v.ToString("0.0000", Invariant);

    private static string Enc(string s) => WebUtility.HtmlEncode(s);
}
