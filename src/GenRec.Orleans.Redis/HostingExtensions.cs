using GenRec.Orleans;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Orleans.Hosting;

/// <summary>Redis for the GenRec grains on a silo: clustering, durable storage (append-only sessions, chunked index versions) and stream ingestion.</summary>
public static class GenRecRedisSiloBuilderExtensions
{
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
