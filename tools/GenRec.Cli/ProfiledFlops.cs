using System.Text.Json;

namespace GenRec.Cli;

/// <summary>
/// Floating-point operations counted from what ONNX Runtime actually ran: its per-node profile
/// (<c>OnnxRuntimeOptions.ProfilePrefix</c>) records each node's operator and the shapes of its inputs and outputs,
/// so every matrix product's 2·M·K·N (batched) comes from the executed graph, after ONNX Runtime's own fusions —
/// the check on a FLOP count derived by hand from the model's configuration.
/// </summary>
internal static class ProfiledFlops
{
    /// <summary>The operators whose work is a (batched) matrix product.</summary>
    private static readonly HashSet<string> Products = ["MatMul", "Gemm", "FusedMatMul", "FusedGemm", "MatMulInteger", "MatMulIntegerToFloat", "QGemm"];

    /// <summary>The matrix products' operations in a profile, and how many product nodes ran.</summary>
    /// <param name="path">An ONNX Runtime profile (Chrome trace JSON).</param>
    /// <returns>2 × multiply-adds of every product node run, and the number of such runs.</returns>
    /// <exception cref="InvalidDataException">The file is not such a profile, or a product's shapes do not fit.</exception>
    public static (double Flops, int Products) Count(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        if (document.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"'{path}' is not an ONNX Runtime profile (a JSON array of trace events).");
        }

        double flops = 0;
        var products = 0;
        foreach (var e in document.RootElement.EnumerateArray())
        {
            if (!e.TryGetProperty("cat", out var cat) || cat.GetString() != "Node"
                || !e.TryGetProperty("name", out var name) || name.GetString()?.EndsWith("_kernel_time", StringComparison.Ordinal) != true
                || !e.TryGetProperty("args", out var args) || !args.TryGetProperty("op_name", out var op) || !Products.Contains(op.GetString() ?? ""))
            {
                continue;
            }

            var a = Shape(args.GetProperty("input_type_shape")[0]);
            var output = Shape(args.GetProperty("output_type_shape")[0]);
            flops += 2.0 * Elements(output) * Inner(a, output, path, name.GetString()!);
            products++;
        }

        return (flops, products);
    }

    /// <summary>
    /// The product's inner dimension K: A holds M × K values per matrix, M the output's rows (A may be transposed, as
    /// Gemm and FusedMatMul allow, so K is read from the sizes, not from a position).
    /// </summary>
    private static long Inner(long[] a, long[] output, string path, string node)
    {
        if (a.Length == 1)
        {
            return a[0];
        }

        var rows = output.Length >= 2 ? output[^2] : 1;
        var matrix = a[^2] * a[^1];
        return rows > 0 && matrix % rows == 0
            ? matrix / rows
            : throw new InvalidDataException($"'{path}': node {node} has an input of shape [{string.Join(", ", a)}] and an output of [{string.Join(", ", output)}]: not a matrix product.");
    }

    private static long Elements(long[] shape) => shape.Aggregate(1L, (p, d) => p * d);

    /// <summary>A shape entry of the profile: <c>{"float": [d0, d1, …]}</c>.</summary>
    private static long[] Shape(JsonElement typed) =>
        [.. typed.EnumerateObject().First().Value.EnumerateArray().Select(d => d.GetInt64())];
}
