using Microsoft.Extensions.Logging;

namespace GenRec.Cli;

/// <summary>Library log lines (e.g. the execution provider chosen, and why) on standard error, like the CLI's own status lines.</summary>
internal sealed class ConsoleLog : ILogger
{
    public static readonly ConsoleLog Instance = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        if (IsEnabled(logLevel))
        {
            ConsoleProgress.Status((logLevel >= LogLevel.Warning ? "warning: " : string.Empty) + formatter(state, exception));
        }
    }
}
