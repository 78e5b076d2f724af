using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace GenRec.Orleans;

#pragma warning disable ORLEANSEXP004 // Placement filtering is experimental in Orleans 10; this is its documented extension point.

/// <summary>Places a grain only on silos marked as model runners (silo metadata <see cref="ModelRunnerPlacement.MetadataKey"/> = "true").</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
internal sealed class ModelRunnerSilosAttribute() : PlacementFilterAttribute(new ModelRunnerSilosStrategy());

/// <summary>The filter's strategy (no settings).</summary>
internal sealed class ModelRunnerSilosStrategy() : PlacementFilterStrategy(0);

/// <summary>
/// Keeps the silos whose metadata marks them as model runners; when none is marked (or this silo keeps no silo
/// metadata), all of them, so a cluster without accelerators still serves.
/// </summary>
internal sealed partial class ModelRunnerSilosDirector(IServiceProvider services, ILogger<ModelRunnerSilosDirector> logger) : IPlacementFilterDirector
{
    private readonly ISiloMetadataCache? _metadata = services.GetService<ISiloMetadataCache>();
    private int _warned;

    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos)
    {
        var all = silos as IReadOnlyCollection<SiloAddress> ?? [.. silos];
        if (_metadata is null)
        {
            return all;
        }

        var marked = all.Where(s => ModelRunnerPlacement.IsRunner(_metadata.GetSiloMetadata(s).Metadata)).ToArray();
        if (marked.Length > 0)
        {
            return marked;
        }

        if (Interlocked.Exchange(ref _warned, 1) == 0)
        {
            NoRunnerSilo(logger, ModelRunnerPlacement.MetadataKey);
        }

        return all;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "No silo is marked as a model runner (silo metadata {Key}=true); model runners are placed on any silo.")]
    private static partial void NoRunnerSilo(ILogger logger, string key);
}

#pragma warning restore ORLEANSEXP004

/// <summary>Which silos run the models.</summary>
public static class ModelRunnerPlacement
{
    /// <summary>The silo metadata key that marks a silo as a model runner (value "true").</summary>
    public const string MetadataKey = "genrec.model-runner";

    /// <summary>Whether a silo's metadata marks it as a model runner.</summary>
    /// <param name="metadata">The silo's metadata.</param>
    /// <returns><see langword="true"/> when <see cref="MetadataKey"/> is "true".</returns>
    public static bool IsRunner(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        return metadata.TryGetValue(MetadataKey, out var value) && string.Equals(value, "true", StringComparison.OrdinalIgnoreCase);
    }
}
