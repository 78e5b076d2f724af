using GenRec.Inference;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace GenRec.Orleans;

/// <summary>
/// Model work placed on the silos marked as model runners (<see cref="ModelRunnerSilosAttribute"/>): reentrant, the
/// model work itself on the thread pool, so one activation serves many users' requests at once. It keeps the encoded
/// HSTU histories of the users it served last (at most <see cref="GenRecOrleansOptions.RunnerStateCapacity"/>,
/// least recently used dropped) and extends them with the events the session says were appended since.
/// </summary>
[Reentrant]
[ModelRunnerSilos]
internal sealed class ModelRunnerGrain(SiloModelHost models, SiloHstuHost hstu, IOptions<GenRecOrleansOptions> options, ILocalSiloDetails silo) : Grain, IModelRunnerGrain
{
    private readonly GenRecOrleansOptions _options = options.Value;
    private readonly Dictionary<long, LinkedListNode<Kept>> _byUser = [];
    private readonly LinkedList<Kept> _recent = [];

    public async Task<ModelReference?> GetModelAsync() => await models.CurrentAsync().ConfigureAwait(true);

    public async Task<RunnerRanking> RankWithHstuAsync(HstuRankWork work)
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
        if (_byUser.TryGetValue(work.User, out var node))
        {
            var k = node.Value;
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
        Keep(work.User, work.Revision, state);
        return new RunnerRanking(ranked, HstuSessionRanking.Version(ranker), reused, silo.Name);
    }

    private void Keep(long user, long revision, HstuHistoryState state)
    {
        if (_byUser.Remove(user, out var old))
        {
            _recent.Remove(old);
        }

        if (_options.RunnerStateCapacity == 0)
        {
            return;
        }

        _byUser[user] = _recent.AddFirst(new Kept(user, revision, state));
        while (_recent.Count > _options.RunnerStateCapacity)
        {
            _byUser.Remove(_recent.Last!.Value.User);
            _recent.RemoveLast();
        }
    }

    private sealed record Kept(long User, long Revision, HstuHistoryState State);
}
