using System.Numerics;
using System.Runtime.InteropServices;

namespace GenRec.SemanticIds;

/// <summary>SIMD helpers for the quantizers.</summary>
internal static class VectorMath
{
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = Vector<float>.Zero;
        var i = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<float>.Count)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            for (var k = 0; k < va.Length; k++)
            {
                sum += va[k] * vb[k];
            }

            i = va.Length * Vector<float>.Count;
        }

        var total = Vector.Sum(sum);
        for (; i < a.Length; i++)
        {
            total += a[i] * b[i];
        }

        return total;
    }

    public static float SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = Vector<float>.Zero;
        var i = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<float>.Count)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            for (var k = 0; k < va.Length; k++)
            {
                var d = va[k] - vb[k];
                sum += d * d;
            }

            i = va.Length * Vector<float>.Count;
        }

        var total = Vector.Sum(sum);
        for (; i < a.Length; i++)
        {
            var d = a[i] - b[i];
            total += d * d;
        }

        return total;
    }

    /// <summary>The index of the nearest of <paramref name="k"/> centroids (row-major) and its squared distance.</summary>
    public static (int Index, float Distance) Nearest(ReadOnlySpan<float> x, ReadOnlySpan<float> centroids, ReadOnlySpan<float> centroidNorms, int k)
    {
        var d = x.Length;
        var best = -1;
        var bestScore = float.PositiveInfinity;
        for (var c = 0; c < k; c++)
        {
            // ||x - c||² = ||x||² - 2 x·c + ||c||²; ||x||² is the same for every c.
            var score = centroidNorms[c] - (2 * Dot(x, centroids.Slice(c * d, d)));
            if (score < bestScore)
            {
                bestScore = score;
                best = c;
            }
        }

        return (best, Math.Max(0, bestScore + Dot(x, x)));
    }
}
