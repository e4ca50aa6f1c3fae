using System.Text.Json.Serialization;

namespace Apiary.Runtime;

/// <summary>The event types the server records itself (stream <c>server</c>, and <c>session-&lt;id&gt;</c>).</summary>
internal static class ServerEventTypes
{
    public const string Stream = "server";
    public const string ServerStarted = "server.started";
    public const string ServerStopped = "server.stopped";
    public const string AuthRejected = "auth.rejected";
    public const string SessionOpened = "session.opened";
    public const string SessionClosed = "session.closed";

    /// <summary>A session whose process ended without closing it (killed, crashed), recorded by the next server to start on the home.</summary>
    public const string SessionOrphaned = "session.orphaned";
    public const string RunStarted = "run.started";
    public const string RunEnded = "run.ended";
    public const string RunWaiting = "run.waiting";
    public const string RunResumed = "run.resumed";
    public const string ModelCalled = "model.called";
    public const string ToolCalled = "tool.called";
    public const string BootstrapConsumed = "agent.bootstrap_consumed";
}

internal sealed record ServerStartedData(string Url, int Pid, string Home, string Sandbox, DateTimeOffset At);

internal sealed record ServerStoppedData(int Pid, int Cancelled, DateTimeOffset At);

/// <summary>
/// Refused requests from one source address (<see cref="Remote"/>): where from and what for, never the token.
/// <see cref="Count"/> is how many it stands for: 1 for a source's first refusal, recorded at once; a summary, written at
/// most once an interval per source (see the server's AuthRejections), counts those since <see cref="Since"/> (the
/// source's previous record), lists the distinct requests (<see cref="Paths"/>, <c>METHOD path</c>) and
/// <see cref="Reasons"/>, and has the latest one's method, path and reason.
/// </summary>
internal sealed record AuthRejectedData(
    string? Remote, string Method, string Path, string Reason, DateTimeOffset At, int Count = 1, DateTimeOffset? Since = null,
    IReadOnlyList<string>? Paths = null, IReadOnlyList<string>? Reasons = null);

internal sealed record SessionEventData(string Session, string Agent, string? Workspace, string By, DateTimeOffset At);

/// <summary>
/// An agent run began; the task is the event's body. <see cref="Fingerprint"/> identifies the agent's files it started
/// with (the supervisor compares it with the files now); a restart of a crashed run names the run it restarts
/// (<see cref="RestartOf"/>) and which restart it is (<see cref="Attempt"/>, from 1).
/// </summary>
internal sealed record RunStartedData(
    string Run, string Agent, string Session, string Model, int MaxTurns, string By, DateTimeOffset At, string? Fingerprint = null, string? RestartOf = null, int? Attempt = null);

/// <summary>
/// An agent run ended; the answer, if any, is the event's body. <see cref="Crashed"/> is true (and the status
/// <c>crashed</c>) when an exception escaped its loop: a bug, or a tool failing in a way it does not handle. Only such a
/// run is restarted by the supervisor; a run that ended on its own (an answer, a model call that failed, the turn cap, the
/// budget, a refusal, the kill switch) is not, whatever its status. Logs of earlier versions marked a failed model call
/// <c>crashed</c> with the status <c>failed</c>.
/// </summary>
internal sealed record RunEndedData(string Run, string Agent, string Session, string Status, int Turns, string? Error, DateTimeOffset At, bool? Crashed = null);

/// <summary>A run waits for an approval ticket of one of its tool calls; a restarted server resumes the wait.</summary>
internal sealed record RunWaitingData(string Run, string Agent, string Session, int Turn, string Tool, string CallId, string Proposal, string Ticket, DateTimeOffset At);

/// <summary>A restarted server took up a run that had not ended, from its recorded conversation.</summary>
internal sealed record RunResumedData(string Run, string Agent, string Session, int Turn, string? Ticket, DateTimeOffset At, string? Fingerprint = null);

/// <summary>
/// The body of <c>model.called</c>: the messages sent since the previous call and those that came back, enough to
/// rebuild the conversation when a restarted server resumes the run.
/// </summary>
internal sealed record ModelCallBody(IReadOnlyList<MessageRecord> Sent, IReadOnlyList<MessageRecord> Output);

/// <summary>One chat message as recorded: its role, its text, the tool calls it makes and the tool results it carries.</summary>
internal sealed record MessageRecord(string Role, string? Text, IReadOnlyList<ToolCallRecord>? Calls = null, IReadOnlyList<ToolResultRecord>? Results = null);

internal sealed record ToolCallRecord(string Id, string Name, string Arguments);

internal sealed record ToolResultRecord(string Id, string Result);

/// <summary>The body of <c>tool.called</c>: the call's arguments (JSON) and what the model was told back.</summary>
internal sealed record ToolCallBody(string Arguments, string Result);

/// <summary>One model call of a run; what was sent since the previous call and what came back are the event's body.</summary>
internal sealed record ModelCalledData(
    string Run, string Agent, string Session, int Turn, string Model, long? InputTokens, long? OutputTokens, long DurationMs, int ToolCalls, string? FinishReason, string? Error, DateTimeOffset At);

/// <summary>One tool call of a run and the proposal it became; its arguments and result are the event's body (<see cref="ToolCallBody"/>).</summary>
internal sealed record ToolCalledData(
    string Run, string Agent, string Session, int Turn, string Tool, string CallId, string? Proposal, string Decision, string? Rule, string? Reason, DateTimeOffset At);

/// <summary>An agent completed its first run, so its BOOTSTRAP.md is no longer injected.</summary>
internal sealed record BootstrapConsumedData(string Agent, string Session, string Run, DateTimeOffset At);

/// <summary>
/// The JSON of every event the runtime records, whichever capability records it: one context, one set of options
/// (snake_case names, nulls left out), so every event of the log is written the same way.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ServerStartedData))]
[JsonSerializable(typeof(ServerStoppedData))]
[JsonSerializable(typeof(AuthRejectedData))]
[JsonSerializable(typeof(SessionEventData))]
[JsonSerializable(typeof(RunStartedData))]
[JsonSerializable(typeof(RunEndedData))]
[JsonSerializable(typeof(ModelCalledData))]
[JsonSerializable(typeof(ToolCalledData))]
[JsonSerializable(typeof(BootstrapConsumedData))]
[JsonSerializable(typeof(RunWaitingData))]
[JsonSerializable(typeof(RunResumedData))]
[JsonSerializable(typeof(ModelCallBody))]
[JsonSerializable(typeof(ToolCallBody))]
[JsonSerializable(typeof(Apiary.Runtime.Messaging.MessageSentData))]
[JsonSerializable(typeof(Apiary.Runtime.Messaging.InboxAckedData))]
[JsonSerializable(typeof(Apiary.Runtime.Messaging.MessageRefusedData))]
[JsonSerializable(typeof(Apiary.Runtime.Manager.AgentSpawnedData))]
[JsonSerializable(typeof(Apiary.Runtime.Manager.SpawnRefusedData))]
[JsonSerializable(typeof(Apiary.Runtime.Telemetry.TurnCompletedData))]
[JsonSerializable(typeof(Apiary.Runtime.Memory.MemoryCompactedData))]
[JsonSerializable(typeof(Apiary.Runtime.Memory.MemoryCompactionFailedData))]
[JsonSerializable(typeof(Apiary.Runtime.Supervision.StateChangedData))]
[JsonSerializable(typeof(Apiary.Runtime.Supervision.SeededData))]
[JsonSerializable(typeof(Apiary.Runtime.Supervision.RebuildData))]
[JsonSerializable(typeof(Apiary.Runtime.Supervision.RestartScheduledData))]
[JsonSerializable(typeof(Apiary.Runtime.Supervision.RestartFailedData))]
[JsonSerializable(typeof(Apiary.Runtime.Supervision.RunReceivingData))]
[JsonSerializable(typeof(Apiary.Runtime.LiveConfig.ConfigLoadedData))]
[JsonSerializable(typeof(Apiary.Runtime.LiveConfig.ConfigReloadedData))]
[JsonSerializable(typeof(Apiary.Runtime.LiveConfig.ConfigReloadFailedData))]
internal sealed partial class RuntimeJsonContext : JsonSerializerContext
{
    public static EventData Event<T>(string type, T data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        new(type, JsonSerializer.SerializeToUtf8Bytes(data, info));

    /// <summary>An event with a body: text that retention may purge while the event's data stays.</summary>
    public static EventData Event<T>(string type, T data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info, string? body) =>
        new(type, JsonSerializer.SerializeToUtf8Bytes(data, info), body is null ? null : System.Text.Encoding.UTF8.GetBytes(body));
}
