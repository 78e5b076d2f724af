using System.Buffers.Binary;
using MessagePack;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Storage;
using StackExchange.Redis;

namespace GenRec.Orleans;

/// <summary>
/// The session in Redis as an append-only structure, so an append writes only what it adds: the sequence is a sorted set
/// scored by time whose members start with the event's arrival number (events of the same time keep their arrival
/// order), trimmed to the newest <see cref="GenRecOrleansOptions.MaxEvents"/> in the same script; a hash holds the format
/// version, a write counter (the optimistic-concurrency check), the revision, the next arrival number and the pending
/// events (bounded by <see cref="GenRecOrleansOptions.MaxPendingEvents"/>, written only when they change). A read is one
/// round trip. Sessions that an earlier version stored as one grain state are moved here at their first read.
/// </summary>
internal sealed class RedisSessionStore : ISessionStore
{
    /// <summary>The format of the session's keys written by this version.</summary>
    internal const int FormatVersion = 1;

    private static readonly MessagePackSerializerOptions Serializer = MessagePackGrainStorageSerializer.Options;

    // KEYS: meta, events. Returns the meta fields and the events, oldest first.
    private const string ReadScript = """
        return { redis.call('HMGET', KEYS[1], 'f', 'w', 'r', 's', 'p'), redis.call('ZRANGE', KEYS[2], 0, -1) }
        """;

    // KEYS: meta, events. ARGV: expected write counter ('0' when none was stored), revision, next arrival number,
    // whether the pending events changed, the pending events, the sequence's bound, then score/member pairs (added 500
    // pairs a ZADD: one command, not one per event, within Lua's limit on unpacked arguments).
    private const string WriteScript = """
        local written = redis.call('HGET', KEYS[1], 'w') or '0'
        if written ~= ARGV[1] then
          return redis.error_reply('GENREC_CONFLICT the session was written by another activation (stored write ' .. written .. ', expected ' .. ARGV[1] .. ')')
        end
        for i = 7, #ARGV, 1000 do
          redis.call('ZADD', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
        end
        redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[6]) + 1))
        local next = tostring(tonumber(ARGV[1]) + 1)
        redis.call('HSET', KEYS[1], 'f', '1', 'w', next, 'r', ARGV[2], 's', ARGV[3])
        if ARGV[4] == '1' then
          redis.call('HSET', KEYS[1], 'p', ARGV[5])
        end
        return next
        """;

    private readonly GenRecRedis _redis;
    private readonly string _prefix;
    private readonly GrainStorageSessionStore _legacy;

    public RedisSessionStore(GenRecRedis redis, IOptions<ClusterOptions> cluster, IServiceProvider services)
    {
        _redis = redis;
        _prefix = $"genrec:{cluster.Value.ServiceId}:session";
        _legacy = new GrainStorageSessionStore(services);
    }

    public async Task<UserSessionState> ReadAsync(GrainId grain)
    {
        var (meta, events) = Keys(grain);
        var db = await _redis.DatabaseAsync().ConfigureAwait(false);
        var result = (RedisResult[])(await db.ScriptEvaluateAsync(ReadScript, [meta, events]).ConfigureAwait(false))!;
        var fields = (RedisValue[])result[0]!;
        var members = (RedisValue[])result[1]!;
        if (fields[0].IsNull)
        {
            if (members.Length > 0)
            {
                throw new InvalidDataException($"Session {grain} has {members.Length} stored events but no metadata ({meta}): the keys were changed outside GenRec.");
            }

            return await MoveLegacyAsync(grain).ConfigureAwait(false);
        }

        if ((int)fields[0] != FormatVersion)
        {
            throw new InvalidDataException($"Session {grain} is stored in GenRec session format {fields[0]}; this silo reads format {FormatVersion}.");
        }

        var session = new UserSessionState
        {
            ETag = (string?)fields[1],
            Revision = (long)fields[2],
            NextSequence = (long)fields[3],
            Pending = fields[4].IsNull ? [] : Deserialize<List<StoredEvent>>(grain, (ReadOnlyMemory<byte>)fields[4]),
            Events = new List<StoredEvent>(members.Length),
        };
        foreach (var member in members)
        {
            session.Events.Add(Deserialize<StoredEvent>(grain, ((ReadOnlyMemory<byte>)member)[sizeof(long)..]));
        }

        return session;
    }

    public async Task WriteAsync(GrainId grain, UserSessionState next, IReadOnlyList<StoredEvent> added, bool pendingChanged, int maxEvents)
    {
        var (meta, events) = Keys(grain);
        var args = new RedisValue[6 + (2 * added.Count)];
        args[0] = next.ETag ?? "0";
        args[1] = next.Revision;
        args[2] = next.NextSequence;
        args[3] = pendingChanged ? "1" : "0";
        args[4] = pendingChanged ? MessagePackSerializer.Serialize(next.Pending, Serializer) : RedisValue.EmptyString;
        args[5] = maxEvents;
        for (var i = 0; i < added.Count; i++)
        {
            args[6 + (2 * i)] = added[i].TimeMilliseconds;
            args[7 + (2 * i)] = Member(added[i]);
        }

        var db = await _redis.DatabaseAsync().ConfigureAwait(false);
        try
        {
            next.ETag = (string?)await db.ScriptEvaluateAsync(WriteScript, [meta, events], args).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.Contains("GENREC_CONFLICT", StringComparison.Ordinal))
        {
            throw new InconsistentStateException($"Session {grain}: {e.Message}", e);
        }
    }

    /// <summary>A sorted-set member: the arrival number (big-endian, so members of one time sort by arrival), then the event.</summary>
    internal static byte[] Member(StoredEvent e)
    {
        var body = MessagePackSerializer.Serialize(e, Serializer);
        var member = new byte[sizeof(long) + body.Length];
        BinaryPrimitives.WriteInt64BigEndian(member, e.Sequence);
        body.CopyTo(member, sizeof(long));
        return member;
    }

    /// <summary>A session written as one grain state by an earlier version: written here (whole, once), then cleared there.</summary>
    private async Task<UserSessionState> MoveLegacyAsync(GrainId grain)
    {
        var old = await _legacy.ReadAsync(grain).ConfigureAwait(false);
        if (old.ETag is null)
        {
            return new UserSessionState();
        }

        for (var i = 0; i < old.Events.Count; i++)
        {
            old.Events[i].Sequence = i;
        }

        var moved = new UserSessionState { Events = old.Events, Pending = old.Pending, Revision = old.Revision, NextSequence = old.Events.Count };
        await WriteAsync(grain, moved, old.Events, pendingChanged: true, maxEvents: int.MaxValue).ConfigureAwait(false);
        await _legacy.ClearAsync(grain, old).ConfigureAwait(false);
        return moved;
    }

    private (RedisKey Meta, RedisKey Events) Keys(GrainId grain)
    {
        // One hash slot per session (the braces), so the scripts also run on a Redis cluster.
        var key = $"{_prefix}:{{{grain.Key}}}";
        return ($"{key}:meta", $"{key}:events");
    }

    private static T Deserialize<T>(GrainId grain, ReadOnlyMemory<byte> bytes)
    {
        try
        {
            return MessagePackSerializer.Deserialize<T>(bytes, Serializer);
        }
        catch (MessagePackSerializationException e)
        {
            throw new InvalidDataException($"Session {grain} holds a damaged {typeof(T).Name}: {e.Message}", e);
        }
    }
}
