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

    /// <summary>Transposes k row-major centroids of width d into d rows of k (the layout <see cref="Scores"/> reads).</summary>
    public static float[] Transpose(ReadOnlySpan<float> centroids, int k, int d)
    {
        var t = new float[k * d];
        for (var c = 0; c < k; c++)
        {
            for (var j = 0; j < d; j++)
            {
                t[(j * k) + c] = centroids[(c * d) + j];
            }
        }

        return t;
    }

    /// <summary>
    /// scores[c] = ||c||² − 2 x·c for every centroid (the squared distance less ||x||²), from transposed centroids:
    /// one vectorised multiply-add over all centroids per input dimension, no horizontal sums.
    /// </summary>
    public static void Scores(ReadOnlySpan<float> x, ReadOnlySpan<float> centroidsT, ReadOnlySpan<float> norms, Span<float> scores)
    {
        var k = norms.Length;
        norms.CopyTo(scores);
        var vectorized = Vector.IsHardwareAccelerated ? k - (k % Vector<float>.Count) : 0;
        var vs = MemoryMarshal.Cast<float, Vector<float>>(scores[..vectorized]);
        for (var j = 0; j < x.Length; j++)
        {
            var a = -2 * x[j];
            var row = centroidsT.Slice(j * k, k);
            var vrow = MemoryMarshal.Cast<float, Vector<float>>(row[..vectorized]);
            var va = new Vector<float>(a);
            for (var v = 0; v < vs.Length; v++)
            {
                vs[v] += va * vrow[v];
            }

            for (var c = vectorized; c < k; c++)
            {
                scores[c] += a * row[c];
            }
        }
    }
}
