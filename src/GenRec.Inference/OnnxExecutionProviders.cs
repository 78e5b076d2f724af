using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace GenRec.Inference;

/// <summary>
/// Opens ONNX Runtime sessions on the execution provider the options ask for: CUDA first unless the CPU is asked for,
/// then, under <see cref="ExecutionProviderPreference.Auto"/>, the CPU with the reason CUDA could not be used. Used by
/// every ONNX model of the SDK (the generative runtime, the content embedder).
/// </summary>
public static class OnnxExecutionProviders
{
    /// <summary>Opens sessions with <paramref name="open"/> on CUDA or the CPU.</summary>
    /// <typeparam name="T">What <paramref name="open"/> builds (a session, or several).</typeparam>
    /// <param name="options">The preference, device and threads.</param>
    /// <param name="open">Builds the sessions from the session options it is given (which it must not keep).</param>
    /// <param name="provider">Where the sessions run: <see cref="ExecutionProviderPreference.Cuda"/> or <see cref="ExecutionProviderPreference.Cpu"/>.</param>
    /// <param name="fallbackReason">Why CUDA was not used under <see cref="ExecutionProviderPreference.Auto"/>; <see langword="null"/> otherwise.</param>
    /// <returns>What <paramref name="open"/> built.</returns>
    /// <exception cref="InvalidOperationException"><see cref="ExecutionProviderPreference.Cuda"/> was asked for and CUDA cannot be used.</exception>
    public static T Open<T>(OnnxRuntimeOptions options, Func<SessionOptions, T> open, out ExecutionProviderPreference provider, out string? fallbackReason)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(open);
        options.Validate();
        fallbackReason = null;
        if (options.ExecutionProvider != ExecutionProviderPreference.Cpu)
        {
            using var cuda = Fresh(options);
            try
            {
                AppendCuda(cuda, options.CudaDeviceId);
                var result = open(cuda);
                provider = ExecutionProviderPreference.Cuda;
                return result;
            }
            catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
            {
                if (options.ExecutionProvider == ExecutionProviderPreference.Cuda)
                {
                    throw new InvalidOperationException($"The CUDA execution provider was required but cannot be used: {FirstLine(e.Message)} The application must reference Microsoft.ML.OnnxRuntime.Gpu (and not Microsoft.ML.OnnxRuntime) and run where CUDA and cuDNN are installed.", e);
                }

                fallbackReason = e is OnnxRuntimeException
                    ? FirstLine(e.Message)
                    : $"the ONNX Runtime in this application has no CUDA provider ({e.GetType().Name}); reference Microsoft.ML.OnnxRuntime.Gpu";
            }
        }

        using var cpu = Fresh(options);
        var onCpu = open(cpu);
        provider = ExecutionProviderPreference.Cpu;
        return onCpu;
    }

    private static readonly Action<ILogger, string, string, Exception?> CudaFallback = LoggerMessage.Define<string, string>(LogLevel.Warning, new EventId(1, "CudaFallback"), "ONNX Runtime: CUDA is not available ({Reason}); the {Model} runs on the CPU.");
    private static readonly Action<ILogger, string, string, Exception?> Running = LoggerMessage.Define<string, string>(LogLevel.Information, new EventId(2, "ExecutionProvider"), "ONNX Runtime: the {Model} runs on {Provider}.");

    /// <summary>
    /// Opens the two graphs of a model folder as <see cref="Open{T}"/> does, logs the provider chosen (or why CUDA was
    /// not), and reports graphs ONNX Runtime cannot load as <see cref="InvalidDataException"/> naming the folder.
    /// </summary>
    internal static (InferenceSession First, InferenceSession Second) OpenGraphPair(
        OnnxRuntimeOptions options, string directory, string first, string second, string model, ILogger logger, out ExecutionProviderPreference provider, out string? fallbackReason)
    {
        var sessions = OpenGraphs(options, directory, [first, second], model, logger, out provider, out fallbackReason);
        return (sessions[0], sessions[1]);
    }

    /// <summary>As <see cref="OpenGraphPair"/> for any number of graphs of one folder, all on the same provider.</summary>
    internal static InferenceSession[] OpenGraphs(
        OnnxRuntimeOptions options, string directory, string[] files, string model, ILogger logger, out ExecutionProviderPreference provider, out string? fallbackReason)
    {
        return OpenLogged(options, o => OpenAll([.. files.Select(f => Path.Combine(directory, f))], o), directory, model, logger, out provider, out fallbackReason);
    }

    /// <summary>Opens a model's one graph on the preferred provider and logs where it runs (or why CUDA could not be used).</summary>
    internal static InferenceSession OpenGraph(OnnxRuntimeOptions options, string directory, string file, string model, ILogger logger, out ExecutionProviderPreference provider) =>
        OpenLogged(options, o => new InferenceSession(Path.Combine(directory, file), o), directory, model, logger, out provider, out _);

    private static T OpenLogged<T>(OnnxRuntimeOptions options, Func<SessionOptions, T> open, string directory, string model, ILogger logger, out ExecutionProviderPreference provider, out string? fallbackReason)
    {
        T sessions;
        try
        {
            sessions = Open(options, open, out provider, out fallbackReason);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"The graphs in '{directory}' cannot be loaded by ONNX Runtime: {FirstLine(e.Message)}", e);
        }

        if (fallbackReason is not null)
        {
            CudaFallback(logger, fallbackReason, model, null);
        }
        else
        {
            Running(logger, model, provider.ToString(), null);
        }

        return sessions;
    }

    /// <summary>Where state kept between graph runs lives: device memory under CUDA, host memory otherwise.</summary>
    internal static OrtMemoryInfo StateMemory(ExecutionProviderPreference provider, int cudaDevice) =>
        provider == ExecutionProviderPreference.Cuda ? new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, cudaDevice, OrtMemType.Default) : OrtMemoryInfo.DefaultInstance;

    private static InferenceSession[] OpenAll(string[] paths, SessionOptions options)
    {
        // A profile file per session (ONNX Runtime names them by prefix and time, so one prefix for all would collide).
        var profile = options.EnableProfiling ? options.ProfileOutputPathPrefix : null;
        var opened = new List<InferenceSession>(paths.Length);
        try
        {
            foreach (var path in paths)
            {
                if (profile is not null)
                {
                    Profile(options, $"{profile}-{Path.GetFileNameWithoutExtension(path)}");
                }

                opened.Add(new InferenceSession(path, options));
            }

            return [.. opened];
        }
        catch
        {
            foreach (var session in opened)
            {
                session.Dispose();
            }

            throw;
        }
    }

    /// <summary>
    /// Appends the CUDA provider with ONNX Runtime's own logger quieted for the call: where the CUDA libraries are
    /// missing it would print a native error line before our warning says the same thing in words. The exception
    /// still carries ONNX Runtime's message.
    /// </summary>
    private static void AppendCuda(SessionOptions options, int device)
    {
        lock (EnvLogGate)
        {
            var env = OrtEnv.Instance();
            var level = env.EnvLogLevel;
            env.EnvLogLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
            try
            {
                options.AppendExecutionProvider_CUDA(device);
            }
            finally
            {
                env.EnvLogLevel = level;
            }
        }
    }

    private static readonly Lock EnvLogGate = new();

    internal static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();

    private static SessionOptions Fresh(OnnxRuntimeOptions options)
    {
        var fresh = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = options.IntraOpThreads,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        fresh.AddSessionConfigEntry("session.intra_op.allow_spinning", options.AllowSpinning ? "1" : "0");
        if (options.ProfilePrefix is { } prefix)
        {
            Profile(fresh, prefix);
        }

        return fresh;
    }

    /// <summary>Profiling on, to files named from <paramref name="prefix"/>: ONNX Runtime reads the prefix when profiling is switched on, so it is switched off and on again.</summary>
    private static void Profile(SessionOptions options, string prefix)
    {
        options.EnableProfiling = false;
        options.ProfileOutputPathPrefix = prefix;
        options.EnableProfiling = true;
    }
}
