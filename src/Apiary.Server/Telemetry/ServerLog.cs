using Microsoft.Extensions.Logging;

namespace Apiary.Server.Telemetry;

/// <summary>What the server logs. Event ids 6000-6999 are this assembly's.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(EventId = 6001, EventName = "NotOwnerOnly", Level = LogLevel.Warning, Message = "cannot make {Path} readable by its owner only")]
    public static partial void NotOwnerOnly(ILogger logger, string path);

    [LoggerMessage(EventId = 6003, EventName = "ExportingTelemetry", Level = LogLevel.Information,
        Message = "exporting traces, metrics and logs over OTLP ({Protocol}) to {Endpoint} as service {ServiceName}")]
    public static partial void ExportingTelemetry(ILogger logger, string protocol, Uri endpoint, string serviceName);
}
