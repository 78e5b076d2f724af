using TorchSharp;
using static TorchSharp.torch;

namespace GenRec.Training;

/// <summary>
/// Tensor arithmetic that does not race the garbage collector. TorchSharp 0.107's <c>a + b</c> adds with an implicit
/// <see cref="Scalar"/> (alpha = 1) whose native handle libtorch reads while nothing keeps the managed object alive: a
/// collection on another thread can finalize it mid-call, and libtorch fails with "Scalar::toFloat" or reads a freed
/// value (dotnet/TorchSharp#1496). Seen in the quickstart while a model was validated on many threads at once. These
/// helpers pass scalars that live as long as the process; results are the same operation's, bit for bit. Used for every
/// tensor + tensor in the TIGER and HSTU forward passes.
/// </summary>
internal static class TorchOps
{
    private static readonly Scalar One = 1.ToScalar();

    /// <summary><paramref name="a"/> + <paramref name="b"/> (broadcast), with a scalar that is never finalized.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);
}
