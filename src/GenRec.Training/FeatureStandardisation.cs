namespace GenRec.Training;

/// <summary>The standardisation of per-candidate features that the rankers fold into their networks.</summary>
internal static class FeatureStandardisation
{
    /// <summary>
    /// Mean and 1 / standard deviation (the deviation at least 1e-3) of each of <paramref name="f"/> features over
    /// blocks of rows (row-major, <paramref name="f"/> values a row). Missing (non-finite) values are left out; the
    /// networks read them as the mean.
    /// </summary>
    public static (float[] Mean, float[] Scale) Of(IEnumerable<float[]> blocks, int f)
    {
        var sum = new double[f];
        var square = new double[f];
        var n = new long[f];
        foreach (var block in blocks)
        {
            for (var i = 0; i < block.Length; i++)
            {
                var v = (double)block[i];
                if (double.IsFinite(v))
                {
                    sum[i % f] += v;
                    square[i % f] += v * v;
                    n[i % f]++;
                }
            }
        }

        var mean = sum.Select((s, k) => (float)(s / Math.Max(1, n[k]))).ToArray();
        var scale = square.Select((s, k) => (float)(1 / Math.Max(1e-3, Math.Sqrt(Math.Max(0, (s / Math.Max(1, n[k])) - (mean[k] * (double)mean[k])))))).ToArray();
        return (mean, scale);
    }
}
