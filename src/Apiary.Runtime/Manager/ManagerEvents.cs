using System.Text.Json.Serialization;

namespace Apiary.Runtime.Manager;

/// <summary>The event types and stream of the manager's tools.</summary>
internal static class ManagerEventTypes
{
    /// <summary>The stream every spawn is recorded in; folded to count a manager's children and find an agent's depth.</summary>
    public const string SpawnStream = "spawns";

    /// <summary>An approved spawn: the agent's folder was written into the home (stream <see cref="SpawnStream"/>).</summary>
    public const string AgentSpawned = "agent.spawned";

    /// <summary>A request_spawn the control plane refused before governance: the draft widens, or a bound is reached (stream <c>session-&lt;id&gt;</c>).</summary>
    public const string SpawnRefused = "agent.spawn_refused";
}

/// <summary>A spawned agent: who asked, how deep it is (a manager the operator made is depth 0), which proposal let it through.</summary>
internal sealed record AgentSpawnedData(string Agent, string Parent, int Depth, string Session, string Proposal, string? Ticket, IReadOnlyList<string> Files, bool Replaced, DateTimeOffset At);

/// <summary>A refused request_spawn and why.</summary>
internal sealed record SpawnRefusedData(string Agent, string Parent, string Session, string Reason, DateTimeOffset At);
