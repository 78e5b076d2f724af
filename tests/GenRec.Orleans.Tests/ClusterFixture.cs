using GenRec.TestSupport;
using Orleans.TestingHost;

namespace GenRec.Orleans.Tests;

/// <summary>A real two-silo Orleans cluster in this process with the GenRec grains and in-memory storage, serving the small TIGER and the small dense retriever.</summary>
public sealed class ClusterFixture() : GenRecCluster(ModelFiles.Value.ModelPath);

/// <summary>The same cluster serving the small end-to-end model (event histories) as its generative model.</summary>
public sealed class EndToEndClusterFixture() : GenRecCluster(ModelFiles.EndToEndOnnxPath);

/// <summary>A real two-silo Orleans cluster in this process with the GenRec grains and in-memory storage.</summary>
public abstract class GenRecCluster(string modelPath) : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    /// <summary>The silos' <c>GenRecOrleansOptions.FusionFreshOffset</c>.</summary>
    public const double FusionFreshOffset = 0.1;

    public async ValueTask InitializeAsync()
    {
        var files = ModelFiles.Value;
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) => silo
            .AddGenRecGrains(o =>
            {
                o.IndexPath = files.IndexPath;
                o.ModelPath = modelPath;
                o.HstuModelPath = ModelFiles.HstuOnnxPath;
                o.DenseModelPath = ModelFiles.DenseOnnxPath;
                o.Fusion = new GenRec.Generative.BeamFusionOptions { Beams = 8, DenseWeight = 20 };
                o.FusionFreshOffset = FusionFreshOffset;
                o.FusionPrefixHead = true;
                o.MaxEvents = 60;
                o.MaxAppendBatch = 200;
                o.RefreshInterval = TimeSpan.FromMilliseconds(200);
                o.OnnxRuntime = new GenRec.Inference.OnnxRuntimeOptions { ExecutionProvider = GenRec.Inference.ExecutionProviderPreference.Cpu };
            })
            .UseInMemoryGenRecStorage());
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
