using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Apiary.SandboxEndpoint.Telemetry;

/// <summary>The logging of <c>apiary-endpoint</c>: one line an entry, information and up, all on standard error.</summary>
internal static class EndpointLogging
{
    /// <summary>A logger factory writing to standard error; dispose it to flush what is queued.</summary>
    public static ILoggerFactory Create() => LoggerFactory.Create(logging => logging
        .SetMinimumLevel(LogLevel.Information)

        // Standard output is the protocol's: not one byte of a log line may go there.
        .AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace)
        .AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.ColorBehavior = LoggerColorBehavior.Disabled;
        }));
}
