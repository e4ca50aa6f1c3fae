using Microsoft.Extensions.Logging;

namespace Apiary.Cli.Telemetry;

/// <summary>What the <c>apiary</c> command logs (its diagnostics; command results are its output). Event ids 8000-8999 are this assembly's.</summary>
internal static partial class CliLog
{
    [LoggerMessage(EventId = 8001, EventName = "McpSessionOpened", Level = LogLevel.Information, Message = "session {Session} of agent {Agent} on {Server} (workspace {Workspace})")]
    public static partial void McpSessionOpened(ILogger logger, string session, string agent, Uri? server, string workspace);

    [LoggerMessage(EventId = 8002, EventName = "McpSessionClosed", Level = LogLevel.Information, Message = "closed session {Session}")]
    public static partial void McpSessionClosed(ILogger logger, string session);

    [LoggerMessage(EventId = 8003, EventName = "McpSessionNotClosed", Level = LogLevel.Warning, Message = "could not close session {Session}: {Reason}")]
    public static partial void McpSessionNotClosed(ILogger logger, string session, string reason);

    [LoggerMessage(EventId = 8004, EventName = "McpToolCalled", Level = LogLevel.Information, Message = "{Tool}: {Status} ({Decision}, rule {Rule})")]
    public static partial void McpToolCalled(ILogger logger, string tool, string status, string decision, string? rule);

    [LoggerMessage(EventId = 8005, EventName = "McpToolRefused", Level = LogLevel.Warning, Message = "{Tool}: refused: {Reason}")]
    public static partial void McpToolRefused(ILogger logger, string tool, string reason);
}
