using System.Net;
using Microsoft.Extensions.Logging;

namespace Apiary.SandboxEndpoint.Telemetry;

/// <summary>What <c>apiary-endpoint</c> logs (to standard error: standard output carries the protocol). Event ids 7000-7999 are this assembly's.</summary>
internal static partial class EndpointLog
{
    [LoggerMessage(EventId = 7001, EventName = "Listening", Level = LogLevel.Information,
        Message = "listening on {Endpoint} (no authentication: anyone who can connect can run commands)")]
    public static partial void Listening(ILogger logger, EndPoint endpoint);

    [LoggerMessage(EventId = 7002, EventName = "StoppedBySignal", Level = LogLevel.Information, Message = "stopped by a signal")]
    public static partial void StoppedBySignal(ILogger logger);

    [LoggerMessage(EventId = 7003, EventName = "ConnectionAccepted", Level = LogLevel.Information, Message = "connection from {Peer}")]
    public static partial void ConnectionAccepted(ILogger logger, EndPoint? peer);

    [LoggerMessage(EventId = 7004, EventName = "ConnectionEnded", Level = LogLevel.Information, Message = "connection from {Peer} ended ({End})")]
    public static partial void ConnectionEnded(ILogger logger, EndPoint? peer, ConnectionEnd end);

    [LoggerMessage(EventId = 7005, EventName = "ConnectionFailed", Level = LogLevel.Warning, Message = "connection from {Peer} failed: {Reason}")]
    public static partial void ConnectionFailed(ILogger logger, EndPoint? peer, string reason);

    [LoggerMessage(EventId = 7006, EventName = "ReadBroke", Level = LogLevel.Warning, Message = "the connection broke while reading: {Reason}")]
    public static partial void ReadBroke(ILogger logger, string reason);

    [LoggerMessage(EventId = 7007, EventName = "BadFrame", Level = LogLevel.Warning, Message = "bad frame ({Code}): {Reason}")]
    public static partial void BadFrame(ILogger logger, string code, string reason);

    [LoggerMessage(EventId = 7008, EventName = "WriteBroke", Level = LogLevel.Warning, Message = "the connection broke while writing: {Reason}")]
    public static partial void WriteBroke(ILogger logger, string reason);

    [LoggerMessage(EventId = 7009, EventName = "CommandFailed", Level = LogLevel.Error, Message = "{CommandType} '{RequestId}' failed")]
    public static partial void CommandFailed(ILogger logger, string commandType, string requestId, Exception exception);

    [LoggerMessage(EventId = 7010, EventName = "TemplateDiagnostic", Level = LogLevel.Warning, Message = "{Diagnostic}")]
    public static partial void TemplateDiagnostic(ILogger logger, string diagnostic);
}
