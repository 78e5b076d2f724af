using GenRec.Inference;
using GenRec.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenRec.Orleans;

/// <summary>
/// A silo's model runner: the ONNX Runtime sessions and the micro-batcher of the published model. It checks the
/// model registry at most every <see cref="GenRecOrleansOptions.RefreshInterval"/>; a newly published model is
/// loaded beside the current one and takes new requests at once, while requests already holding a lease on the old
/// one finish on it before it is disposed: a swap drops nothing.
/// </summary>
internal sealed partial class SiloModelHost(IGrainFactory grains, IOptions<GenRecOrleansOptions> options, TimeProvider time, ILogger<SiloModelHost> logger) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Loaded? _current;
    private DateTimeOffset _checkedAt = DateTimeOffset.MinValue;

    /// <summary>The model in service, or <see langword="null"/> when none is published (refreshing first if due).</summary>
    public async ValueTask<ModelReference?> CurrentAsync()
    {
        await RefreshAsync().ConfigureAwait(false);
        return _current?.Reference;
    }

    /// <summary>Takes a lease on the current model; dispose it when the request is done.</summary>
    /// <exception cref="InvalidOperationException">No model is published.</exception>
    public async ValueTask<ModelLease> AcquireAsync()
    {
        await RefreshAsync().ConfigureAwait(false);
        while (true)
        {
            var loaded = _current ?? throw new InvalidOperationException("No generative model is published: publish one through IModelRegistryGrain or set GenRecOrleansOptions.ModelPath.");
            if (loaded.TryEnter())
            {
                return new ModelLease(loaded);
            }

            // The model was swapped out between reading it and entering it: take the new one; unless the host is closing.
            if (ReferenceEquals(loaded, _current))
            {
                throw new ObjectDisposedException(nameof(SiloModelHost), "The silo's model runner is shutting down.");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_current is { } loaded)
        {
            await loaded.RetireAsync().ConfigureAwait(false);
        }

        _gate.Dispose();
    }

    private async ValueTask RefreshAsync()
    {
        var o = options.Value;
        if (time.GetUtcNow() - _checkedAt < o.RefreshInterval)
        {
            return;
        }

        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (time.GetUtcNow() - _checkedAt < o.RefreshInterval)
            {
                return;
            }

            var registry = grains.GetGrain<IModelRegistryGrain>(o.Catalogue);
            var reference = await registry.GetAsync().ConfigureAwait(false);
            if (reference is null && o.ModelPath is { } seed)
            {
                reference = await registry.SeedAsync(new ModelReference(VersionOf(seed), seed)).ConfigureAwait(false);
            }

            if (reference is not null && reference.Version != _current?.Reference.Version)
            {
                var model = OnnxGenerativeModel.Load(reference.Path, o.OnnxRuntime, logger);
                var next = new Loaded(reference, model, new GenerativeMicroBatcher(model, o.MicroBatcher));
                var previous = _current;
                _current = next;
                ModelSwapped(logger, reference.Version, model.ExecutionProvider, previous?.Reference.Version ?? "none");
                if (previous is not null)
                {
                    _ = previous.RetireAsync();
                }
            }

            _checkedAt = time.GetUtcNow();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A version label for a model folder: its manifest's graph hashes.</summary>
    internal static string VersionOf(string folder)
    {
        var manifest = OnnxModelManifest.Load(folder);
        return $"{manifest.Architecture}:{manifest.Context.Sha256[..Math.Min(12, manifest.Context.Sha256.Length)]}:{manifest.Step.Sha256[..Math.Min(12, manifest.Step.Sha256.Length)]}";
    }

    [LoggerMessage(1, LogLevel.Information, "GenRec: model {Version} in service on this silo ({Provider}); previous: {Previous}.")]
    private static partial void ModelSwapped(ILogger logger, string version, GenRec.Inference.ExecutionProviderPreference provider, string previous);

    /// <summary>A loaded model with a count of the requests using it.</summary>
    internal sealed class Loaded(ModelReference reference, OnnxGenerativeModel model, GenerativeMicroBatcher batcher)
    {
        private readonly TaskCompletionSource _idle = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _users;
        private bool _retiring;

        public ModelReference Reference { get; } = reference;

        public OnnxGenerativeModel Model { get; } = model;

        public GenerativeMicroBatcher Batcher { get; } = batcher;

        public bool TryEnter()
        {
            lock (_idle)
            {
                if (_retiring)
                {
                    return false;
                }

                _users++;
                return true;
            }
        }

        public void Exit()
        {
            lock (_idle)
            {
                if (--_users == 0 && _retiring)
                {
                    _idle.TrySetResult();
                }
            }
        }

        /// <summary>Waits for the requests holding a lease, then releases the sessions.</summary>
        public async Task RetireAsync()
        {
            lock (_idle)
            {
                _retiring = true;
                if (_users == 0)
                {
                    _idle.TrySetResult();
                }
            }

            await _idle.Task.ConfigureAwait(false);
            await Batcher.DisposeAsync().ConfigureAwait(false);
            Model.Dispose();
        }
    }
}

/// <summary>A request's hold on a model: the model stays loaded until every lease on it is disposed.</summary>
internal sealed class ModelLease(SiloModelHost.Loaded loaded) : IDisposable
{
    private int _disposed;

    public ModelReference Reference => loaded.Reference;

    public OnnxGenerativeModel Model => loaded.Model;

    public GenerativeMicroBatcher Batcher => loaded.Batcher;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            loaded.Exit();
        }
    }
}
