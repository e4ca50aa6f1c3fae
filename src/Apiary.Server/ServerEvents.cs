using System.Text.Json;
using System.Text.Json.Serialization;
using Apiary.Events;

namespace Apiary.Server;

/// <summary>The event types the server records itself (stream <c>server</c>, and <c>session-&lt;id&gt;</c>).</summary>
internal static class ServerEventTypes
{
    public const string Stream = "server";
    public const string ServerStarted = "server.started";
    public const string ServerStopped = "server.stopped";
    public const string AuthRejected = "auth.rejected";
    public const string SessionOpened = "session.opened";
    public const string SessionClosed = "session.closed";
}

internal sealed record ServerStartedData(string Url, int Pid, string Home, string Sandbox, DateTimeOffset At);

internal sealed record ServerStoppedData(int Pid, int Cancelled, DateTimeOffset At);

/// <summary>A refused request: where from and what for, never the token.</summary>
internal sealed record AuthRejectedData(string? Remote, string Method, string Path, string Reason, DateTimeOffset At);

internal sealed record SessionEventData(string Session, string Agent, string? Workspace, string By, DateTimeOffset At);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ServerStartedData))]
[JsonSerializable(typeof(ServerStoppedData))]
[JsonSerializable(typeof(AuthRejectedData))]
[JsonSerializable(typeof(SessionEventData))]
internal sealed partial class ServerEventJsonContext : JsonSerializerContext
{
    public static EventData Event<T>(string type, T data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        new(type, JsonSerializer.SerializeToUtf8Bytes(data, info));
}
