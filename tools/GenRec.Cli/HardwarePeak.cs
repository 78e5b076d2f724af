using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Text;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;

namespace GenRec.Cli;

/// <summary>
/// What this machine's float arithmetic can do, measured so that it cannot be wrong: the core clock from a chain of
/// dependent integer adds (one cycle each), the vector FMA throughput from a kernel of independent fused multiply-adds
/// on every core at once (so FLOP per cycle per core is measured, not assumed), the theoretical peak those two give,
/// and 1024³ matrix multiplies by ONNX Runtime and TorchSharp timed over seconds of back-to-back work, their products
/// checked against a double-precision reference. A matrix multiply faster than the theoretical peak is reported as
/// an error rather than used.
/// </summary>
/// <param name="Cores">Logical processors the process may use.</param>
/// <param name="ClockGhz">Cycles per second of one core, all cores busy (median of the cores; per second of the threads' own CPU time).</param>
/// <param name="VectorBits">The widest float vector the JIT accelerates here (512: AVX-512).</param>
/// <param name="FlopPerCycle">Float operations per cycle per core (an FMA counts 2) of the whole FMA pipes the kernel's measured throughput implies (rounded up).</param>
/// <param name="FmaGflops">The FMA kernel's GFLOP/s on all cores at once (per second of each thread's CPU time).</param>
/// <param name="TheoreticalGflops">Cores × clock × FLOP per cycle: the ceiling no float kernel passes.</param>
/// <param name="OnnxMatMulGflops">ONNX Runtime's 1024³ float matrix multiply (median run of at least 2 s of runs).</param>
/// <param name="TorchMatMulGflops">TorchSharp's, the same way.</param>
/// <param name="MaxRelativeError">The largest relative error of either product against the double-precision reference, on sampled entries.</param>
internal sealed partial record HardwarePeak(
    int Cores, double ClockGhz, int VectorBits, double FlopPerCycle, double FmaGflops, double TheoreticalGflops, double OnnxMatMulGflops, double TorchMatMulGflops, double MaxRelativeError)
{
    private const int MatrixSize = 1024;

    /// <summary>The figure "% of peak" is measured against: the theoretical peak.</summary>
    public double Peak => TheoreticalGflops;

    /// <summary>The best matrix multiply as a share of the theoretical peak.</summary>
    public double MatMulShare => Math.Max(OnnxMatMulGflops, TorchMatMulGflops) / TheoreticalGflops;

    /// <summary>Measures every figure (about 10 s on an idle machine).</summary>
    /// <param name="status">Receives a line per measurement.</param>
    /// <returns>The figures.</returns>
    /// <exception cref="InvalidOperationException">A product is wrong, or a multiply beats the theoretical peak (the clock or the kernel measured wrong).</exception>
    public static HardwarePeak Measure(Action<string> status)
    {
        var cores = Environment.ProcessorCount;
        var clock = OnEveryCore(cores, () => ClockGhzOnThisCore(TimeSpan.FromSeconds(0.5))).Order().ToArray()[cores / 2];
        status(string.Create(CultureInfo.InvariantCulture, $"core clock, all {cores} cores busy: {clock:0.00} GHz (dependent adds, one cycle each)"));
        var bits = Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : 128;
        var fma = OnEveryCore(cores, () => FmaGflopsOnThisCore(bits, TimeSpan.FromSeconds(1))).Sum();
        var perCycle = fma / (cores * clock);
        var lanes = bits / 32;
        // Whole FMA pipes, rounded up: the kernel reaches 75–90 % of them (wide vectors lower the clock on some cores,
        // and a virtual machine's cores may share a physical one at times). x86 cores have at most two.
        var pipes = Math.Max(1, Math.Ceiling((perCycle / (2.0 * lanes)) - 0.1));
        if (System.Runtime.Intrinsics.X86.X86Base.IsSupported)
        {
            pipes = Math.Min(pipes, 2);
        }

        var theoretical = cores * clock * pipes * 2 * lanes;
        status(string.Create(CultureInfo.InvariantCulture, $"FMA kernel ({bits}-bit vectors, 16 independent chains per core): {fma:0.0} GFLOP/s = {perCycle:0.0} FLOP per cycle per core ≈ {pipes} FMA pipe(s) × {lanes} lanes × 2; theoretical peak {theoretical:0.0} GFLOP/s"));

        var random = new Random(1);
        var a = Enumerable.Range(0, MatrixSize * MatrixSize).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var b = Enumerable.Range(0, MatrixSize * MatrixSize).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var (onnx, onnxError) = OnnxMatMul(a, b);
        var (eager, torchError) = TorchMatMul(a, b);
        var error = Math.Max(onnxError, torchError);
        status(string.Create(CultureInfo.InvariantCulture, $"matrix multiply {MatrixSize}³ over ≥ 2 s of runs: ONNX Runtime {onnx:0.0} GFLOP/s, TorchSharp {eager:0.0} GFLOP/s ({100 * Math.Max(onnx, eager) / theoretical:0.0} % of the theoretical peak); products within {error:0.0e+0} relative error of double precision"));
        if (error > 1e-3)
        {
            throw new InvalidOperationException($"A {MatrixSize}³ product differs from the double-precision reference by {error:0.0e+0} (relative): its timing would measure a wrong computation.");
        }

        var peak = new HardwarePeak(cores, clock, bits, pipes * 2 * lanes, fma, theoretical, onnx, eager, error);
        if (fma > 1.02 * theoretical)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"The FMA kernel measured {100 * fma / theoretical:0} % of the theoretical peak: the clock ({clock:0.00} GHz) measured wrong."));
        }

        if (peak.MatMulShare > 1.02)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"A matrix multiply measured {100 * peak.MatMulShare:0} % of the theoretical peak: the clock ({clock:0.00} GHz) or the FMA kernel measured wrong."));
        }

        return peak;
    }

    /// <summary><c>genrec bench peak</c>: the figures alone, as a table (and JSON on the last line).</summary>
    /// <returns>The command.</returns>
    public static System.CommandLine.Command Create()
    {
        var command = new System.CommandLine.Command("peak", "This machine's float peak, measured so that it cannot be wrong: core clock, FMA throughput per cycle, the theoretical peak they give, and checked matrix multiplies against it.");
        command.SetAction(_ =>
        {
            var peak = Measure(ConsoleProgress.Status);
            Console.WriteLine(peak.Table());
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(peak));
            return 0;
        });
        return command;
    }

    /// <summary>A Markdown table of the figures.</summary>
    /// <returns>The table.</returns>
    public string Table()
    {
        var text = new StringBuilder();
        text.AppendLine("| measure | GFLOP/s | % of theoretical | how |");
        text.AppendLine("|---|---:|---:|---|");
        text.AppendLine(CultureInfo.InvariantCulture, $"| theoretical peak | {TheoreticalGflops:0.0} | 100.0 | {Cores} cores × {ClockGhz:0.00} GHz × {FlopPerCycle:0} FLOP/cycle ({VectorBits}-bit FMA) |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| FMA kernel | {FmaGflops:0.0} | {100 * FmaGflops / TheoreticalGflops:0.0} | 16 independent {VectorBits}-bit FMA chains per core, all cores |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| ONNX Runtime matmul {MatrixSize}³ | {OnnxMatMulGflops:0.0} | {100 * OnnxMatMulGflops / TheoreticalGflops:0.0} | median run over ≥ 2 s, product checked |");
        text.AppendLine(CultureInfo.InvariantCulture, $"| TorchSharp matmul {MatrixSize}³ | {TorchMatMulGflops:0.0} | {100 * TorchMatMulGflops / TheoreticalGflops:0.0} | median run over ≥ 2 s, product checked |");
        return text.ToString();
    }

    /// <summary>
    /// Seconds this thread has run on a core (Linux: <c>CLOCK_THREAD_CPUTIME_ID</c>), so that time it spent preempted —
    /// by another process, or a runtime's spinning threads — does not count as cycles; wall time elsewhere.
    /// </summary>
    private static Func<double> ThreadSeconds()
    {
        if (OperatingSystem.IsLinux())
        {
            return () => ClockGetTime(3, out var t) == 0 ? t.Seconds + (t.Nanoseconds / 1e9) : throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed.");
        }

        var wall = Stopwatch.StartNew();
        return () => wall.Elapsed.TotalSeconds;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary>Runs <paramref name="work"/> on one new thread per core at once; their results.</summary>
    private static double[] OnEveryCore(int cores, Func<double> work)
    {
        var results = new double[cores];
        using var start = new Barrier(cores);
        var threads = Enumerable.Range(0, cores).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            results[i] = work();
        })).ToArray();
        foreach (var t in threads)
        {
            t.Start();
        }

        foreach (var t in threads)
        {
            t.Join();
        }

        return results;
    }

    /// <summary>Cycles per second: a chain of dependent adds, one cycle each, run for at least <paramref name="duration"/> of this thread's CPU time.</summary>
    private static double ClockGhzOnThisCore(TimeSpan duration)
    {
        const long Iterations = 20_000_000;
        DependentAdds(Iterations / 10, 1); // warm the clock up
        var cpu = ThreadSeconds();
        long adds = 0;
        long sink = 0;
        var start = cpu();
        while (cpu() - start < duration.TotalSeconds)
        {
            sink ^= DependentAdds(Iterations, adds);
            adds += 8 * Iterations;
        }

        GC.KeepAlive(sink);
        return adds / (cpu() - start) / 1e9;
    }

    /// <summary>
    /// 8 adds per iteration, each reading the one before: 8 cycles per iteration whatever the loop's own work. Fully
    /// optimised from the first call (no tiered JIT): unoptimised code keeps the chain in memory and reads a slower clock.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long DependentAdds(long iterations, long seed)
    {
        long x = seed, y = 1;
        for (long i = 0; i < iterations; i++)
        {
            x += y;
            y += x;
            x += y;
            y += x;
            x += y;
            y += x;
            x += y;
            y += x;
        }

        return x ^ y;
    }

    /// <summary>GFLOP/s of 16 independent FMA chains of the given vector width per second of this thread's CPU time, run for at least <paramref name="duration"/> of it.</summary>
    private static double FmaGflopsOnThisCore(int bits, TimeSpan duration)
    {
        const long Iterations = 5_000_000;
        Func<long, float> kernel = bits switch { 512 => Fma512, 256 => Fma256, _ => Fma128 };
        kernel(Iterations / 10);
        var cpu = ThreadSeconds();
        long done = 0;
        float sink = 0;
        var start = cpu();
        while (cpu() - start < duration.TotalSeconds)
        {
            sink += kernel(Iterations);
            done += Iterations;
        }

        GC.KeepAlive(sink);
        return done * 16.0 * (bits / 32) * 2 / (cpu() - start) / 1e9;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Fma512(long iterations)
    {
        var m = Vector512.Create(0.9999999f);
        var c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(0.1f), a1 = Vector512.Create(0.2f), a2 = Vector512.Create(0.3f), a3 = Vector512.Create(0.4f),
            a4 = Vector512.Create(0.5f), a5 = Vector512.Create(0.6f), a6 = Vector512.Create(0.7f), a7 = Vector512.Create(0.8f),
            a8 = Vector512.Create(0.9f), a9 = Vector512.Create(1.0f), a10 = Vector512.Create(1.1f), a11 = Vector512.Create(1.2f),
            a12 = Vector512.Create(1.3f), a13 = Vector512.Create(1.4f), a14 = Vector512.Create(1.5f), a15 = Vector512.Create(1.6f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c);
            a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c);
            a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c);
            a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c);
            a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c);
            a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c);
            a11 = Vector512.FusedMultiplyAdd(a11, m, c);
            a12 = Vector512.FusedMultiplyAdd(a12, m, c);
            a13 = Vector512.FusedMultiplyAdd(a13, m, c);
            a14 = Vector512.FusedMultiplyAdd(a14, m, c);
            a15 = Vector512.FusedMultiplyAdd(a15, m, c);
        }

        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Fma256(long iterations)
    {
        var m = Vector256.Create(0.9999999f);
        var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(0.1f), a1 = Vector256.Create(0.2f), a2 = Vector256.Create(0.3f), a3 = Vector256.Create(0.4f),
            a4 = Vector256.Create(0.5f), a5 = Vector256.Create(0.6f), a6 = Vector256.Create(0.7f), a7 = Vector256.Create(0.8f),
            a8 = Vector256.Create(0.9f), a9 = Vector256.Create(1.0f), a10 = Vector256.Create(1.1f), a11 = Vector256.Create(1.2f),
            a12 = Vector256.Create(1.3f), a13 = Vector256.Create(1.4f), a14 = Vector256.Create(1.5f), a15 = Vector256.Create(1.6f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c);
            a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c);
            a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c);
            a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c);
            a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            a8 = Vector256.FusedMultiplyAdd(a8, m, c);
            a9 = Vector256.FusedMultiplyAdd(a9, m, c);
            a10 = Vector256.FusedMultiplyAdd(a10, m, c);
            a11 = Vector256.FusedMultiplyAdd(a11, m, c);
            a12 = Vector256.FusedMultiplyAdd(a12, m, c);
            a13 = Vector256.FusedMultiplyAdd(a13, m, c);
            a14 = Vector256.FusedMultiplyAdd(a14, m, c);
            a15 = Vector256.FusedMultiplyAdd(a15, m, c);
        }

        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Fma128(long iterations)
    {
        var m = Vector128.Create(0.9999999f);
        var c = Vector128.Create(1e-7f);
        Vector128<float> a0 = Vector128.Create(0.1f), a1 = Vector128.Create(0.2f), a2 = Vector128.Create(0.3f), a3 = Vector128.Create(0.4f),
            a4 = Vector128.Create(0.5f), a5 = Vector128.Create(0.6f), a6 = Vector128.Create(0.7f), a7 = Vector128.Create(0.8f);
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector128.FusedMultiplyAdd(a0, m, c);
            a1 = Vector128.FusedMultiplyAdd(a1, m, c);
            a2 = Vector128.FusedMultiplyAdd(a2, m, c);
            a3 = Vector128.FusedMultiplyAdd(a3, m, c);
            a4 = Vector128.FusedMultiplyAdd(a4, m, c);
            a5 = Vector128.FusedMultiplyAdd(a5, m, c);
            a6 = Vector128.FusedMultiplyAdd(a6, m, c);
            a7 = Vector128.FusedMultiplyAdd(a7, m, c);
            a0 = Vector128.FusedMultiplyAdd(a0, m, c);
            a1 = Vector128.FusedMultiplyAdd(a1, m, c);
            a2 = Vector128.FusedMultiplyAdd(a2, m, c);
            a3 = Vector128.FusedMultiplyAdd(a3, m, c);
            a4 = Vector128.FusedMultiplyAdd(a4, m, c);
            a5 = Vector128.FusedMultiplyAdd(a5, m, c);
            a6 = Vector128.FusedMultiplyAdd(a6, m, c);
            a7 = Vector128.FusedMultiplyAdd(a7, m, c);
        }

        return Vector128.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }

    /// <summary>GFLOP/s of the median run over at least 2 s of runs (and 5 runs), after 2 warm-up runs.</summary>
    private static double MedianGflops(Action run)
    {
        const double Flops = 2.0 * MatrixSize * MatrixSize * MatrixSize;
        run();
        run();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < 5 || total.Elapsed < TimeSpan.FromSeconds(2))
        {
            var start = Stopwatch.GetTimestamp();
            run();
            times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }

        times.Sort();
        return Flops / times[times.Count / 2] / 1e9;
    }

    /// <summary>The largest relative error of 256 sampled entries of C = A·B against double precision (relative to the entry's scale Σ|aᵢₖ bₖⱼ|).</summary>
    private static double ProductError(float[] a, float[] b, ReadOnlySpan<float> c)
    {
        const int n = MatrixSize;
        var random = new Random(2);
        double worst = 0;
        for (var s = 0; s < 256; s++)
        {
            int i = random.Next(n), j = random.Next(n);
            double exact = 0, scale = 0;
            for (var k = 0; k < n; k++)
            {
                var p = (double)a[(i * n) + k] * b[(k * n) + j];
                exact += p;
                scale += Math.Abs(p);
            }

            worst = Math.Max(worst, Math.Abs(c[(i * n) + j] - exact) / Math.Max(scale, 1e-30));
        }

        return worst;
    }

    private static (double Gflops, double Error) OnnxMatMul(float[] a, float[] b)
    {
        const int n = MatrixSize;
        using var session = new InferenceSession(MatMulModel(b));
        using var input = OrtValue.CreateTensorValueFromMemory(a, [n, n]);
        using var options = new RunOptions();
        string[] names = ["a"], outputs = ["c"];
        double error;
        using (var result = session.Run(options, names, [input], outputs))
        {
            error = ProductError(a, b, result[0].GetTensorDataAsSpan<float>());
        }

        return (MedianGflops(() =>
        {
            using var result = session.Run(options, names, [input], outputs);
        }), error);
    }

    private static (double Gflops, double Error) TorchMatMul(float[] a, float[] b)
    {
        const int n = MatrixSize;
        using var ta = torch.tensor(a, [n, n]);
        using var tb = torch.tensor(b, [n, n]);
        double error;
        using (var c = torch.mm(ta, tb))
        {
            error = ProductError(a, b, c.data<float>().ToArray());
        }

        return (MedianGflops(() =>
        {
            using var c = torch.mm(ta, tb);
        }), error);
    }

    private static byte[] MatMulModel(float[] b)
    {
        const int n = MatrixSize;
        var weights = new global::Onnx.TensorProto { Name = "b", DataType = (int)global::Onnx.TensorProto.Types.DataType.Float };
        weights.Dims.Add(n);
        weights.Dims.Add(n);
        var bytes = new byte[b.Length * sizeof(float)];
        Buffer.BlockCopy(b, 0, bytes, 0, bytes.Length);
        weights.RawData = ByteString.CopyFrom(bytes);
        var graph = new global::Onnx.GraphProto { Name = "peak" };
        graph.Initializer.Add(weights);
        var node = new global::Onnx.NodeProto { OpType = "MatMul", Name = "mm" };
        node.Input.Add("a");
        node.Input.Add("b");
        node.Output.Add("c");
        graph.Node.Add(node);
        graph.Input.Add(Value("a"));
        graph.Output.Add(Value("c"));
        var model = new global::Onnx.ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new global::Onnx.OperatorSetIdProto { Domain = "", Version = 17 });
        return model.ToByteArray();

        static global::Onnx.ValueInfoProto Value(string name)
        {
            var shape = new global::Onnx.TensorShapeProto();
            shape.Dim.Add(new global::Onnx.TensorShapeProto.Types.Dimension { DimValue = n });
            shape.Dim.Add(new global::Onnx.TensorShapeProto.Types.Dimension { DimValue = n });
            return new global::Onnx.ValueInfoProto { Name = name, Type = new global::Onnx.TypeProto { TensorType = new global::Onnx.TypeProto.Types.Tensor { ElemType = (int)global::Onnx.TensorProto.Types.DataType.Float, Shape = shape } } };
        }
    }
}
