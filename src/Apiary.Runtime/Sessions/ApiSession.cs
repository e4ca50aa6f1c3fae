using Apiary.Sandbox;
using Apiary.Sandbox.Templates;

namespace Apiary.Runtime;

/// <summary>
/// A session opened through the API: one principal (an agent of the home, or the operator), one sandbox session over
/// its workspace, one budget. While open it is marked alive in <c>run/sessions</c>, so that no other process's recovery
/// gives back what it holds.
/// </summary>
internal sealed class ApiSession(Principal principal, ISandboxSession sandbox, SandboxTemplate template, IDisposable alive, DateTimeOffset openedAt, string? temporaryWorkspace = null) : IDisposable
{
    private readonly CancellationTokenSource _closing = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ProposalRun> _proposals = new(StringComparer.Ordinal);

    public string Id => Principal.SessionId;

    /// <summary>Who acts in the session: the agent (or <c>operator</c>), its role and this session.</summary>
    public Principal Principal { get; } = principal;

    /// <summary>The agent's name.</summary>
    public string AgentName => Principal.Agent.Value;

    /// <summary>A folder the server made for this session alone, removed when it closes; null when the workspace is someone's folder.</summary>
    public string? TemporaryWorkspace { get; } = temporaryWorkspace;

    public ISandboxSession Sandbox { get; } = sandbox;

    public SandboxTemplate Template { get; } = template;

    public string Workspace => Sandbox.Workspace;

    public DateTimeOffset OpenedAt { get; } = openedAt;

    public DateTimeOffset? ClosedAt { get; private set; }

    public bool IsOpen => ClosedAt is null;

    /// <summary>Cancelled when the session closes: what still runs or waits in it stops.</summary>
    public CancellationToken Closing => _closing.Token;

    /// <summary>The proposals of the session not yet ended, which its closing waits for.</summary>
    public IEnumerable<ProposalRun> Proposals => _proposals.Values;

    /// <summary>Counts <paramref name="proposal"/> among the session's until it ends.</summary>
    public void Attach(ProposalRun proposal) => _proposals[proposal.Id] = proposal;

    /// <summary>Lets go of <paramref name="proposal"/>, which ended.</summary>
    public void Detach(ProposalRun proposal) => _proposals.TryRemove(proposal.Id, out _);

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

    public SessionDto ToDto() => new(Id, AgentName, IsOpen ? "open" : "closed", Workspace, OpenedAt, ClosedAt);
}
