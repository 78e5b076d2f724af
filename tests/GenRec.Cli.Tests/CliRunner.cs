using System.Diagnostics;
using System.Text.Json;

namespace GenRec.Cli.Tests;

/// <summary>Runs the real <c>genrec</c> program (built next to the tests) as a child process.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public JsonElement LastJson() => JsonDocument.Parse(Stdout.TrimEnd().Split('\n')[^1]).RootElement;
    }

    public static async Task<Result> RunAsync(params string[] args) =>
        await RunProcessAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "genrec.dll"), .. args]);

    public static async Task<Result> RunProcessAsync(string program, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // The tests run side by side with other test processes on few cores: one OpenMP thread per child keeps
        // libtorch's spinning intra-op threads from competing with each other (results do not depend on it).
        start.Environment["OMP_NUM_THREADS"] = "1";
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(15)); // a guard against a hung child, not a speed check
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // A child left running would hold cores for the rest of the run and slow every later test.
            process.Kill(entireProcessTree: true);
            throw;
        }

        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
