using GenRec.Adapters;
using GenRec.Inference;
using GenRec.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Binds <see cref="GenRecOptions"/> from the <c>GenRec</c> section of the application's configuration, when it has one.</summary>
internal sealed class GenRecOptionsBinding(IServiceProvider services) : IConfigureOptions<GenRecOptions>
{
    public void Configure(GenRecOptions options) =>
        services.GetService<IConfiguration>()?.GetSection(GenRecServiceCollectionExtensions.ConfigurationSection).Bind(options);
}

/// <summary>Binds each adapter's <see cref="AdapterOptions"/> from <c>GenRec:Adapters:{name}</c>, when the application has a configuration.</summary>
internal sealed class AdapterOptionsBinding(IServiceProvider services) : IConfigureNamedOptions<AdapterOptions>
{
    public void Configure(AdapterOptions options) => Configure(Options.Options.DefaultName, options);

    public void Configure(string? name, AdapterOptions options)
    {
        if (!string.IsNullOrEmpty(name))
        {
            services.GetService<IConfiguration>()?.GetSection(AdapterOptionsValidator.Section(name)).Bind(options);
        }
    }
}

/// <summary>Checks the files the builder was pointed at and every nested option, each problem naming its configuration key.</summary>
internal sealed class GenRecOptionsValidator : IValidateOptions<GenRecOptions>
{
    public ValidateOptionsResult Validate(string? name, GenRecOptions options)
    {
        var problems = new List<string>();
        if (options.IndexPath is { } index && !File.Exists(index))
        {
            problems.Add($"GenRec: the semantic-ID index '{index}' (AddSemanticIdIndex) does not exist (GenRec:IndexPath).");
        }

        if (options.ModelPath is { } model && !File.Exists(Path.Combine(model, GenerativeGraphContract.ManifestFile)))
        {
            problems.Add($"GenRec: '{model}' (AddOnnxModel) is not a model folder: it has no {GenerativeGraphContract.ManifestFile} (export one with `genrec export`; GenRec:ModelPath).");
        }

        if (options.Recall is null || options.Recall.BeamWidth < 1)
        {
            problems.Add($"GenRec:Recall:BeamWidth must be 1 or more (got {options.Recall?.BeamWidth}).");
        }

        if (options.OnnxRuntime is not { } onnx)
        {
            problems.Add("GenRec:OnnxRuntime must not be null.");
        }
        else
        {
            if (!Enum.IsDefined(onnx.ExecutionProvider))
            {
                problems.Add($"GenRec:OnnxRuntime:ExecutionProvider ({(int)onnx.ExecutionProvider}) must be one of {string.Join(", ", Enum.GetNames<ExecutionProviderPreference>())}.");
            }

            if (onnx.CudaDeviceId < 0 || onnx.IntraOpThreads < 0 || onnx.DraftsPerBeam < 0)
            {
                problems.Add($"GenRec:OnnxRuntime:CudaDeviceId, IntraOpThreads and DraftsPerBeam must be 0 or more (got {onnx.CudaDeviceId}, {onnx.IntraOpThreads}, {onnx.DraftsPerBeam}).");
            }
        }

        if (options.MicroBatcher is not { } batcher)
        {
            problems.Add("GenRec:MicroBatcher must not be null.");
        }
        else if (batcher.MaxBatchSize < 1 || batcher.QueueCapacity < 1 || batcher.MaxBatchTokens < 1 || batcher.MaxBatchBeams < 1 || batcher.MaxWait < TimeSpan.Zero)
        {
            problems.Add($"GenRec:MicroBatcher needs MaxBatchSize, QueueCapacity, MaxBatchTokens and MaxBatchBeams of 1 or more and a MaxWait of 0 or more (got {batcher.MaxBatchSize}, {batcher.QueueCapacity}, {batcher.MaxBatchTokens}, {batcher.MaxBatchBeams}, {batcher.MaxWait}).");
        }

        if (options.HstuBatcher is { } hstu && (hstu.MaxBatchSize < 1 || hstu.MaxBatchCandidates < 1 || hstu.QueueCapacity < 1 || hstu.MaxWait < TimeSpan.Zero))
        {
            problems.Add($"GenRec:HstuBatcher needs MaxBatchSize, MaxBatchCandidates and QueueCapacity of 1 or more and a MaxWait of 0 or more, or no value (no batching); got {hstu.MaxBatchSize}, {hstu.MaxBatchCandidates}, {hstu.QueueCapacity}, {hstu.MaxWait}.");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}

/// <summary>Checks an adapter's options, each problem naming the adapter's configuration key.</summary>
internal sealed class AdapterOptionsValidator : IValidateOptions<AdapterOptions>
{
    public static string Section(string name) => $"{GenRecServiceCollectionExtensions.ConfigurationSection}:Adapters:{name}";

    public ValidateOptionsResult Validate(string? name, AdapterOptions options)
    {
        var key = Section(string.IsNullOrEmpty(name) ? "(unnamed)" : name);
        var problems = new List<string>();
        if (!Enum.IsDefined(options.Mode))
        {
            problems.Add($"{key}:Mode ({(int)options.Mode}) must be one of {string.Join(", ", Enum.GetNames<StageMode>())}.");
        }

        if (!Enum.IsDefined(options.Blend))
        {
            problems.Add($"{key}:Blend ({(int)options.Blend}) must be one of {string.Join(", ", Enum.GetNames<BlendMethod>())}.");
        }

        if (options.Budget <= TimeSpan.Zero)
        {
            problems.Add($"{key}:Budget must be positive (got {options.Budget}).");
        }

        if (options.GenerativeShare is not (> 0 and <= 1))
        {
            problems.Add($"{key}:GenerativeShare must be in (0, 1] (got {options.GenerativeShare}).");
        }

        if (options.GenerativeWeight is not (>= 0 and <= 1))
        {
            problems.Add($"{key}:GenerativeWeight must be in [0, 1] (got {options.GenerativeWeight}).");
        }

        if (options.CompareTop < 1)
        {
            problems.Add($"{key}:CompareTop must be 1 or more (got {options.CompareTop}).");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
