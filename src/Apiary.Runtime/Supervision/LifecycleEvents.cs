using System.Text.Json.Serialization;

namespace Apiary.Runtime.Supervision;

/// <summary>An agent's lifecycle state, as the supervisor derives it from the log.</summary>
internal static class LifecycleState
{
    /// <summary>No run of the agent is going on.</summary>
    public const string Stopped = "stopped";

    /// <summary>A run was started (or restarted) and has not finished its first step yet.</summary>
    public const string Starting = "starting";

    /// <summary>A run is working: calling its model or a tool.</summary>
    public const string Running = "running";

    /// <summary>Every run of the agent is waiting: for a person's approval, or for messages.</summary>
    public const string Idle = "idle";

    /// <summary>
    /// Its last run crashed: an exception escaped its loop (a bug, a tool failing in a way it does not handle). The
    /// supervisor restarts it with backoff, up to a limit. A run that ended on its own with a failure (its model call
    /// failed, the turn cap, the budget) leaves the agent <see cref="Stopped"/>, with the failure's reason.
    /// </summary>
    public const string Crashed = "crashed";

    /// <summary>A run is going on with a definition older than the agent's files: <c>update</c> reloads it.</summary>
    public const string NeedsUpdate = "needs-update";

    /// <summary>Its definition is being reloaded (<c>update</c>).</summary>
    public const string Rebuilding = "rebuilding";
}

/// <summary>What the supervisor tells an agent's managers, as the first word of a system message.</summary>
internal static class LifecycleNotice
{
    public const string Crashed = "crashed";
    public const string NeedsUpdate = "needs_update";
    public const string Rebuilt = "rebuilt";
    public const string Spawned = "spawned";
    public const string ApprovalResolved = "approval_resolved";
}

/// <summary>The event types and streams of the supervisor.</summary>
internal static class LifecycleEventTypes
{
    /// <summary>The stream of the supervisor's own records (<see cref="Seeded"/>).</summary>
    public const string Stream = "lifecycle";

    /// <summary>The states the supervisor found when the server started; nobody is notified of them.</summary>
    public const string Seeded = "lifecycle.seeded";

    /// <summary>An agent's state changed (stream <c>lifecycle-&lt;agent&gt;</c>).</summary>
    public const string StateChanged = "agent.state_changed";

    /// <summary><c>update</c> began reloading an agent's definition (stream <c>lifecycle-&lt;agent&gt;</c>).</summary>
    public const string Rebuilding = "agent.rebuilding";

    /// <summary><c>update</c> reloaded an agent's definition; its runs use it from their next model call (stream <c>lifecycle-&lt;agent&gt;</c>).</summary>
    public const string Rebuilt = "agent.rebuilt";

    /// <summary>A crashed run will be restarted after a backoff (stream <c>lifecycle-&lt;agent&gt;</c>).</summary>
    public const string RestartScheduled = "agent.restart_scheduled";

    /// <summary>A crashed run could not be restarted (stream <c>lifecycle-&lt;agent&gt;</c>).</summary>
    public const string RestartFailed = "agent.restart_failed";

    /// <summary>A run waits for messages in <c>recv</c>, none having arrived (stream <c>session-&lt;id&gt;</c>).</summary>
    public const string RunReceiving = "run.receiving";

    /// <summary>The stream of one agent's lifecycle records.</summary>
    public static string AgentStream(string agent) => "lifecycle-" + agent;
}

/// <summary>An agent's state changed from <see cref="From"/> to <see cref="To"/>, and why.</summary>
internal sealed record StateChangedData(string Agent, string From, string To, string Reason, string? Run, DateTimeOffset At);

/// <summary>Each agent's state when the server started.</summary>
internal sealed record SeededData(IReadOnlyDictionary<string, string> States, DateTimeOffset At);

/// <summary><c>update</c> reloading an agent: who asked; once rebuilt, the new definition's fingerprint and the runs that take it up.</summary>
internal sealed record RebuildData(string Agent, string By, string? Fingerprint, IReadOnlyList<string>? Runs, string? Summary, DateTimeOffset At);

/// <summary>A crashed run's restart: which attempt, after how long, and why the run crashed (<see cref="Reason"/>).</summary>
internal sealed record RestartScheduledData(string Agent, string Run, string Session, int Attempt, int MaxRestarts, long DelayMs, DateTimeOffset DueAt, DateTimeOffset At, string? Reason = null);

/// <summary>A crashed run that could not be restarted, and why.</summary>
internal sealed record RestartFailedData(string Agent, string Run, int Attempt, string Reason, DateTimeOffset At);

/// <summary>A run waits in <c>recv</c> for up to <see cref="WaitSeconds"/>.</summary>
internal sealed record RunReceivingData(string Run, string Agent, string Session, int Turn, int WaitSeconds, DateTimeOffset At);
