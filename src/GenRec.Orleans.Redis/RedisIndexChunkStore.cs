using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

namespace GenRec.Orleans;

/// <summary>Chunks as Redis strings (<c>genrec:{service id}:index-chunk:{sha256}</c>), read by every silo directly.</summary>
internal sealed class RedisIndexChunkStore(GenRecRedis redis, IOptions<ClusterOptions> cluster) : IIndexChunkStore
{
    private readonly string _prefix = $"genrec:{cluster.Value.ServiceId}:index-chunk:";

    public async Task<bool> ContainsAsync(string sha256) =>
        await (await redis.DatabaseAsync().ConfigureAwait(false)).KeyExistsAsync(_prefix + sha256).ConfigureAwait(false);

    public async Task PutAsync(string sha256, ReadOnlyMemory<byte> chunk) =>
        await (await redis.DatabaseAsync().ConfigureAwait(false)).StringSetAsync(_prefix + sha256, chunk, when: When.NotExists).ConfigureAwait(false);

    public async Task<byte[]?> GetAsync(string sha256) =>
        (byte[]?)await (await redis.DatabaseAsync().ConfigureAwait(false)).StringGetAsync(_prefix + sha256).ConfigureAwait(false);

    public async Task DeleteAsync(string sha256) =>
        await (await redis.DatabaseAsync().ConfigureAwait(false)).KeyDeleteAsync(_prefix + sha256).ConfigureAwait(false);
}
