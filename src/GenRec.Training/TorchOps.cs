using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>
/// Tensor arithmetic that does not race the garbage collector. TorchSharp 0.107 turns a number into a native
/// <see cref="Scalar"/> (implicitly, or inside <c>a + b</c>, <c>t * 0.5</c>, <c>arange(n)</c>...) and passes its handle
/// to libtorch while nothing keeps the managed object alive: a collection started by another thread can finalize it
/// mid-call, and libtorch fails with "Scalar::toFloat" or reads a freed value (dotnet/TorchSharp#1496). It failed the
/// quickstart and CI while models were validated on many threads at once. These helpers hold every scalar until the
/// call has returned (a <c>using</c> or a scalar that lives as long as the process); each computes the same operation
/// as the operator it replaces, bit for bit. <c>build/BannedSymbols.TorchSharp.txt</c> makes the compiler refuse the
/// racy forms wherever TorchSharp is called.
/// </summary>
/// <remarks>
/// Integers are passed as 64-bit scalars and other numbers as doubles: a scalar never changes a tensor's type in libtorch's
/// promotion (an int32 tensor plus an int64 scalar stays int32, a float32 tensor times a double stays float32).
/// </remarks>
internal static class TorchOps
{
    private static readonly Scalar One = 1.ToScalar();

    /// <summary><paramref name="a"/> + <paramref name="b"/> (broadcast).</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><paramref name="a"/> + <paramref name="b"/>.</summary>
    public static Tensor Plus(this Tensor a, long b)
    {
        using var s = b.ToScalar();
        return a.add(s, One);
    }

    /// <summary><paramref name="a"/> + <paramref name="b"/>.</summary>
    public static Tensor Plus(this Tensor a, double b)
    {
        using var s = b.ToScalar();
        return a.add(s, One);
    }

    /// <summary><paramref name="a"/> − <paramref name="b"/>.</summary>
    public static Tensor Minus(this Tensor a, double b)
    {
        using var s = b.ToScalar();
        return a.sub(s);
    }

    /// <summary><paramref name="value"/> − <paramref name="t"/> (as TorchSharp's <c>value - t</c>: −t + value).</summary>
    public static Tensor SubtractedFrom(this Tensor t, long value) => t.negative().Plus(value);

    /// <summary><paramref name="a"/> × <paramref name="b"/>.</summary>
    public static Tensor Times(this Tensor a, long b)
    {
        using var s = b.ToScalar();
        return a.mul(s);
    }

    /// <summary><paramref name="a"/> × <paramref name="b"/>.</summary>
    public static Tensor Times(this Tensor a, double b)
    {
        using var s = b.ToScalar();
        return a.mul(s);
    }

    /// <summary><paramref name="a"/> ÷ <paramref name="b"/> (true division).</summary>
    public static Tensor Over(this Tensor a, long b)
    {
        using var s = b.ToScalar();
        return a.div(s);
    }

    /// <summary><paramref name="a"/> ÷ <paramref name="b"/>.</summary>
    public static Tensor Over(this Tensor a, double b)
    {
        using var s = b.ToScalar();
        return a.div(s);
    }

    /// <summary><paramref name="a"/> with <paramref name="value"/> where <paramref name="mask"/> is true.</summary>
    public static Tensor FilledWhere(this Tensor a, Tensor mask, long value)
    {
        using var s = value.ToScalar();
        return a.masked_fill(mask, s);
    }

    /// <summary><paramref name="a"/> with <paramref name="value"/> where <paramref name="mask"/> is true.</summary>
    public static Tensor FilledWhere(this Tensor a, Tensor mask, double value)
    {
        using var s = value.ToScalar();
        return a.masked_fill(mask, s);
    }

    /// <summary><paramref name="a"/> clamped into [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static Tensor Clamped(this Tensor a, long min, long max)
    {
        using var lo = min.ToScalar();
        using var hi = max.ToScalar();
        return a.clamp(lo, hi);
    }

    /// <summary>Where <paramref name="a"/> ≠ <paramref name="value"/> (bool).</summary>
    public static Tensor NotEqual(this Tensor a, long value)
    {
        using var s = value.ToScalar();
        return a.ne(s);
    }

    /// <summary>Where <paramref name="a"/> &gt; <paramref name="value"/> (bool).</summary>
    public static Tensor Greater(this Tensor a, double value)
    {
        using var s = value.ToScalar();
        return a.gt(s);
    }

    /// <summary>0, 1, …, <paramref name="stop"/> − 1 (int64), as <c>torch.arange(stop)</c>.</summary>
    public static Tensor Range(long stop, Device? device = null) => Range(0, stop, device);

    /// <summary><paramref name="start"/>, …, <paramref name="stop"/> − 1 (int64), as <c>torch.arange(start, stop)</c>.</summary>
    public static Tensor Range(long start, long stop, Device? device = null)
    {
        using var from = start.ToScalar();
        using var to = stop.ToScalar();
        using var step = 1L.ToScalar();
        return torch.arange(from, to, step, ScalarType.Int64, device);
    }

    /// <summary>A <paramref name="rows"/> × <paramref name="columns"/> int64 tensor of <paramref name="value"/>.</summary>
    public static Tensor Full(long rows, long columns, long value, Device? device = null)
    {
        using var s = value.ToScalar();
        return torch.full(rows, columns, s, ScalarType.Int64, device);
    }
}
