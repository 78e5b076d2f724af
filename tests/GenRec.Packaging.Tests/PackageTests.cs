using System.Diagnostics;
using GenRec.TestSupport;

namespace GenRec.Packaging.Tests;

public sealed class PackageTests
{
    /// <summary>
    /// scripts/package-check.sh packs every SDK package into a folder feed, creates a console project outside the
    /// solution that references only the GenRec package (and the native ONNX Runtime an application picks), and runs
    /// it against a real exported model: "add a NuGet package" must give a recommendation.
    /// </summary>
    [Fact]
    public async Task The_packed_packages_install_into_a_fresh_project_and_recommend()
    {
        var files = ModelFiles.Value;
        using var work = TestData.TempFolder();
        var script = Path.Combine(TestData.RepositoryRoot, "scripts", "package-check.sh");
        var start = new ProcessStartInfo("bash", [script, files.ModelPath, files.IndexPath, work.Path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = TestData.RepositoryRoot,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var errors = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        var text = await output + await errors;

        Assert.True(process.ExitCode == 0, text);
        var packages = Directory.GetFiles(Path.Combine(work.Path, "feed"), "*.nupkg").Select(Path.GetFileName).ToArray();
        foreach (var expected in new[] { "GenRec.", "GenRec.Abstractions.", "GenRec.Adapters.", "GenRec.Baselines.", "GenRec.Inference.", "GenRec.Models.", "GenRec.Orleans.", "GenRec.Orleans.Abstractions.", "GenRec.Orleans.Client.", "GenRec.Orleans.Redis.", "GenRec.Training.", "GenRec.Training.Onnx." })
        {
            Assert.Contains(packages, p => p!.StartsWith(expected, StringComparison.Ordinal) && char.IsDigit(p[expected.Length]));
        }

        var line = text.Split('\n').Single(l => l.StartsWith("recommended: ", StringComparison.Ordinal));
        Assert.Equal(10, line["recommended: ".Length..].Split(", ").Distinct().Count());
    }
}
