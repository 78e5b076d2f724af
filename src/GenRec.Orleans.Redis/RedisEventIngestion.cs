using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace GenRec.Orleans;

/// <summary>
/// Options of the silos' ingestion of behaviour events from a Redis stream (<c>UseGenRecRedisIngestion</c>).
/// </summary>
public sealed class RedisIngestionOptions
{
    /// <summary>The Redis connection string (StackExchange.Redis format). Required.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>The stream the events are written to. Default: <c>genrec:events</c>.</summary>
    public string Stream { get; set; } = "genrec:events";

    /// <summary>The consumer group the silos share: each entry goes to one of them. Default: <c>genrec-sessions</c>.</summary>
    public string Group { get; set; } = "genrec-sessions";

    /// <summary>This silo's consumer name; default: the machine name and process id.</summary>
    public string? Consumer { get; set; }

    /// <summary>
    /// Where entries that can never be stored go (unparseable, or rejected by the session with a reason), with the
    /// reason, before they are acknowledged. An event older than a user's full window is not one of them: it is
    /// acknowledged like an event stored and evicted (counted as <c>older_than_window</c>). Default: the stream's name + <c>:dead</c>.
    /// Each entry is written once, by the consumer that owns it when it is acknowledged; on a Redis Cluster this stream and
    /// <see cref="Stream"/> must hash to one slot (name them with a hash tag: <c>{events}</c>, <c>{events}:dead</c>).
    /// </summary>
    public string? DeadLetterStream { get; set; }

    /// <summary>Entries read at once. Default: 1000.</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>
    /// How long an entry may stay delivered but unacknowledged (its consumer died, or its append failed) before another
    /// consumer claims it. Default: 30 s.
    /// </summary>
    public TimeSpan ClaimIdleTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait before reading again when the stream had nothing new. Default: 50 ms.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Sessions appended to at once, over every read in flight. Default: 64.</summary>
    public int MaxConcurrentSessions { get; set; } = 64;

    /// <summary>
    /// Reads whose entries are being appended at once: the next read starts while earlier ones are still being appended,
    /// and a user's entries are appended in the stream's order whichever read they came in. Default: 4.
    /// </summary>
    public int MaxReadsInFlight { get; set; } = 4;

    internal void Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            problems.Add("RedisIngestionOptions.ConnectionString is empty.");
        }

        if (string.IsNullOrWhiteSpace(Stream) || string.IsNullOrWhiteSpace(Group))
        {
            problems.Add("RedisIngestionOptions.Stream and Group must be named.");
        }

        if (BatchSize < 1 || MaxConcurrentSessions < 1 || MaxReadsInFlight < 1)
        {
            problems.Add($"RedisIngestionOptions.BatchSize ({BatchSize}), MaxConcurrentSessions ({MaxConcurrentSessions}) and MaxReadsInFlight ({MaxReadsInFlight}) must be 1 or more.");
        }

        if (ClaimIdleTime <= TimeSpan.Zero || PollInterval <= TimeSpan.Zero)
        {
            problems.Add("RedisIngestionOptions.ClaimIdleTime and PollInterval must be positive.");
        }

        if (problems.Count > 0)
        {
            throw new OptionsValidationException(nameof(RedisIngestionOptions), typeof(RedisIngestionOptions), problems);
        }
    }
}

/// <summary>
/// Reads behaviour events from a Redis stream with a consumer group (<c>XREADGROUP</c>) and appends them to the users'
/// session grains; an entry is acknowledged (<c>XACK</c>) only after its session's durable write, and entries a dead
/// consumer held are claimed after <see cref="RedisIngestionOptions.ClaimIdleTime"/> (<c>XAUTOCLAIM</c>). The stream
/// entry id is the event id unless the entry names one, so redelivery stores nothing twice: at-least-once delivery,
/// each event once in the sequence. An entry's fields: <c>user</c>, <c>item</c>, <c>action</c> (name or number),
/// <c>time</c> (Unix milliseconds; default: the entry id's time), optionally <c>value</c> and <c>id</c>.
/// </summary>
internal sealed partial class RedisEventIngestion(IGrainFactory grains, IOptions<RedisIngestionOptions> options, IOptions<GenRecOrleansOptions> sessions, ILogger<RedisEventIngestion> logger) : BackgroundService
{
    private static readonly Meter Meter = new("GenRec");
    private static readonly Counter<long> Events = Meter.CreateCounter<long>("genrec.ingestion.events", description: "Stream entries ingested, by outcome: stored, duplicate, pending (item not registered yet), older_than_window (older than a full session window: as if stored and evicted), dead (dead-lettered with a reason).");
    private static readonly Counter<long> Failures = Meter.CreateCounter<long>("genrec.ingestion.failures", description: "Session appends that failed; their entries stay unacknowledged and are delivered again.");

    // The last append of each user still running: a user's next append waits for it, so a user's entries keep the
    // stream's order across reads in flight (an older event arriving after a full window of newer ones would be refused).
    private readonly Dictionary<long, Task> _userTails = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        o.Validate();
        var consumer = o.Consumer ?? $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid():N}";
        using var redis = await ConnectionMultiplexer.ConnectAsync(o.ConnectionString).ConfigureAwait(false);
        var db = redis.GetDatabase();
        await EnsureGroupAsync(db, o).ConfigureAwait(false);
        Started(logger, o.Stream, o.Group, consumer, null);
        using var reads = new SemaphoreSlim(o.MaxReadsInFlight);
        using var appends = new SemaphoreSlim(o.MaxConcurrentSessions);
        var inFlight = new HashSet<Task>();
        var claimFrom = (RedisValue)"0-0";
        var sinceClaim = System.Diagnostics.Stopwatch.StartNew();
        var claimDue = true;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await reads.WaitAsync(stoppingToken).ConfigureAwait(false);
                var slotHandedOn = false; // released below, or by the read's own task
                try
                {
                    // Entries a dead (or failed) consumer left unacknowledged first (looked for every quarter of the claim
                    // idle time, and on until none is left), then new ones.
                    StreamEntry[] entries = [];
                    if (claimDue || claimFrom != "0-0" || sinceClaim.Elapsed >= o.ClaimIdleTime / 4)
                    {
                        claimDue = false;
                        var claimed = await db.StreamAutoClaimAsync(o.Stream, o.Group, consumer, (long)o.ClaimIdleTime.TotalMilliseconds, claimFrom, o.BatchSize).ConfigureAwait(false);
                        claimFrom = claimed.NextStartId.IsNullOrEmpty ? "0-0" : claimed.NextStartId;
                        sinceClaim.Restart();

                        entries = [.. claimed.ClaimedEntries.Where(e => !e.IsNull)];
                    }

                    if (entries.Length == 0)
                    {
                        entries = await db.StreamReadGroupAsync(o.Stream, o.Group, consumer, ">", o.BatchSize).ConfigureAwait(false);
                    }

                    if (entries.Length == 0)
                    {
                        reads.Release();
                        slotHandedOn = true;
                        await Task.Delay(o.PollInterval, stoppingToken).ConfigureAwait(false);
                        continue;
                    }

                    var task = IngestReadAsync(db, o, consumer, entries, appends, reads, stoppingToken);
                    slotHandedOn = true;
                    lock (inFlight)
                    {
                        inFlight.Add(task);
                    }

                    _ = task.ContinueWith(t => { lock (inFlight) { inFlight.Remove(t); } }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // Redis restarting or unreachable: what was not acknowledged is delivered again. Read again shortly
                    // (recreating the group if a Redis without persistence lost it).
                    if (!slotHandedOn)
                    {
                        reads.Release();
                    }

                    ReadFailed(logger, o.Stream, e);
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
                    if (e.Message.Contains("NOGROUP", StringComparison.Ordinal))
                    {
                        await EnsureGroupAsync(db, o).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the reads in flight end below.
        }
        finally
        {
            Task[] running;
            lock (inFlight)
            {
                running = [.. inFlight];
            }

            // Each logs its own failure; what they did not acknowledge is delivered again.
            await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private static async Task EnsureGroupAsync(IDatabase db, RedisIngestionOptions o)
    {
        try
        {
            await db.StreamCreateConsumerGroupAsync(o.Stream, o.Group, "0-0", createStream: true).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.Contains("BUSYGROUP", StringComparison.Ordinal))
        {
            // Another silo (or an earlier run) created it.
        }
    }

    /// <summary>One read's entries, appended while the next read goes on; its slot among the reads in flight is freed at the end.</summary>
    private async Task IngestReadAsync(IDatabase db, RedisIngestionOptions o, string consumer, StreamEntry[] entries, SemaphoreSlim appends, SemaphoreSlim reads, CancellationToken ct)
    {
        try
        {
            await IngestAsync(db, o, consumer, entries, appends, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping: what was not acknowledged is delivered again.
        }
        catch (Exception e)
        {
            // Redis or the cluster not answering: what was not acknowledged is delivered again after ClaimIdleTime.
            ReadFailed(logger, o.Stream, e);
        }
        finally
        {
            reads.Release();
        }
    }

    /// <summary>Appends one read's entries, user by user, and acknowledges each user's entries once their write succeeded.</summary>
    private async Task IngestAsync(IDatabase db, RedisIngestionOptions o, string consumer, StreamEntry[] entries, SemaphoreSlim appends, CancellationToken ct)
    {
        var dead = new List<(StreamEntry Entry, string Reason)>();
        var byUser = new Dictionary<long, List<(StreamEntry Entry, BehaviourEvent Event)>>();
        foreach (var entry in entries)
        {
            if (TryParse(entry, out var user, out var e, out var reason))
            {
                (byUser.TryGetValue(user, out var list) ? list : byUser[user] = []).Add((entry, e!));
            }
            else
            {
                dead.Add((entry, reason));
            }
        }

        var acknowledged = new List<RedisValue>();
        var userAppends = new List<Task>(byUser.Count);
        foreach (var (user, list) in byUser)
        {
            userAppends.Add(InUserOrder(user, () => AppendUserAsync(user, list, appends, acknowledged, dead, ct)));
        }

        await Task.WhenAll(userAppends).ConfigureAwait(false);

        if (dead.Count > 0)
        {
            // Kept with the reason, then acknowledged: an entry that can never be stored must not block the group. Each
            // goes to the dead-letter stream once: only while this consumer still owns it (another silo may have claimed it
            // after ClaimIdleTime and dead-lettered it already).
            var deadStream = o.DeadLetterStream ?? o.Stream + ":dead";
            var deadLettered = 0;
            string? firstReason = null;
            foreach (var (entry, reason) in dead)
            {
                if (await DeadLetterAsync(db, o.Stream, o.Group, consumer, deadStream, entry, reason).ConfigureAwait(false))
                {
                    deadLettered++;
                    firstReason ??= reason;
                }
            }

            if (firstReason is not null)
            {
                Events.Add(deadLettered, new KeyValuePair<string, object?>("outcome", "dead"));
                DeadLettered(logger, deadLettered, deadStream, firstReason, null);
            }
        }

        if (acknowledged.Count > 0)
        {
            await db.StreamAcknowledgeAsync(o.Stream, o.Group, [.. acknowledged]).ConfigureAwait(false);
        }
    }

    // Atomic on the server: the entry is copied to the dead-letter stream and acknowledged only while it is still pending
    // for this consumer, so an entry claimed (and dead-lettered) by another consumer in between is not written twice.
    // KEYS: stream, dead-letter stream; ARGV: group, consumer, entry id, then the dead entry's field/value pairs.
    private const string DeadLetterScript = """
        if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) == 0 then return 0 end
        redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
        redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
        return 1
        """;

    /// <summary>
    /// Moves an entry that cannot be stored to <paramref name="deadStream"/> (its fields, <c>source_id</c> and
    /// <c>reason</c>) and acknowledges it, in one step on the server, if <paramref name="consumer"/> still owns it.
    /// </summary>
    /// <returns><see langword="true"/> when written; <see langword="false"/> when another consumer owns it or it was acknowledged.</returns>
    /// <remarks>On a Redis Cluster both streams must hash to one slot (for example <c>{events}</c> and <c>{events}:dead</c>).</remarks>
    internal static async Task<bool> DeadLetterAsync(IDatabase db, string stream, string group, string consumer, string deadStream, StreamEntry entry, string reason)
    {
        var args = new List<RedisValue>(3 + (2 * entry.Values.Length) + 4) { group, consumer, entry.Id };
        foreach (var field in entry.Values)
        {
            args.Add(field.Name);
            args.Add(field.Value);
        }

        args.AddRange(["source_id", entry.Id, "reason", reason]);
        var written = await db.ScriptEvaluateAsync(DeadLetterScript, [stream, deadStream], [.. args]).ConfigureAwait(false);
        return (long)written == 1;
    }

    /// <summary>Starts a user's append once that user's previous one (from an earlier read in flight) has ended.</summary>
    private Task InUserOrder(long user, Func<Task> append)
    {
        lock (_userTails)
        {
            var previous = _userTails.GetValueOrDefault(user) ?? Task.CompletedTask;
            var next = After(previous, append);
            _userTails[user] = next;
            _ = next.ContinueWith(
                t =>
                {
                    lock (_userTails)
                    {
                        if (_userTails.TryGetValue(user, out var tail) && tail == t)
                        {
                            _userTails.Remove(user);
                        }
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            return next;
        }

        static async Task After(Task previous, Func<Task> append)
        {
            // The previous append's failure is its own read's (logged, its entries left unacknowledged); this one runs regardless.
            await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await append().ConfigureAwait(false);
        }
    }

    private async Task AppendUserAsync(long user, List<(StreamEntry Entry, BehaviourEvent Event)> list, SemaphoreSlim appends, List<RedisValue> acknowledged, List<(StreamEntry Entry, string Reason)> dead, CancellationToken ct)
    {
        var session = grains.GetGrain<IUserSessionGrain>(user);
        foreach (var batch in list.Chunk(sessions.Value.MaxAppendBatch))
        {
            AppendResult result;
            await appends.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                result = await session.AppendEventsAsync([.. batch.Select(x => x.Event)]).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Not acknowledged: delivered again after ClaimIdleTime (appends are idempotent by event id).
                Failures.Add(1);
                AppendFailed(logger, user, batch.Length, e);
                return;
            }
            finally
            {
                appends.Release();
            }

            // An event older than the whole (full) window is what a session keeps no more of: as if stored and evicted,
            // it is acknowledged and counted, not dead-lettered. That happens when the silos of a group append a user's
            // entries concurrently, or a producer sends a user's events late.
            var rejected = result.Rejected.Where(r => r.Reason != RejectionReason.OlderThanWindow).ToDictionary(r => r.Index);
            lock (acknowledged)
            {
                for (var i = 0; i < batch.Length; i++)
                {
                    if (rejected.TryGetValue(i, out var r))
                    {
                        dead.Add((batch[i].Entry, $"{r.Reason}: {r.Detail}"));
                    }
                    else
                    {
                        acknowledged.Add(batch[i].Entry.Id);
                    }
                }
            }

            Events.Add(result.Rejected.Count - rejected.Count, new KeyValuePair<string, object?>("outcome", "older_than_window"));
            Events.Add(result.Stored, new KeyValuePair<string, object?>("outcome", "stored"));
            Events.Add(result.Duplicates, new KeyValuePair<string, object?>("outcome", "duplicate"));
            Events.Add(result.Pending, new KeyValuePair<string, object?>("outcome", "pending"));
        }
    }

    /// <summary>Reads an entry's fields into an event; the reason when it cannot be one.</summary>
    internal static bool TryParse(StreamEntry entry, out long user, out BehaviourEvent? e, out string reason)
    {
        user = 0;
        e = null;
        string? Field(string name) => entry.Values.FirstOrDefault(v => v.Name == name) is { Name.IsNull: false } f ? (string?)f.Value : null;
        if (!long.TryParse(Field("user"), NumberStyles.Integer, CultureInfo.InvariantCulture, out user) || user < 1)
        {
            reason = $"The entry's 'user' ({Field("user") ?? "missing"}) is not a positive integer.";
            return false;
        }

        if (!long.TryParse(Field("item"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var item))
        {
            reason = $"The entry's 'item' ({Field("item") ?? "missing"}) is not an integer.";
            return false;
        }

        var actionText = Field("action") ?? nameof(ActionType.Click);
        if (!Enum.TryParse<ActionType>(actionText, ignoreCase: true, out var action) || !Enum.IsDefined(action))
        {
            reason = $"The entry's 'action' ({actionText}) is not one of {string.Join(", ", Enum.GetNames<ActionType>())}.";
            return false;
        }

        var id = (string)entry.Id!;
        long milliseconds;
        if (Field("time") is { } timeText)
        {
            if (!long.TryParse(timeText, NumberStyles.Integer, CultureInfo.InvariantCulture, out milliseconds))
            {
                reason = $"The entry's 'time' ({timeText}) is not Unix milliseconds.";
                return false;
            }
        }
        else
        {
            milliseconds = long.Parse(id.AsSpan(0, id.IndexOf('-', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
        }

        float? value = null;
        if (Field("value") is { } valueText)
        {
            if (!float.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !float.IsFinite(v))
            {
                reason = $"The entry's 'value' ({valueText}) is not a finite number.";
                return false;
            }

            value = v;
        }

        if (milliseconds < 0)
        {
            reason = $"The entry's time {milliseconds} is before 1970.";
            return false;
        }

        e = new BehaviourEvent(item, action, DateTimeOffset.FromUnixTimeMilliseconds(milliseconds), value, Field("id") ?? id);
        reason = "";
        return true;
    }

    [LoggerMessage(1, LogLevel.Information, "GenRec ingestion: reading stream '{Stream}' as group '{Group}', consumer '{Consumer}'.")]
    private static partial void Started(ILogger logger, string stream, string group, string consumer, Exception? error);

    [LoggerMessage(2, LogLevel.Warning, "GenRec ingestion: appending {Count} events of user {User} failed; they stay unacknowledged and will be delivered again.")]
    private static partial void AppendFailed(ILogger logger, long user, int count, Exception error);

    [LoggerMessage(3, LogLevel.Warning, "GenRec ingestion: {Count} entries cannot be stored and went to '{DeadStream}' with their reasons (first: {Reason}).")]
    private static partial void DeadLettered(ILogger logger, int count, string deadStream, string reason, Exception? error);

    [LoggerMessage(4, LogLevel.Warning, "GenRec ingestion: reading '{Stream}' failed; nothing unacknowledged is lost, reading again in 1 s.")]
    private static partial void ReadFailed(ILogger logger, string stream, Exception error);
}
