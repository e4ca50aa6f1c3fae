using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Apiary.Testing;

/// <summary>One entry a <see cref="CapturingLoggerProvider"/> captured.</summary>
public sealed record CapturedLog(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);

/// <summary>
/// A logger provider that keeps every entry, so tests read what code logged through its <c>[LoggerMessage]</c> methods.
/// <see cref="CreateFactory"/> gives a factory that logs everything (trace and up) to it alone.
/// </summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _entries = new();

    /// <summary>What was logged so far, in order.</summary>
    public IReadOnlyList<CapturedLog> Entries => [.. _entries];

    /// <summary>The messages logged so far, one a line, for assertions on text.</summary>
    public string Text => string.Join("\n", _entries.Select(e => e.Message));

    /// <summary>A logger factory that sends every entry, at every level, to a new provider.</summary>
    public static ILoggerFactory CreateFactory(out CapturingLoggerProvider provider)
    {
        var captured = new CapturingLoggerProvider();
        provider = captured;
        return LoggerFactory.Create(builder => builder.SetMinimumLevel(LogLevel.Trace).AddProvider(captured));
    }

    /// <inheritdoc/>
    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    /// <inheritdoc/>
    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            provider._entries.Enqueue(new CapturedLog(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
