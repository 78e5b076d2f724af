using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using GenRec.Orleans;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using StackExchange.Redis;

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
    /// Ingests behaviour events from a Redis stream on this silo: every silo with this call is a consumer of one group,
    /// appends each entry to its user's session and acknowledges it after the session's durable write; entries a dead
    /// silo held are claimed by the others (<see cref="RedisIngestionOptions.ClaimIdleTime"/>). See
    /// <see cref="RedisIngestionOptions"/> for the entry's fields.
    /// </summary>
    /// <param name="silo">The silo.</param>
    /// <param name="configure">Sets the connection string, the stream and the group.</param>
    /// <returns>The silo.</returns>
    /// <exception cref="OptionsValidationException">The options are not valid (checked here, before the silo starts).</exception>
    public static ISiloBuilder UseGenRecRedisIngestion(this ISiloBuilder silo, Action<RedisIngestionOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configure);
        var check = new RedisIngestionOptions();
        configure(check);
        check.Validate();
        silo.Services.Configure(configure);
        silo.Services.AddHostedService<RedisEventIngestion>();
        return silo;
    }

    /// <summary>
    /// In-memory grain storage (MessagePack-serialized), for development and tests only: state lives as long as the
    /// silo holding it (a stopped silo loses its share). Production uses <see cref="UseGenRecRedis"/>.
    /// </summary>
    /// <param name="silo">The silo.</param>
    /// <returns>The silo, for chaining.</returns>
    public static ISiloBuilder UseInMemoryGenRecStorage(this ISiloBuilder silo) =>
        silo.AddMemoryGrainStorage(GenRecOrleansOptions.StorageName, o => o.GrainStorageSerializer = new MessagePackGrainStorageSerializer());

    /// <summary>
    /// Redis storage for the GenRec grains: state survives silo and cluster restarts. User sessions are stored append-only
    /// (an append writes the events it adds, whatever the history's length; a session reads in one round trip), keyed by
    /// the cluster's service id; the other grains' state is MessagePack-serialized grain state. Sessions an earlier
    /// version stored as grain state are moved to the append-only form at their first read. Semantic-ID index versions
    /// are stored as content-addressed chunks (<see cref="GenRecOrleansOptions.IndexChunkBytes"/>) every silo reads directly.
    /// </summary>
    /// <param name="silo">The silo.</param>
    /// <param name="connectionString">A StackExchange.Redis connection string, e.g. "localhost:6379".</param>
    /// <returns>The silo, for chaining.</returns>
    public static ISiloBuilder UseGenRecRedisStorage(this ISiloBuilder silo, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        silo.Services.Replace(ServiceDescriptor.Singleton(_ => new GenRecRedis(connectionString)));
        silo.Services.Replace(ServiceDescriptor.Singleton<ISessionStore, RedisSessionStore>());
        silo.Services.Replace(ServiceDescriptor.Singleton<IIndexChunkStore, RedisIndexChunkStore>());
        return silo.AddRedisGrainStorage(GenRecOrleansOptions.StorageName, o =>
        {
            o.ConfigurationOptions = ConfigurationOptions.Parse(connectionString);
            o.GrainStorageSerializer = new MessagePackGrainStorageSerializer();
        });
    }

    /// <summary>The production path: Redis clustering (silos find each other through Redis) and Redis storage.</summary>
    /// <param name="silo">The silo.</param>
    /// <param name="connectionString">A StackExchange.Redis connection string.</param>
    /// <returns>The silo, for chaining.</returns>
    public static ISiloBuilder UseGenRecRedis(this ISiloBuilder silo, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(silo);
        silo.UseRedisClustering(connectionString);
        return silo.UseGenRecRedisStorage(connectionString);
    }
}

/// <summary>The client side: how a client finds a cluster that uses Redis clustering.</summary>
public static class GenRecClientBuilderExtensions
{
    /// <summary>Finds the cluster's gateways through Redis (the silos' <c>UseGenRecRedis</c>).</summary>
    /// <param name="client">The client.</param>
    /// <param name="connectionString">A StackExchange.Redis connection string.</param>
    /// <returns>The client, for chaining.</returns>
    public static IClientBuilder UseGenRecRedisClustering(this IClientBuilder client, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return client.UseRedisClustering(connectionString);
    }
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
