using Apiary.Agents;
using Apiary.Client;
using Apiary.Governance;
using Apiary.Sandbox;
using Apiary.Sandbox.Templates;

namespace Apiary.Server;

/// <summary>
/// A session opened through the API: one agent, one sandbox session over its workspace, one budget. While open it is
/// marked alive in <c>run/sessions</c>, so that no other process's recovery gives back what it holds.
/// </summary>
internal sealed class ApiSession(string id, AgentDefinition agent, ISandboxSession sandbox, SandboxTemplate template, IDisposable alive, DateTimeOffset openedAt) : IDisposable
{
    private readonly CancellationTokenSource _closing = new();

    public string Id { get; } = id;

    public AgentDefinition Agent { get; } = agent;

    public Principal Principal { get; } = new(agent.Name, agent.Settings.Role.Value, id);

    public ISandboxSession Sandbox { get; } = sandbox;

    public SandboxTemplate Template { get; } = template;

    public string Workspace => Sandbox.Workspace;

    public DateTimeOffset OpenedAt { get; } = openedAt;

    public DateTimeOffset? ClosedAt { get; private set; }

    public bool IsOpen => ClosedAt is null;

    /// <summary>Cancelled when the session closes: what still runs or waits in it stops.</summary>
    public CancellationToken Closing => _closing.Token;

    /// <summary>Marks the session closed; false when it already was.</summary>
    public bool TryClose(DateTimeOffset at)
    {
        lock (_closing)
        {
            if (ClosedAt is not null)
            {
                return false;
            }

            ClosedAt = at;
        }

        _closing.Cancel();
        return true;
    }

    /// <summary>Lets go of the session's live mark once nothing runs in it any more.</summary>
    public void ReleaseLiveMark() => alive.Dispose();

    /// <summary>Lets go of the session's live mark (see <see cref="Home.LiveSessions"/>) and its cancellation.</summary>
    public void Dispose()
    {
        alive.Dispose();
        _closing.Dispose();
    }

    public SessionDto ToDto() => new(Id, Agent.Name.Value, IsOpen ? "open" : "closed", Workspace, OpenedAt, ClosedAt);
}
