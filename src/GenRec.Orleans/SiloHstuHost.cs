using GenRec.Inference;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace GenRec.Orleans;

/// <summary>
/// The silo's HSTU ranker (<see cref="GenRecOrleansOptions.HstuModelPath"/>), loaded on first use and shared by every
/// session on the silo; cross features come from an <see cref="ICandidateFeatures"/> in the silo's services.
/// </summary>
internal sealed class SiloHstuHost(IOptions<GenRecOrleansOptions> options, IServiceProvider services, ILoggerFactory? loggers = null) : IDisposable
{
    private readonly Lazy<HstuOnnxRanker> _ranker = new(() => HstuOnnxRanker.Load(
        options.Value.HstuModelPath ?? throw new InvalidOperationException("This silo has no HSTU ranker: set GenRecOrleansOptions.HstuModelPath (a folder from `genrec export --kind hstu`)."),
        services.GetService<ICandidateFeatures>(),
        options.Value.OnnxRuntime,
        loggers?.CreateLogger("GenRec.Inference")));

    public HstuOnnxRanker Ranker => _ranker.Value;

    public void Dispose()
    {
        if (_ranker.IsValueCreated)
        {
            _ranker.Value.Dispose();
        }
    }
}
