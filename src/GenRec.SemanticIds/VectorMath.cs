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

    /// <summary>
    /// Inner products of <paramref name="query"/> with <paramref name="scores"/>.Length consecutive rows of
    /// <paramref name="rows"/> (row-major, as wide as the query), four rows per pass so each chunk of the query is
    /// loaded once for four rows.
    /// </summary>
    public static void DotRows(ReadOnlySpan<float> query, ReadOnlySpan<float> rows, Span<float> scores)
    {
        var d = query.Length;
        var width = Vector<float>.Count;
        var chunks = Vector.IsHardwareAccelerated ? d / width : 0;
        var q = MemoryMarshal.Cast<float, Vector<float>>(query[..(chunks * width)]);
        var r = 0;
        for (; r + 4 <= scores.Length; r += 4)
        {
            var a = MemoryMarshal.Cast<float, Vector<float>>(rows.Slice(r * d, chunks * width));
            var b = MemoryMarshal.Cast<float, Vector<float>>(rows.Slice((r + 1) * d, chunks * width));
            var c = MemoryMarshal.Cast<float, Vector<float>>(rows.Slice((r + 2) * d, chunks * width));
            var e = MemoryMarshal.Cast<float, Vector<float>>(rows.Slice((r + 3) * d, chunks * width));
            Vector<float> s0 = default, s1 = default, s2 = default, s3 = default;
            for (var k = 0; k < q.Length; k++)
            {
                var v = q[k];
                s0 += v * a[k];
                s1 += v * b[k];
                s2 += v * c[k];
                s3 += v * e[k];
            }

            float t0 = Vector.Sum(s0), t1 = Vector.Sum(s1), t2 = Vector.Sum(s2), t3 = Vector.Sum(s3);
            for (var j = chunks * width; j < d; j++)
            {
                var v = query[j];
                t0 += v * rows[(r * d) + j];
                t1 += v * rows[((r + 1) * d) + j];
                t2 += v * rows[((r + 2) * d) + j];
                t3 += v * rows[((r + 3) * d) + j];
            }

            scores[r] = t0;
            scores[r + 1] = t1;
            scores[r + 2] = t2;
            scores[r + 3] = t3;
        }

        for (; r < scores.Length; r++)
        {
            scores[r] = Dot(query, rows.Slice(r * d, d));
        }
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
