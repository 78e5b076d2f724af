namespace GenRec.TestSupport;

/// <summary>
/// Reports progress on the reporting thread (<see cref="Progress{T}"/> posts to the thread pool, so a test could read
/// its list before the last report arrives).
/// </summary>
/// <typeparam name="T">What is reported.</typeparam>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    /// <inheritdoc/>
    public void Report(T value) => report(value);
}
