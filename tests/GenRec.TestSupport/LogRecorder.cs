using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace GenRec.TestSupport;

/// <summary>One log entry as a component wrote it.</summary>
/// <param name="Category">The logger's category.</param>
/// <param name="Level">Its level.</param>
/// <param name="Message">The formatted message.</param>
/// <param name="Exception">The exception logged with it, if any.</param>
public sealed record LogEntry(string Category, LogLevel Level, string Message, Exception? Exception);

/// <summary>A logger (and logger provider) that keeps every entry, so a test can check what a failure logged.</summary>
public sealed class LogRecorder : ILogger, ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();
    private readonly string _category;

    /// <summary>A recorder whose entries have the category "test".</summary>
    public LogRecorder()
        : this("test", new ConcurrentQueue<LogEntry>())
    {
    }

    private LogRecorder(string category, ConcurrentQueue<LogEntry> entries)
    {
        _category = category;
        _entries = entries;
    }

    /// <summary>Every entry so far, oldest first.</summary>
    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    /// <inheritdoc />
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    /// <inheritdoc />
    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    /// <inheritdoc />
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        _entries.Enqueue(new LogEntry(_category, logLevel, formatter(state, exception), exception));
    }

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new LogRecorder(categoryName, _entries);

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
