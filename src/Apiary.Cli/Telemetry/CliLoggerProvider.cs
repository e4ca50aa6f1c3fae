using Microsoft.Extensions.Logging;

namespace Apiary.Cli.Telemetry;

/// <summary>
/// Logs as the command's other messages read on its error writer: one line an entry, <c>PROGRAM: MESSAGE</c>, with
/// <c>warning: </c> or <c>error: </c> before the message at those levels (<c>apiary: warning: ...</c>). Writes are
/// serialized, since the server logs from many threads.
/// </summary>
internal sealed class CliLoggerProvider(TextWriter error, string program) : ILoggerProvider
{
    private readonly Lock _gate = new();

    /// <summary>A logger factory for a command: this provider alone, at <paramref name="minimum"/> and up.</summary>
    public static ILoggerFactory CreateFactory(TextWriter error, string program, LogLevel minimum) =>
        LoggerFactory.Create(logging => logging.SetMinimumLevel(minimum).AddProvider(new CliLoggerProvider(error, program)));

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private void Write(LogLevel level, string message, Exception? exception)
    {
        var label = level switch
        {
            LogLevel.Warning => "warning: ",
            LogLevel.Error or LogLevel.Critical => "error: ",
            _ => "",
        };
        var line = exception is null || level < LogLevel.Error ? $"{program}: {label}{message}" : $"{program}: {label}{message}{Environment.NewLine}{exception}";
        lock (_gate)
        {
            error.WriteLine(line);
            error.Flush();
        }
    }

    private sealed class Logger(CliLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            ArgumentNullException.ThrowIfNull(formatter);
            provider.Write(logLevel, formatter(state, exception), exception);
        }
    }
}
