namespace GenRec.Orleans;

/// <summary>The published model of a catalogue, durable.</summary>
internal sealed class ModelRegistryGrain(
    [PersistentState("model", GenRecOrleansOptions.StorageName)] IPersistentState<ModelRegistryState> state) : Grain, IModelRegistryGrain
{
    public Task<ModelReference?> GetAsync() =>
        Task.FromResult(state.State.Version is { } v && state.State.Path is { } p ? new ModelReference(v, p) : null);

    public async Task PublishAsync(ModelReference model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (string.IsNullOrWhiteSpace(model.Version) || !Directory.Exists(model.Path))
        {
            throw new ArgumentException($"A model needs a version label and a folder that exists on every silo; '{model.Path}' does not exist here.", nameof(model));
        }

        state.State.Version = model.Version;
        state.State.Path = model.Path;
        await state.WriteStateAsync().ConfigureAwait(true);
    }

    public async Task<ModelReference> SeedAsync(ModelReference model)
    {
        if (await GetAsync().ConfigureAwait(true) is { } current)
        {
            return current;
        }

        await PublishAsync(model).ConfigureAwait(true);
        return model;
    }
}
