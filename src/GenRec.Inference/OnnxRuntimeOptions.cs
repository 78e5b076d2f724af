namespace GenRec.Inference;

/// <summary>Which ONNX Runtime execution provider a model runs on.</summary>
public enum ExecutionProviderPreference
{
    /// <summary>CUDA when the runtime package and a GPU allow it, the CPU otherwise (logged, with the reason).</summary>
    Auto = 0,

    /// <summary>The CPU only.</summary>
    Cpu = 1,

    /// <summary>CUDA or fail: loading throws when CUDA is not available.</summary>
    Cuda = 2,
}

/// <summary>Options of an <see cref="OnnxGenerativeModel"/>.</summary>
public sealed class OnnxRuntimeOptions
{
    /// <summary>The execution provider. Default: <see cref="ExecutionProviderPreference.Auto"/>.</summary>
    public ExecutionProviderPreference ExecutionProvider { get; set; } = ExecutionProviderPreference.Auto;

    /// <summary>The CUDA device. Default: 0.</summary>
    public int CudaDeviceId { get; set; }

    /// <summary>Threads of one operator on the CPU; 0 lets ONNX Runtime choose (one per core). Default: 0.</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Whether ONNX Runtime's CPU threads spin while waiting for work: slightly lower latency for one request at a
    /// time, but the spinning takes cores from the service's own threads (request handling, the micro-batcher, the
    /// beam search); on a 2-core machine it cost up to 40 % of the throughput under load (docs/benchmarks.md).
    /// Default: <see langword="false"/>.
    /// </summary>
    public bool AllowSpinning { get; set; }

    /// <summary>
    /// When set, every session writes ONNX Runtime's per-node profile (a Chrome trace: each node's time and its inputs'
    /// and outputs' shapes) to a file whose name starts with this path and the graph's name; the model's
    /// <c>EndProfiling</c> closes the files and returns their paths. For measuring, not for serving: every run is
    /// recorded. Default: <see langword="null"/> (off).
    /// </summary>
    public string? ProfilePrefix { get; set; }

    /// <summary>
    /// Generative models: parallel decoding. Once every request's beam search can return no more than this many
    /// items per beam (its live beams' completions in the trie), the remaining semantic-ID positions of all of them are
    /// scored in one run of the model's draft graph instead of one step per position: fewer runs, and the result is
    /// at least as probable as stepping on (every item the beam search could still reach is scored in full and the
    /// best beam width kept). Larger values draft earlier (fewer runs, more tokens scored). 0 decodes one position per
    /// step. Ignored by models without a draft graph. Default: 0 (docs/benchmarks.md measures the trade-off).
    /// </summary>
    public int DraftsPerBeam { get; set; }

    internal void Validate()
    {
        if (!Enum.IsDefined(ExecutionProvider))
        {
            throw new ArgumentOutOfRangeException(nameof(ExecutionProvider), ExecutionProvider, "Unknown execution provider.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(CudaDeviceId);
        ArgumentOutOfRangeException.ThrowIfNegative(IntraOpThreads);
        ArgumentOutOfRangeException.ThrowIfNegative(DraftsPerBeam);
    }
}
