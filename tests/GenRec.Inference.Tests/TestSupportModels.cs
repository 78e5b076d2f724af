using GenRec.TestSupport;
using GenRec.Training.Onnx;
using GenRec.Training;

namespace GenRec.Inference.Tests;

internal static class TestSupportModels
{
    /// <summary>Another model of the fixture's shape (fresh weights), exported and loaded: it must not accept the fixture's state.</summary>
    public static OnnxGenerativeModel Retrained(OnnxFixture fixture)
    {
        using var torch = TigerModelArtifact.CreateUntrained(fixture.Torch.Config, fixture.Index, ComputeDevice.Cpu, seed: 7);
        var folder = Path.Combine(fixture.Folder, "other");
        TigerOnnxExporter.Export(torch, folder);
        return OnnxGenerativeModel.Load(folder, new OnnxRuntimeOptions { ExecutionProvider = ExecutionProviderPreference.Cpu });
    }
}
