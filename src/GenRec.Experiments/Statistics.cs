namespace GenRec.Experiments;

/// <summary>A difference to the control with its uncertainty.</summary>
/// <param name="Difference">Mean of arm − control over the paired users (or the set metric's difference).</param>
/// <param name="Lower">Lower end of the bootstrap confidence interval.</param>
/// <param name="Upper">Upper end of the bootstrap confidence interval.</param>
/// <param name="PValue">Two-sided p-value of the paired t-test (NaN where the metric is not per user).</param>
/// <param name="N">Users compared.</param>
public readonly record struct Comparison(double Difference, double Lower, double Upper, double PValue, int N)
{
    /// <summary>Whether the interval excludes zero.</summary>
    public bool Significant => Lower > 0 || Upper < 0;
}

/// <summary>Paired statistics for comparing an arm with the control on the same users.</summary>
public static class PairedStatistics
{
    /// <summary>
    /// Compares per-user values of an arm and the control: the mean difference, a percentile bootstrap interval
    /// (users resampled with replacement, seeded) and the paired t-test's two-sided p-value.
    /// </summary>
    /// <param name="arm">The arm's value per user.</param>
    /// <param name="control">The control's value per user, same users in the same order.</param>
    /// <param name="iterations">Bootstrap resamples. Default: 2,000.</param>
    /// <param name="confidence">Interval coverage. Default: 0.95.</param>
    /// <param name="seed">Bootstrap seed. Default: 42.</param>
    /// <returns>The comparison.</returns>
    public static Comparison Compare(IReadOnlyList<double> arm, IReadOnlyList<double> control, int iterations = 2000, double confidence = 0.95, int seed = 42)
    {
        ArgumentNullException.ThrowIfNull(arm);
        ArgumentNullException.ThrowIfNull(control);
        if (arm.Count != control.Count || arm.Count < 2)
        {
            throw new ArgumentException($"Paired comparison needs the same users on both sides, at least two; got {arm.Count} and {control.Count}.");
        }

        var d = arm.Zip(control, (a, c) => a - c).ToArray();
        var (lower, upper) = Bootstrap(d.Length, idx => idx.Average(i => d[i]), iterations, confidence, seed);
        return new Comparison(d.Average(), lower, upper, PairedTTest(d), d.Length);
    }

    /// <summary>
    /// A percentile bootstrap interval of any statistic of a set of users (e.g. a coverage difference), users
    /// resampled with replacement; the statistic receives the resampled user indices.
    /// </summary>
    public static (double Lower, double Upper) Bootstrap(int users, Func<int[], double> statistic, int iterations = 2000, double confidence = 0.95, int seed = 42)
    {
        ArgumentNullException.ThrowIfNull(statistic);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(users);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(iterations);
        var random = new Random(seed);
        var values = new double[iterations];
        var sample = new int[users];
        for (var b = 0; b < iterations; b++)
        {
            for (var i = 0; i < users; i++)
            {
                sample[i] = random.Next(users);
            }

            values[b] = statistic(sample);
        }

        Array.Sort(values);
        var alpha = (1 - confidence) / 2;
        return (Quantile(values, alpha), Quantile(values, 1 - alpha));
    }

    /// <summary>The two-sided p-value of the paired t-test on differences <paramref name="d"/> (1 when all are equal and zero).</summary>
    public static double PairedTTest(IReadOnlyList<double> d)
    {
        ArgumentNullException.ThrowIfNull(d);
        var n = d.Count;
        var mean = d.Average();
        var variance = d.Sum(x => (x - mean) * (x - mean)) / (n - 1);
        if (variance == 0)
        {
            return mean == 0 ? 1 : 0;
        }

        var t = mean / Math.Sqrt(variance / n);
        return StudentTTwoSided(t, n - 1);
    }

    /// <summary>P(|T| ≥ |t|) for Student's t with <paramref name="df"/> degrees of freedom.</summary>
    public static double StudentTTwoSided(double t, double df) => RegularizedIncompleteBeta(df / 2, 0.5, df / (df + (t * t)));

    private static double Quantile(double[] sorted, double q)
    {
        var position = q * (sorted.Length - 1);
        var low = (int)Math.Floor(position);
        var high = Math.Min(sorted.Length - 1, low + 1);
        return sorted[low] + ((position - low) * (sorted[high] - sorted[low]));
    }

    /// <summary>I_x(a, b), by the continued fraction (Lentz), with the symmetry for x beyond the mean.</summary>
    private static double RegularizedIncompleteBeta(double a, double b, double x)
    {
        if (x <= 0)
        {
            return 0;
        }

        if (x >= 1)
        {
            return 1;
        }

        var front = Math.Exp(LogGamma(a + b) - LogGamma(a) - LogGamma(b) + (a * Math.Log(x)) + (b * Math.Log(1 - x)));
        return x < (a + 1) / (a + b + 2)
            ? front * ContinuedFraction(a, b, x) / a
            : 1 - (front * ContinuedFraction(b, a, 1 - x) / b);
    }

    private static double ContinuedFraction(double a, double b, double x)
    {
        const double Tiny = 1e-300;
        double c = 1, d = 1 - ((a + b) * x / (a + 1));
        d = 1 / (Math.Abs(d) < Tiny ? Tiny : d);
        var f = d;
        for (var m = 1; m <= 300; m++)
        {
            var m2 = 2 * m;
            var numerator = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
            d = 1 + (numerator * d);
            c = 1 + (numerator / c);
            d = 1 / (Math.Abs(d) < Tiny ? Tiny : d);
            c = Math.Abs(c) < Tiny ? Tiny : c;
            f *= d * c;
            numerator = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
            d = 1 + (numerator * d);
            c = 1 + (numerator / c);
            d = 1 / (Math.Abs(d) < Tiny ? Tiny : d);
            c = Math.Abs(c) < Tiny ? Tiny : c;
            var delta = d * c;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-14)
            {
                break;
            }
        }

        return f;
    }

    private static double LogGamma(double x)
    {
        // Lanczos approximation (g = 7, n = 9).
        double[] g = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
        if (x < 0.5)
        {
            return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        }

        x -= 1;
        var a = g[0];
        var t = x + 7.5;
        for (var i = 1; i < 9; i++)
        {
            a += g[i] / (x + i);
        }

        return (0.5 * Math.Log(2 * Math.PI)) + ((x + 0.5) * Math.Log(t)) - t + Math.Log(a);
    }
}

/// <summary>Statistics for comparing two arms measured on different users (online traffic split between arms).</summary>
public static class IndependentStatistics
{
    /// <summary>
    /// Compares an arm's values with the control's, from different users: the difference of means, a percentile
    /// bootstrap interval (each group resampled on its own, seeded) and Welch's t-test two-sided p-value.
    /// </summary>
    public static Comparison Compare(IReadOnlyList<double> arm, IReadOnlyList<double> control, int iterations = 2000, double confidence = 0.95, int seed = 42)
    {
        ArgumentNullException.ThrowIfNull(arm);
        ArgumentNullException.ThrowIfNull(control);
        if (arm.Count < 2 || control.Count < 2)
        {
            throw new ArgumentException($"Each group needs at least two values; got {arm.Count} and {control.Count}.");
        }

        var random = new Random(seed);
        var values = new double[iterations];
        for (var b = 0; b < iterations; b++)
        {
            values[b] = Mean(arm, random) - Mean(control, random);
        }

        Array.Sort(values);
        var alpha = (1 - confidence) / 2;
        static double Q(double[] v, double q)
        {
            var position = q * (v.Length - 1);
            var low = (int)Math.Floor(position);
            var high = Math.Min(v.Length - 1, low + 1);
            return v[low] + ((position - low) * (v[high] - v[low]));
        }

        return new Comparison(arm.Average() - control.Average(), Q(values, alpha), Q(values, 1 - alpha), WelchTTest(arm, control), Math.Min(arm.Count, control.Count));
    }

    /// <summary>Welch's t-test two-sided p-value (1 when both groups are constant and equal).</summary>
    public static double WelchTTest(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        double ma = a.Average(), mb = b.Average();
        double va = a.Sum(x => (x - ma) * (x - ma)) / (a.Count - 1), vb = b.Sum(x => (x - mb) * (x - mb)) / (b.Count - 1);
        double sa = va / a.Count, sb = vb / b.Count;
        if (sa + sb == 0)
        {
            return ma == mb ? 1 : 0;
        }

        var t = (ma - mb) / Math.Sqrt(sa + sb);
        var df = (sa + sb) * (sa + sb) / ((sa * sa / (a.Count - 1)) + (sb * sb / (b.Count - 1)));
        return PairedStatistics.StudentTTwoSided(t, df);
    }

    private static double Mean(IReadOnlyList<double> values, Random random)
    {
        double sum = 0;
        for (var i = 0; i < values.Count; i++)
        {
            sum += values[random.Next(values.Count)];
        }

        return sum / values.Count;
    }
}
