using Apiary.Agents;

namespace Apiary.Governance;

/// <summary>
/// Who proposes a side effect: an agent, its role and its session. The control plane fills this in from the
/// authenticated session, never from what the agent says about itself.
/// </summary>
/// <param name="Agent">The agent's name.</param>
/// <param name="Role">The agent's role.</param>
/// <param name="SessionId">The session the proposal belongs to.</param>
public sealed record Principal(AgentName Agent, AgentRole Role, string SessionId)
{
    /// <summary>The role as policies spell it: <c>worker</c> or <c>manager</c>.</summary>
    public string RoleName => Role == AgentRole.Manager ? "manager" : "worker";
}
