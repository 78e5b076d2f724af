using GenRec.Evaluation;

namespace GenRec.Cli;

/// <summary>
/// Writes progress of long work to standard error: a live bar on a terminal, one line per tenth when redirected,
/// so standard output keeps only results.
/// </summary>
internal sealed class ConsoleProgress(string label, string unit = "users") : IProgress<EvaluationProgress>
{
    private int _lastTenth = -1;

    public void Report(EvaluationProgress value)
    {
        var fraction = value.Total == 0 ? 1 : value.Done / (double)value.Total;
        var rate = value.Elapsed.TotalSeconds > 0 ? value.Done / value.Elapsed.TotalSeconds : 0;
        var text = $"{label} [{new string('#', (int)(fraction * 20)),-20}] {value.Done}/{value.Total} {unit}, {rate:0} {unit}/s, {value.Elapsed.TotalSeconds:0.0}s";
        if (!Console.IsErrorRedirected)
        {
            Console.Error.Write($"\r{text}");
            if (value.Done == value.Total)
            {
                Console.Error.WriteLine();
            }

            return;
        }

        var tenth = (int)(fraction * 10);
        if (tenth != _lastTenth)
        {
            _lastTenth = tenth;
            Console.Error.WriteLine(text);
        }
    }

    /// <summary>A plain status line on standard error.</summary>
    public static void Status(string text) => Console.Error.WriteLine(text);

    /// <summary>Lines for a trainer's progress inside an epoch: steps done, the loss so far, steps per second.</summary>
    public static IProgress<GenRec.Training.StepProgress> Steps(string model) => new SyncProgress<GenRec.Training.StepProgress>(p => Status(
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{model} epoch {p.Epoch}: step {p.Step}/{p.Steps}, loss {p.Loss:0.0000} ({p.Elapsed.TotalSeconds:0}s)")));
}
