namespace GenRec.Experiments.Tests;

/// <summary>Known cases; reference p-values from numerical integration of the Student-t density (Simpson, 400,000 steps).</summary>
public sealed class StatisticsTests
{
    [Theory]
    [InlineData(2.228, 10, 0.050012)]
    [InlineData(1.812, 10, 0.100075)]
    [InlineData(1.0, 1, 0.5)]
    [InlineData(0.0, 5, 1.0)]
    [InlineData(1.959964, 1e7, 0.05)]
    public void Student_t_tails_match_reference_values(double t, double df, double p)
    {
        Assert.Equal(p, PairedStatistics.StudentTTwoSided(t, df), 4);
        Assert.Equal(p, PairedStatistics.StudentTTwoSided(-t, df), 4);
    }

    [Fact]
    public void Paired_t_test_matches_a_hand_computed_case()
    {
        // d = 1..5: mean 3, sd 1.5811, t = 4.2426 with 4 degrees of freedom.
        Assert.Equal(0.013236, PairedStatistics.PairedTTest([1, 2, 3, 4, 5]), 5);
        Assert.Equal(1.0, PairedStatistics.PairedTTest([0, 0, 0]));
    }

    [Fact]
    public void Welch_t_test_matches_a_hand_computed_case()
    {
        // Means 3 and 6, variances 2.5 and 10: t = −1.8974, 5.88 degrees of freedom.
        Assert.Equal(0.107531, IndependentStatistics.WelchTTest([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]), 5);
    }

    [Fact]
    public void The_bootstrap_interval_matches_the_normal_interval_on_a_large_sample()
    {
        var random = new Random(1);
        var control = Enumerable.Range(0, 4000).Select(_ => random.NextDouble()).ToArray();
        var arm = control.Select(c => c + 0.05 + ((random.NextDouble() - 0.5) * 0.2)).ToArray();
        var d = arm.Zip(control, (a, c) => a - c).ToArray();
        var mean = d.Average();
        var se = Math.Sqrt(d.Sum(x => (x - mean) * (x - mean)) / (d.Length - 1) / d.Length);

        var c = PairedStatistics.Compare(arm, control, iterations: 2000);

        Assert.Equal(mean, c.Difference, 12);
        Assert.Equal(mean - (1.96 * se), c.Lower, 0.15 * se * 1.96);
        Assert.Equal(mean + (1.96 * se), c.Upper, 0.15 * se * 1.96);
        Assert.True(c.Significant);
        Assert.True(c.PValue < 1e-6);
        Assert.Equal(4000, c.N);
    }

    [Fact]
    public void No_difference_is_not_significant()
    {
        // Noise in ± pairs: the mean difference is exactly zero.
        var random = new Random(2);
        var control = Enumerable.Range(0, 500).Select(_ => random.NextDouble()).ToArray();
        var noise = Enumerable.Range(0, 250).Select(_ => random.NextDouble() * 0.01).SelectMany(e => new[] { e, -e }).ToArray();
        var arm = control.Select((c, i) => c + noise[i]).ToArray();

        var c = PairedStatistics.Compare(arm, control);

        Assert.InRange(0.0, c.Lower, c.Upper);
        Assert.False(c.Significant);
        Assert.True(c.PValue > 0.05);
    }

    [Fact]
    public void Mismatched_or_tiny_samples_are_refused()
    {
        Assert.Throws<ArgumentException>(() => PairedStatistics.Compare([1, 2], [1]));
        Assert.Throws<ArgumentException>(() => PairedStatistics.Compare([1], [1]));
        Assert.Throws<ArgumentException>(() => IndependentStatistics.Compare([1], [1, 2]));
    }
}
