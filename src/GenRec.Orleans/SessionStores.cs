using System.Buffers.Binary;
using MessagePack;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Storage;

namespace GenRec.Orleans;

/// <summary>
/// Where a user session's durable state lives. A write carries both the session after the change and what the change
/// added, so a store may write either; it either stores all of it or throws (the caller then keeps what it had and is
/// not acknowledged). A write made from a state other than the one stored (another activation wrote meanwhile) throws
/// <see cref="InconsistentStateException"/>, which deactivates the grain so it reads again.
/// </summary>
internal interface ISessionStore
{
    /// <summary>The session as stored; an empty one for a new user.</summary>
    Task<UserSessionState> ReadAsync(GrainId grain);

    /// <summary>Stores <paramref name="next"/>, whose sequence is the stored one with <paramref name="added"/> placed and the oldest beyond <paramref name="maxEvents"/> evicted; sets its <see cref="UserSessionState.ETag"/>.</summary>
    Task WriteAsync(GrainId grain, UserSessionState next, IReadOnlyList<StoredEvent> added, bool pendingChanged, int maxEvents);
}

/// <summary>
/// The session as one grain state of the <see cref="GenRecOrleansOptions.StorageName"/> storage (any Orleans storage
/// provider: the in-memory one for development): every write rewrites the whole sequence, so its cost grows with the history.
/// </summary>
internal sealed class GrainStorageSessionStore(IServiceProvider services) : ISessionStore
{
    internal const string StateName = "session";

    private IGrainStorage Storage => GenRecGrainStorage.Get(services);

    public async Task<UserSessionState> ReadAsync(GrainId grain)
    {
        var state = new GrainState<UserSessionState>(new UserSessionState());
        await Storage.ReadStateAsync(StateName, grain, state).ConfigureAwait(false);
        var session = state.State ?? new UserSessionState();
        session.ETag = state.ETag;
        return session;
    }

    public async Task WriteAsync(GrainId grain, UserSessionState next, IReadOnlyList<StoredEvent> added, bool pendingChanged, int maxEvents)
    {
        var state = new GrainState<UserSessionState>(next, next.ETag) { RecordExists = next.ETag is not null };
        await Storage.WriteStateAsync(StateName, grain, state).ConfigureAwait(false);
        next.ETag = state.ETag;
    }

    /// <summary>Removes the stored state (read as <paramref name="stored"/>).</summary>
    public Task ClearAsync(GrainId grain, UserSessionState stored) =>
        Storage.ClearStateAsync(StateName, grain, new GrainState<UserSessionState>(stored, stored.ETag) { RecordExists = true });
}

/// <summary>The grain storage the GenRec grains and stores use.</summary>
internal static class GenRecGrainStorage
{
    public static IGrainStorage Get(IServiceProvider services) => services.GetKeyedService<IGrainStorage>(GenRecOrleansOptions.StorageName)
        ?? throw new InvalidOperationException($"No grain storage named '{GenRecOrleansOptions.StorageName}' is registered: call UseInMemoryGenRecStorage or UseGenRecRedisStorage on the silo.");
}
