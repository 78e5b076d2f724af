using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using GenRec.Orleans;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace Orleans.Hosting;

/// <summary>Adds the GenRec grains to a silo, and their storage: in memory for development, Redis for production.</summary>
public static class GenRecSiloBuilderExtensions
{
    /// <summary>
    /// Adds the GenRec grains' services (the silo's index cache and model runner) and options, checked when the silo
    /// starts. Storage named <see cref="GenRecOrleansOptions.StorageName"/> must be added too.
    /// </summary>
    /// <param name="silo">The silo.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The silo, for chaining.</returns>
    public static ISiloBuilder AddGenRecGrains(this ISiloBuilder silo, Action<GenRecOrleansOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.Services.AddGenRecGrains(configure);
        return silo;
    }

    /// <summary>
    /// Says whether this silo runs the models of <see cref="IModelRunnerGrain"/> (a silo with an accelerator) or only
    /// keeps sessions, as silo metadata (<see cref="ModelRunnerPlacement.MetadataKey"/>). Call it on every silo of a
    /// cluster that sets <see cref="GenRecOrleansOptions.ModelRunners"/> (placement reads the metadata on the calling
    /// silo); it calls <c>UseSiloMetadata</c>, so a silo that sets other metadata adds the key to its own dictionary instead.
    /// </summary>
    /// <param name="silo">The silo.</param>
    /// <param name="runsModels">Whether model runners may be placed here.</param>
    /// <returns>The silo, for chaining.</returns>
    public static ISiloBuilder UseGenRecModelRunnerRole(this ISiloBuilder silo, bool runsModels)
    {
        ArgumentNullException.ThrowIfNull(silo);
        return silo.UseSiloMetadata(new Dictionary<string, string> { [ModelRunnerPlacement.MetadataKey] = runsModels ? "true" : "false" });
    }

    /// <summary>
    /// In-memory grain storage (MessagePack-serialized), for development and tests only: state lives as long as the
    /// silo holding it (a stopped silo loses its share). Production uses <c>UseGenRecRedis</c> (package GenRec.Orleans.Redis).
    /// </summary>
    /// <param name="silo">The silo.</param>
    /// <returns>The silo, for chaining.</returns>
    public static ISiloBuilder UseInMemoryGenRecStorage(this ISiloBuilder silo) =>
        silo.AddMemoryGrainStorage(GenRecOrleansOptions.StorageName, o => o.GrainStorageSerializer = new MessagePackGrainStorageSerializer());
}

/// <summary>The GenRec grains' services on a silo's service collection.</summary>
public static class GenRecOrleansServiceCollectionExtensions
{
    /// <summary>Adds the options (validated at start), the silo's index cache and model runner; idempotent.</summary>
    /// <param name="services">The silo's services.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddGenRecGrains(this IServiceCollection services, Action<GenRecOrleansOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<GenRecOrleansOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GenRecOrleansOptions>, GenRecOrleansOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ISessionStore, GrainStorageSessionStore>();
        services.TryAddSingleton<IIndexChunkStore, GrainStorageIndexChunkStore>();
        services.TryAddSingleton<SiloIndexCache>();
        services.TryAddSingleton<SiloModelHost>();
        services.TryAddSingleton<SiloHstuHost>();
        services.TryAddSingleton<SiloDenseHost>();
        if (!services.Any(d => d.IsKeyedService && Equals(d.ServiceKey, typeof(ModelRunnerSilosStrategy))))
        {
#pragma warning disable ORLEANSEXP004 // placement filtering is experimental in Orleans 10
            services.AddPlacementFilter<ModelRunnerSilosStrategy, ModelRunnerSilosDirector>(ServiceLifetime.Singleton);
#pragma warning restore ORLEANSEXP004
        }

        return services;
    }
}
