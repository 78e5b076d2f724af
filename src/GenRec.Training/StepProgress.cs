namespace GenRec.Training;

/// <summary>
/// Progress inside a training epoch: about twenty reports an epoch, so a long epoch (tens of millions of events) shows
/// it is moving and how fast.
/// </summary>
/// <param name="Epoch">The epoch, from 1.</param>
/// <param name="Step">Optimiser steps done in this epoch.</param>
/// <param name="Steps">Optimiser steps in this epoch.</param>
/// <param name="Loss">The mean training loss of the epoch so far.</param>
/// <param name="Elapsed">Time since training started.</param>
public readonly record struct StepProgress(int Epoch, int Step, int Steps, double Loss, TimeSpan Elapsed)
{
    /// <summary>Whether step <paramref name="step"/> of <paramref name="steps"/> is one to report (about every 5 %, and the last).</summary>
    internal static bool IsDue(int step, int steps) => step == steps || step % Math.Max(1, steps / 20) == 0;
}
