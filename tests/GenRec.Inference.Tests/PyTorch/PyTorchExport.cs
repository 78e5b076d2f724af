using System.Diagnostics;
using System.Text.Json;
using GenRec.TestSupport;

namespace GenRec.Inference.Tests.PyTorch;

/// <summary>
/// Runs the PyTorch samples (<c>samples/PyTorch</c>): a python3 with torch and onnx (Debian's python3-torch and
/// python3-onnx, which <c>.ci/run</c> installs; or the interpreter named by GENREC_TORCH_PYTHON).
/// </summary>
internal static class PyTorchExport
{
    private static readonly Lazy<string> LazyPython = new(FindPython);

    /// <summary>The interpreter that imports torch and onnx.</summary>
    public static string Python => LazyPython.Value;

    /// <summary>Writes <paramref name="spec"/> as JSON, runs the sample script on it and returns the reference it wrote.</summary>
    public static JsonDocument Export(string script, object spec, string modelFolder, string workFolder)
    {
        var specPath = Path.Combine(workFolder, "spec.json");
        var referencePath = Path.Combine(workFolder, "reference.json");
        File.WriteAllText(specPath, JsonSerializer.Serialize(spec));
        var (code, output) = Run(Python, [Path.Combine(TestData.RepositoryRoot, "samples", "PyTorch", script), "--spec", specPath, "--out", modelFolder, "--reference", referencePath]);
        if (code != 0)
        {
            throw new InvalidOperationException($"{script} exited with {code}:\n{output}");
        }

        return JsonDocument.Parse(File.ReadAllText(referencePath));
    }

    private static string FindPython()
    {
        string?[] candidates = [Environment.GetEnvironmentVariable("GENREC_TORCH_PYTHON"), "/usr/bin/python3", "python3"];
        var tried = new List<string>();
        foreach (var python in candidates.OfType<string>().Where(p => p.Length > 0).Distinct())
        {
            try
            {
                var (code, output) = Run(python, ["-c", "import torch, onnx"]);
                if (code == 0)
                {
                    return python;
                }

                tried.Add($"{python}: {output.Trim().Split('\n')[^1]}");
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                tried.Add($"{python}: {e.Message}");
            }
        }

        throw new InvalidOperationException(
            "These tests export PyTorch models and need a python3 that imports torch and onnx: install Debian's python3-torch and " +
            $"python3-onnx (.ci/run does), or set GENREC_TORCH_PYTHON. Tried: {string.Join("; ", tried)}");
    }

    private static (int Code, string Output) Run(string program, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment["OMP_NUM_THREADS"] = "1"; // the tests share few cores; results do not depend on it
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1"; // no __pycache__ in the checkout
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10))) // a guard against a hung child, not a speed check
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', start.ArgumentList)} did not finish in 10 minutes.");
        }

        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
