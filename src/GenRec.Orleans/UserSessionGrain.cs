using System.Diagnostics.Metrics;
using GenRec.Cascade;
using GenRec.Generative;
using GenRec.Inference;
using GenRec.SemanticIds;
using Microsoft.Extensions.Options;

namespace GenRec.Orleans;

/// <summary>
/// A user's session: the behaviour sequence as durable state, and the history's generative context cached in
/// memory (reused until events, the model or the index change). Recommends by generative, dense or hybrid retrieval.
/// </summary>
internal sealed class UserSessionGrain(
    ISessionStore store,
    SiloIndexCache indexes,
    SiloModelHost models,
    SiloHstuHost hstu,
    SiloDenseHost dense,
    IOptions<GenRecOrleansOptions> options,
    TimeProvider time) : Grain, IUserSessionGrain
{
    internal const string GenerativeSource = "generative";

    private readonly GenRecOrleansOptions _options = options.Value;
    private static readonly Meter Meter = new("GenRec");
    private static readonly Counter<long> PendingEvents = Meter.CreateCounter<long>("genrec.session.pending_events", description: "Events for items the catalogue did not know yet, by outcome: kept, folded (into the sequence once the item was registered), expired (older than the full window by then), rejected (the session's pending bound was reached).");
    private UserSessionState _state = new();
    private HashSet<string>? _ids;
    private int _pendingCheckedAt = -1;
    private CachedContext? _cached;
    private HstuCache? _hstuCached;

    public override async Task OnActivateAsync(CancellationToken cancellationToken) =>
        _state = await store.ReadAsync(this.GetGrainId()).ConfigureAwait(true);

    public async Task<AppendResult> AppendEventsAsync(IReadOnlyList<BehaviourEvent> events)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count > _options.MaxAppendBatch)
        {
            throw new ArgumentException($"A batch of {events.Count} events is over the limit of {_options.MaxAppendBatch} (GenRecOrleansOptions.MaxAppendBatch); nothing was stored. Split it.", nameof(events));
        }

        var index = await IndexAsync().ConfigureAwait(true);
        var ids = Ids();
        var sequence = new List<StoredEvent>(_state.Events);
        var pending = new List<StoredEvent>(_state.Pending);
        var arrival = _state.NextSequence;
        var latest = time.GetUtcNow() + _options.MaxClockSkew;
        var rejected = new List<RejectedEvent>();
        var added = new HashSet<string>(StringComparer.Ordinal);
        var appended = new List<StoredEvent>();
        int stored = 0, duplicates = 0, waiting = 0;
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            if (e is null || !Enum.IsDefined(e.Action) || e.Time < DateTimeOffset.UnixEpoch)
            {
                rejected.Add(new RejectedEvent(i, RejectionReason.Malformed, e is null ? "The event is null." : $"Action {(int)e.Action} is unknown or the time {e.Time:O} is before 1970."));
                continue;
            }

            if (e.Time > latest)
            {
                rejected.Add(new RejectedEvent(i, RejectionReason.InTheFuture, $"The event at {e.Time:O} is later than the silo's clock allows ({latest:O})."));
                continue;
            }

            var id = e.EventId ?? $"{e.Item}:{(int)e.Action}:{e.Time.ToUnixTimeMilliseconds()}";
            if (ids.Contains(id) || added.Contains(id))
            {
                duplicates++;
                continue;
            }

            var storedEvent = new StoredEvent { Item = e.Item, Action = (int)e.Action, TimeMilliseconds = e.Time.ToUnixTimeMilliseconds(), Value = e.Value, Id = id };
            if (!index.TryGetSemanticId(new ItemId(e.Item), out _))
            {
                // Catalogues lag events: keep it (bounded) until the item is registered.
                if (pending.Count >= _options.MaxPendingEvents)
                {
                    PendingEvents.Add(1, new KeyValuePair<string, object?>("outcome", "rejected"));
                    rejected.Add(new RejectedEvent(i, RejectionReason.UnknownItem, $"Item {e.Item} is not in catalogue '{_options.Catalogue}' (index version {index.Version}) and this session already keeps {pending.Count} events waiting for their items (GenRecOrleansOptions.MaxPendingEvents); register the item with ICatalogueGrain first."));
                    continue;
                }

                pending.Add(storedEvent);
                added.Add(id);
                waiting++;
                continue;
            }

            if (!Place(sequence, storedEvent, ref arrival))
            {
                rejected.Add(new RejectedEvent(i, RejectionReason.OlderThanWindow, $"The sequence holds its {_options.MaxEvents} most recent events and this one ({e.Time:O}) is older than all of them."));
                continue;
            }

            appended.Add(storedEvent);
            added.Add(id);
            stored++;
        }

        var evicted = 0;
        if (stored > 0 || waiting > 0)
        {
            evicted = await CommitAsync(sequence, arrival, appended, waiting > 0 ? pending : null, added).ConfigureAwait(true);
            PendingEvents.Add(waiting, new KeyValuePair<string, object?>("outcome", "kept"));
        }

        return new AppendResult(stored, duplicates, rejected, evicted, _state.Events.Count, waiting);
    }

    public async Task<Recommendations> RecommendAsync(RecommendQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Count < 1 || query.Count > _options.MaxCount || query.BeamWidth < 0 || !Enum.IsDefined(query.Retrieval))
        {
            throw new ArgumentOutOfRangeException(nameof(query), $"Count must be in [1, {_options.MaxCount}], BeamWidth 0 (the default) or more and Retrieval one of {string.Join(", ", Enum.GetNames<RetrievalMode>())}; got {query.Count}, {query.BeamWidth} and {query.Retrieval}.");
        }

        if (_options.ModelRunners && query.Retrieval == RetrievalMode.Generative)
        {
            await FoldPendingAsync().ConfigureAwait(true);
            // Generated on a model-runner silo, which keeps the user's context for this revision.
            long[] excludedItems = [.. (query.ExcludeHistory ? _state.Events.Select(e => e.Item) : []).Concat(query.ExcludedItems ?? []).Distinct()];
            var answer = await Runner().RecommendGenerativeAsync(new GenerativeWork(
                this.GetPrimaryKeyLong(), _state.Revision, [.. _state.Events.Select(e => e.ToMessage())], query.Count, query.BeamWidth, excludedItems)).ConfigureAwait(true);
            return new Recommendations(answer.Items, answer.ModelVersion, answer.IndexVersion, answer.CachedState);
        }

        var index = await IndexAsync().ConfigureAwait(true);
        if (query.Retrieval == RetrievalMode.Dense)
        {
            var retriever = await dense.GetAsync().ConfigureAwait(true);
            var found = await retriever.RecallAsync(DenseRequest(query), query.Count).ConfigureAwait(true);
            return new Recommendations([.. found.Select(Scored)], DenseVersion(retriever), index.Version, false);
        }

        using var lease = await models.AcquireAsync().ConfigureAwait(true);
        EnsureServes(index, lease.Model);
        var excluded = (query.ExcludeHistory ? _state.Events.Select(e => e.Item) : [])
            .Concat(query.ExcludedItems ?? [])
            .Select(i => index.TryGetSemanticId(new ItemId(i), out var id) ? id : default)
            .Where(id => id.Length > 0);
        if (query.Retrieval == RetrievalMode.Fusion)
        {
            var retriever = await dense.GetAsync().ConfigureAwait(true);
            var configured = _options.Fusion;
            var options = query.BeamWidth == 0 ? configured : new BeamFusionOptions
            {
                Name = configured.Name, PrefixLevels = configured.PrefixLevels, Beams = query.BeamWidth, DenseWeight = configured.DenseWeight, MaxCandidates = configured.MaxCandidates,
            };
            var fusion = _options.FusionPrefixHead
                ? new BeamFusionRecall(lease.Model, index, retriever.AsConditionedRanker(_options.FusionVectors, _options.FusionFreshOffset), options)
                : new BeamFusionRecall(lease.Model, index, retriever.AsRanker(_options.FusionVectors, _options.FusionFreshOffset), options);
            var (prefixRequest, prefixCached) = await RequestAsync(index, lease.Model, fusion.CreateSearch()).ConfigureAwait(true);
            var prefixes = await lease.Batcher.DecodeAsync(prefixRequest).ConfigureAwait(true);
            var fused = await fusion.FuseAsync(DenseRequest(query), prefixes, query.Count).ConfigureAwait(true);
            return new Recommendations([.. fused.Select(Scored)], $"{lease.Reference.Version}+{DenseVersion(retriever)}", index.Version, prefixCached);
        }

        var width = Math.Max(query.BeamWidth == 0 ? _options.DefaultBeamWidth : query.BeamWidth, query.Count);
        var search = new BeamSearchState(index.Trie, index.Length, width, excluded);
        var (request, cached) = await RequestAsync(index, lease.Model, search).ConfigureAwait(true);
        var decoded = await lease.Batcher.DecodeAsync(request).ConfigureAwait(true);
        var generated = decoded.Take(query.Count).Select(d => new ScoredItem(index[d.Id].Value, d.LogProbability, GenerativeSource)).ToArray();
        if (query.Retrieval == RetrievalMode.Generative)
        {
            return new Recommendations(generated, lease.Reference.Version, index.Version, cached);
        }

        var hybrid = await dense.GetAsync().ConfigureAwait(true);
        var merged = await Hybrid(hybrid, generated).RecallAsync(DenseRequest(query), query.Count).ConfigureAwait(true);
        return new Recommendations([.. merged.Select(Scored)], $"{lease.Reference.Version}+{DenseVersion(hybrid)}", index.Version, cached);
    }

    public async Task<Recommendations> RankAsync(IReadOnlyList<long> candidates)
    {
        EnsureCandidateCount(candidates);

        var index = await IndexAsync().ConfigureAwait(true);
        using var lease = await models.AcquireAsync().ConfigureAwait(true);
        EnsureServes(index, lease.Model);
        var known = candidates.Distinct().Where(c => index.TryGetSemanticId(new ItemId(c), out _)).ToArray();
        var cached = _cached is { } c0 && c0.Matches(lease.Model, index, _state.Revision);
        var context = cached ? _cached!.Context : await RememberAsync(lease.Model, index).ConfigureAwait(true);
        var ids = known.Select(i => index[new ItemId(i)]).ToArray();
        var scores = await Task.Run(() => lease.Model.Score(context, ids)).ConfigureAwait(true);
        var ranked = known.Zip(scores).Where(p => !double.IsNegativeInfinity(p.Second)).OrderByDescending(p => p.Second).Select(p => new ScoredItem(p.First, p.Second)).ToArray();
        return new Recommendations(ranked, lease.Reference.Version, index.Version, cached);
    }

    public async Task<Recommendations> RankWithHstuAsync(IReadOnlyList<long> candidates)
    {
        EnsureCandidateCount(candidates);

        await FoldPendingAsync().ConfigureAwait(true);
        var user = this.GetPrimaryKeyLong();
        var revision = _state.Revision;
        var cache = _hstuCached;
        if (_options.ModelRunners)
        {
            // The model runs on a model-runner silo; it keeps the encoded history and is told what was appended since.
            var runner = Runner();
            var work = new HstuRankWork(
                user,
                revision,
                [.. _state.Events.Select(e => e.ToMessage())],
                cache?.BaseRevision,
                cache is null ? null : [.. cache.Pending.Select(e => e.ToMessage())],
                candidates,
                time.GetUtcNow());
            var answer = await runner.RankWithHstuAsync(work).ConfigureAwait(true);
            _hstuCached = new HstuCache(null, revision);
            return new Recommendations(answer.Items, answer.ModelVersion, 0, answer.CachedState);
        }

        var ranker = hstu.Ranker;
        var history = History();
        var kept = cache is { State: { } s } && cache.Revision == revision ? s : null;
        UserEvent[] pending = kept is null ? [] : [.. cache!.Pending.Select(e => ToEvent(new UserId(user), e))];

        // The model's work runs on the thread pool, not on the silo's grain scheduler: other activations keep being
        // served while this one waits (it takes no other call meanwhile, so its state cannot change under it).
        var (encoded, ranked, cached) = await Task.Run(() => HstuSessionRanking.Rank(ranker, kept, pending, history, new UserId(user), candidates, time.GetUtcNow())).ConfigureAwait(true);
        if (_options.CacheGenerativeState)
        {
            _hstuCached = new HstuCache(encoded, revision);
        }

        return new Recommendations(ranked, HstuSessionRanking.Version(ranker), 0, cached);
    }

    public async Task<IReadOnlyList<BehaviourEvent>> GetHistoryAsync()
    {
        await FoldPendingAsync().ConfigureAwait(true);
        return [.. _state.Events.Select(e => e.ToMessage())];
    }

    /// <summary>
    /// LIGER's union with a fresh-items channel: the generated items and the dense retriever's interleaved for most of the
    /// list, the items new since the dense model was trained (by content alone) for <see cref="GenRecOrleansOptions.FreshItemsShare"/>.
    /// </summary>
    private ReservedShareRecall Hybrid(OnnxDenseRetriever retriever, ScoredItem[] generated)
    {
        var union = new CompositeRecall("union", [
            new RecallChannel(new ListRecall(GenerativeSource, [.. generated.Select(g => new Candidate(new ItemId(g.Item), g.Score, GenerativeSource))])),
            new RecallChannel(retriever)]);
        return new ReservedShareRecall("hybrid", union, retriever.AsNewItemsRecall(), _options.FreshItemsShare);
    }

    private RecommendationRequest DenseRequest(RecommendQuery query)
    {
        var user = new UserId(this.GetPrimaryKeyLong());
        var history = History();
        return new RecommendationRequest(user, history, query.Count, time.GetUtcNow())
        {
            ExcludeHistory = query.ExcludeHistory,
            ExcludedItems = query.ExcludedItems is { Count: > 0 } extra ? extra.Select(i => new ItemId(i)).ToHashSet() : null,
        };
    }

    /// <summary>The silo's index, after folding in the pending events whose items it now has.</summary>
    private async Task<SemanticIdIndex> IndexAsync()
    {
        var index = await indexes.GetAsync().ConfigureAwait(true);
        var waiting = _state.Pending;
        if (waiting.Count == 0 || index.Version == _pendingCheckedAt)
        {
            return index;
        }

        var known = waiting.Where(e => index.TryGetSemanticId(new ItemId(e.Item), out _)).ToList();
        if (known.Count > 0)
        {
            // Placed by time like any event; one that the full window has moved past is dropped (counted), as an append would refuse it.
            var sequence = new List<StoredEvent>(_state.Events);
            var arrival = _state.NextSequence;
            var folded = known.Where(e => Place(sequence, e, ref arrival)).ToList();
            var expired = known.Count - folded.Count;
            await CommitAsync(sequence, arrival, folded, [.. waiting.Except(known)], []).ConfigureAwait(true);
            Ids().ExceptWith(known.Except(folded).Select(e => e.Id));
            PendingEvents.Add(folded.Count, new KeyValuePair<string, object?>("outcome", "folded"));
            PendingEvents.Add(expired, new KeyValuePair<string, object?>("outcome", "expired"));
        }

        _pendingCheckedAt = index.Version;
        return index;
    }

    /// <summary>Folds in the pending events whose items the silo's index now has (nothing to do, and no index read, when none wait).</summary>
    private async Task FoldPendingAsync()
    {
        if (_state.Pending.Count > 0)
        {
            await IndexAsync().ConfigureAwait(true);
        }
    }

    /// <summary>Event ids the session holds, in its sequence or pending (for exactly-once appends).</summary>
    private HashSet<string> Ids() =>
        _ids ??= _state.Events.Concat(_state.Pending).Select(e => e.Id).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// Places an event by time, numbered in arrival order (events of the same time keep it: the stores order by time,
    /// then arrival); false when the full window is past it.
    /// </summary>
    private bool Place(List<StoredEvent> sequence, StoredEvent e, ref long arrival)
    {
        if (sequence.Count >= _options.MaxEvents && e.TimeMilliseconds < sequence[0].TimeMilliseconds)
        {
            return false;
        }

        e.Sequence = arrival++;
        var at = sequence.Count;
        while (at > 0 && sequence[at - 1].TimeMilliseconds > e.TimeMilliseconds)
        {
            at--;
        }

        sequence.Insert(at, e);
        return true;
    }

    /// <summary>
    /// Writes the new sequence (trimmed to its bound; the store writes what was added) and, when given, the new pending
    /// events durably, then updates what is kept in memory; on a failed write nothing changes (the caller was not
    /// acknowledged and retries).
    /// </summary>
    /// <returns>Events evicted to keep the bound.</returns>
    private async Task<int> CommitAsync(List<StoredEvent> sequence, long arrival, List<StoredEvent> appended, List<StoredEvent>? pending, HashSet<string> added)
    {
        var evicted = Math.Max(0, sequence.Count - _options.MaxEvents);
        var dropped = sequence.GetRange(0, evicted).Select(e => e.Id).ToArray();
        sequence.RemoveRange(0, evicted);
        var next = new UserSessionState
        {
            Events = sequence,
            Pending = pending ?? _state.Pending,
            Revision = _state.Revision + (appended.Count > 0 ? 1 : 0),
            NextSequence = arrival,
            ETag = _state.ETag,
        };

        // Not acknowledged when this throws: the caller retries; the session keeps what storage holds.
        await store.WriteAsync(this.GetGrainId(), next, appended, pending is not null, _options.MaxEvents).ConfigureAwait(true);
        _state = next;

        var ids = Ids();
        ids.UnionWith(added);
        ids.ExceptWith(dropped);
        if (appended.Count == 0)
        {
            return evicted;
        }

        _cached = null;

        // HSTU is causal: its state extends with the new events at the next ranking, unless events left the
        // sequence (then what the state attended to changed). The ranker checks the rest (order, its window).
        if (evicted > 0 || _hstuCached is null)
        {
            _hstuCached = null;
        }
        else
        {
            _hstuCached.Pending.AddRange(appended);
            _hstuCached.Revision = _state.Revision;
        }

        return evicted;
    }

    /// <summary>The stored sequence as the SDK's events, oldest first.</summary>
    private UserEvent[] History()
    {
        var user = new UserId(this.GetPrimaryKeyLong());
        return [.. _state.Events.Select(e => ToEvent(user, e))];
    }

    /// <summary>This user's model runner: users are spread over <see cref="GenRecOrleansOptions.ModelRunnerPartitions"/> activations.</summary>
    private IModelRunnerGrain Runner() => GrainFactory.GetGrain<IModelRunnerGrain>(Math.Abs(this.GetPrimaryKeyLong() % _options.ModelRunnerPartitions));

    private static UserEvent ToEvent(UserId user, StoredEvent e) =>
        new(user, new ItemId(e.Item), (ActionType)e.Action, DateTimeOffset.FromUnixTimeMilliseconds(e.TimeMilliseconds), e.Value);

    private static ScoredItem Scored(Candidate c) => new(c.Item.Value, c.Score, c.Source);

    private static string DenseVersion(OnnxDenseRetriever retriever) => $"dense:{retriever.Manifest.UserTower.Sha256[..Math.Min(12, retriever.Manifest.UserTower.Sha256.Length)]}";

    /// <summary>The cached context when it is still valid; a fresh one (kept, when caching) otherwise; or the history itself for the batcher to read.</summary>
    private async Task<(GenerativeDecodeRequest Request, bool Cached)> RequestAsync(SemanticIdIndex index, OnnxGenerativeModel model, BeamSearchState search)
    {
        if (_cached is { } c && c.Matches(model, index, _state.Revision))
        {
            return (new GenerativeDecodeRequest(c.Context, search), true);
        }

        if (_options.CacheGenerativeState)
        {
            return (new GenerativeDecodeRequest(await RememberAsync(model, index).ConfigureAwait(true), search), false);
        }

        return (new GenerativeDecodeRequest(Tokens(model, index), search), false);
    }

    /// <summary>
    /// The history's context (keys and values), computed on the thread pool — not on the silo's grain scheduler — and
    /// kept when caching is on. The grain takes no other call meanwhile, so its state cannot change under it.
    /// </summary>
    private async Task<GenerativeContext> RememberAsync(OnnxGenerativeModel model, SemanticIdIndex index)
    {
        var tokens = Tokens(model, index);
        var context = await Task.Run(() => model.Encode(tokens)).ConfigureAwait(true);
        if (_options.CacheGenerativeState)
        {
            _cached = new CachedContext(context, index.Version, _state.Revision);
        }

        return context;
    }

    private int[] Tokens(OnnxGenerativeModel model, SemanticIdIndex index) =>
        model.EncodeHistory(History(), index);

    private void EnsureCandidateCount(IReadOnlyList<long> candidates)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (candidates.Count > _options.MaxCount)
        {
            throw new ArgumentException($"{candidates.Count} candidates are over the limit of {_options.MaxCount} (GenRecOrleansOptions.MaxCount).", nameof(candidates));
        }
    }

    internal static void EnsureServes(SemanticIdIndex index, OnnxGenerativeModel model)
    {
        if (!index.Serves(model.IndexFingerprint))
        {
            throw new InvalidOperationException($"The model in service was trained on index {model.IndexFingerprint}; the catalogue's index version {index.Version} ({index.Fingerprint}) did not grow from it. Publish a model trained on this index.");
        }
    }

    /// <summary>A list already computed, as a recall channel of a union.</summary>
    private sealed class ListRecall(string name, IReadOnlyList<Candidate> candidates) : IRecallStage
    {
        public string Name => name;

        public ValueTask<IReadOnlyList<Candidate>> RecallAsync(RecommendationRequest request, int count, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<IReadOnlyList<Candidate>>(candidates.Count <= count ? candidates : [.. candidates.Take(count)]);
    }

    /// <summary>
    /// The HSTU history state at <see cref="BaseRevision"/> (kept here, or by the model runner when
    /// <see cref="State"/> is <see langword="null"/>) and the events appended since, which bring it to <see cref="Revision"/>.
    /// </summary>
    private sealed class HstuCache(HstuHistoryState? state, long revision)
    {
        public HstuHistoryState? State { get; } = state;

        public long BaseRevision { get; } = revision;

        public long Revision { get; set; } = revision;

        public List<StoredEvent> Pending { get; } = [];
    }

    /// <summary>A context and what it was computed from.</summary>
    private sealed record CachedContext(GenerativeContext Context, int IndexVersion, long Revision)
    {
        public bool Matches(OnnxGenerativeModel model, SemanticIdIndex index, long revision) =>
            Context.ModelId == model.ModelId && IndexVersion == index.Version && Revision == revision;
    }
}
