using Microsoft.Extensions.Logging;

namespace Apiary.Sandbox.Telemetry;

/// <summary>What the sandbox backends log. Event ids 2000-2999 are this assembly's.</summary>
internal static partial class SandboxLog
{
    [LoggerMessage(EventId = 2001, EventName = "UnconfinedBackendInUse", Level = LogLevel.Warning, Message = "the unconfined backend runs commands as plain processes with the server's rights: no sandbox, no network isolation. Use it for development only.")]
    public static partial void UnconfinedBackendInUse(ILogger logger);
}
