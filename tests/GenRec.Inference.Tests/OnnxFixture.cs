using GenRec.Data;
using GenRec.Models;
using GenRec.SemanticIds;
using GenRec.TestSupport;
using GenRec.Training.Onnx;
using GenRec.Training;

namespace GenRec.Inference.Tests;

/// <summary>A small TIGER (two layers) trained on the real MovieLens train part, exported to ONNX and loaded by the runtime.</summary>
public class OnnxFixture : IDisposable
{
    private readonly TempFolder _folder = TestData.TempFolder();

    public OnnxFixture()
        : this(TigerArchitecture.DecoderOnly)
    {
    }

    protected OnnxFixture(TigerArchitecture architecture, bool readActions = false)
    {
        Index = ModelFiles.SmallIndex().Index;
        Torch = ModelFiles.TrainSmall(Index, architecture, readActions);
        Manifest = TigerOnnxExporter.Export(Torch, Folder);
        Onnx = OnnxGenerativeModel.Load(Folder, new OnnxRuntimeOptions { ExecutionProvider = Provider });
    }

    /// <summary>
    /// The provider the shared model runs on: the CPU, unless GENREC_ONNX_PROVIDER says Auto or Cuda
    /// (scripts/gpu-check.sh runs these tests with Cuda, so parity is checked on the GPU too).
    /// </summary>
    public static ExecutionProviderPreference Provider { get; } =
        Enum.TryParse<ExecutionProviderPreference>(Environment.GetEnvironmentVariable("GENREC_ONNX_PROVIDER"), ignoreCase: true, out var p) ? p : ExecutionProviderPreference.Cpu;

    public string Folder => _folder.Path;

    public SemanticIdIndex Index { get; }

    public TigerModelArtifact Torch { get; }

    public OnnxModelManifest Manifest { get; }

    public OnnxGenerativeModel Onnx { get; }

    /// <summary>Real histories: the test users' train sequences, encoded (short and full ones).</summary>
    public IEnumerable<int[]> Histories(int count) =>
        TestData.Split.Cases(SplitTarget.Test).Take(count)
            .Select(c => Torch.EncodeHistory(c.HistoryEvents(), Index));

    public void Dispose()
    {
        Onnx.Dispose();
        Torch.Dispose();
        _folder.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class EncoderDecoderOnnxFixture : OnnxFixture
{
    public EncoderDecoderOnnxFixture()
        : base(TigerArchitecture.EncoderDecoder)
    {
    }
}

/// <summary>Decoder-only over token histories that carry each item's action token (here its rating) after its codes.</summary>
public sealed class DecoderOnlyActionsOnnxFixture : OnnxFixture
{
    public DecoderOnlyActionsOnnxFixture()
        : base(TigerArchitecture.DecoderOnly, readActions: true)
    {
    }
}

/// <summary>The encoder-decoder over token histories that carry each item's action token.</summary>
public sealed class EncoderDecoderActionsOnnxFixture : OnnxFixture
{
    public EncoderDecoderActionsOnnxFixture()
        : base(TigerArchitecture.EncoderDecoder, readActions: true)
    {
    }
}

/// <summary>The end-to-end model (event histories: item rows, side features, actions, ages), exported and served.</summary>
public sealed class EndToEndOnnxFixture : OnnxFixture
{
    public EndToEndOnnxFixture()
        : base(TigerArchitecture.EndToEnd)
    {
    }
}
