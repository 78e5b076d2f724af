using GenRec.Generative;
using GenRec.Inference;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace GenRec.Orleans;

/// <summary>
/// Model work placed on the silos marked as model runners (<see cref="ModelRunnerSilosAttribute"/>): reentrant, the
/// model work itself on the thread pool or the micro-batcher, so one activation serves many users' requests at once.
/// It keeps the encoded HSTU histories and generative contexts of the users it served last (each at most
/// <see cref="GenRecOrleansOptions.RunnerStateCapacity"/>, least recently used dropped), extends the HSTU ones with the
/// events the session says were appended since, and reuses a context while the history's revision, the index and the
/// model are the same.
/// </summary>
[Reentrant]
[ModelRunnerSilos]
internal sealed class ModelRunnerGrain(SiloModelHost models, SiloHstuHost hstu, SiloIndexCache indexes, IOptions<GenRecOrleansOptions> options, ILocalSiloDetails silo) : Grain, IModelRunnerGrain
{
    private readonly GenRecOrleansOptions _options = options.Value;
    private readonly RecentByUser<(long Revision, HstuHistoryState State)> _hstu = new(options.Value.RunnerStateCapacity);
    private readonly RecentByUser<(long Revision, int IndexVersion, GenerativeContext Context)> _contexts = new(options.Value.RunnerStateCapacity);

    public async Task<ModelReference?> GetModelAsync() => await models.CurrentAsync().ConfigureAwait(true);

    public async Task<RunnerResult> RankWithHstuAsync(HstuRankWork work)
    {
        ArgumentNullException.ThrowIfNull(work);
        ArgumentNullException.ThrowIfNull(work.History);
        ArgumentNullException.ThrowIfNull(work.Candidates);
        if (work.Candidates.Count > _options.MaxCount)
        {
            throw new ArgumentException($"{work.Candidates.Count} candidates are over the limit of {_options.MaxCount} (GenRecOrleansOptions.MaxCount).", nameof(work));
        }

        var ranker = hstu.Ranker;
        var user = new UserId(work.User);
        UserEvent[] history = [.. work.History.Select(e => e.ToUserEvent(work.User))];
        HstuHistoryState? kept = null;
        IReadOnlyList<UserEvent> appended = [];
        if (_hstu.TryGet(work.User, out var k))
        {
            if (k.Revision == work.Revision)
            {
                kept = k.State;
            }
            else if (work.BaseRevision == k.Revision && work.Appended is { } events)
            {
                (kept, appended) = (k.State, [.. events.Select(e => e.ToUserEvent(work.User))]);
            }
        }

        // The grain's other requests keep being served meanwhile (reentrant); this user's session waits for the answer.
        var (state, ranked, reused) = await Task.Run(() => HstuSessionRanking.Rank(ranker, kept, appended, history, user, work.Candidates, work.RequestTime)).ConfigureAwait(true);
        _hstu.Set(work.User, (work.Revision, state));
        return new RunnerResult(ranked, HstuSessionRanking.Version(ranker), reused, silo.Name);
    }

    public async Task<RunnerResult> RecommendGenerativeAsync(GenerativeWork work)
    {
        ArgumentNullException.ThrowIfNull(work);
        ArgumentNullException.ThrowIfNull(work.History);
        ArgumentNullException.ThrowIfNull(work.Excluded);
        if (work.Count < 1 || work.Count > _options.MaxCount || work.BeamWidth < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(work), $"Count must be in [1, {_options.MaxCount}] and BeamWidth 0 (the default) or more; got {work.Count} and {work.BeamWidth}.");
        }

        var index = await indexes.GetAsync().ConfigureAwait(true);
        using var lease = await models.AcquireAsync().ConfigureAwait(true);
        UserSessionGrain.EnsureServes(index, lease.Model);
        var width = Math.Max(work.BeamWidth == 0 ? _options.DefaultBeamWidth : work.BeamWidth, work.Count);
        var excluded = work.Excluded.Select(i => index.TryGetSemanticId(new ItemId(i), out var id) ? id : default).Where(id => id.Length > 0);
        var search = new BeamSearchState(index.Trie, index.Length, width, excluded);
        var cached = _contexts.TryGet(work.User, out var k) && k.Revision == work.Revision && k.IndexVersion == index.Version && k.Context.ModelId == lease.Model.ModelId;
        var context = cached ? k.Context : null;
        if (context is null)
        {
            var tokens = lease.Model.EncodeHistory([.. work.History.Select(e => e.ToUserEvent(work.User))], index);
            var model = lease.Model;
            context = await Task.Run(() => model.Encode(tokens)).ConfigureAwait(true);
            if (_options.CacheGenerativeState)
            {
                _contexts.Set(work.User, (work.Revision, index.Version, context));
            }
        }

        var decoded = await lease.Batcher.DecodeAsync(new GenerativeDecodeRequest(context, search)).ConfigureAwait(true);
        ScoredItem[] generated = [.. decoded.Take(work.Count).Select(d => new ScoredItem(index[d.Id].Value, d.LogProbability, UserSessionGrain.GenerativeSource))];
        return new RunnerResult(generated, lease.Reference.Version, cached, silo.Name, index.Version);
    }

    /// <summary>The last <c>capacity</c> users' values, least recently used dropped first. Used on the grain's turns only.</summary>
    private sealed class RecentByUser<T>(int capacity)
    {
        private readonly Dictionary<long, LinkedListNode<(long User, T Value)>> _byUser = [];
        private readonly LinkedList<(long User, T Value)> _recent = [];

        public bool TryGet(long user, out T value)
        {
            if (_byUser.TryGetValue(user, out var node))
            {
                value = node.Value.Value;
                return true;
            }

            value = default!;
            return false;
        }

        public void Set(long user, T value)
        {
            if (_byUser.Remove(user, out var old))
            {
                _recent.Remove(old);
            }

            if (capacity == 0)
            {
                return;
            }

            _byUser[user] = _recent.AddFirst((user, value));
            while (_recent.Count > capacity)
            {
                _byUser.Remove(_recent.Last!.Value.User);
                _recent.RemoveLast();
            }
        }
    }
}
