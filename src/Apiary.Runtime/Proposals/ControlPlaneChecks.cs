using Apiary.Runtime.Manager;

namespace Apiary.Runtime;

/// <summary>
/// The control plane's own checks, run by the governance pipeline before the policy rules (their deny is final), so
/// each decision they make is recorded with the proposal and <c>apiary explain</c> names them:
/// <see cref="AllowedRecipients"/> (an agent messages only its allowed recipients) and <see cref="ManagedAgent"/> (a
/// manager starts, stops, restarts or updates only the agents it manages). A worker acting as a manager is left to the
/// built-in rule <see cref="PolicyEngine.ManagerRoleRule"/>, which refuses it whatever the agent.
/// </summary>
internal static class ControlPlaneChecks
{
    /// <summary>The evaluator's name for <c>allowed_recipients</c>.</summary>
    public const string AllowedRecipientsName = "allowed-recipients";

    /// <summary>The evaluator's name for a manager's reach over agents.</summary>
    public const string ManagedAgentName = "managed-agent";

    /// <summary>Both checks, over <paramref name="relations"/>.</summary>
    public static IEnumerable<IProposalEvaluator> All(AgentRelations relations) =>
        [new AllowedRecipients(relations), new ManagedAgent(relations)];

    /// <summary>A <c>send_message</c> of an agent reaches only its allowed recipients; the operator may message anyone.</summary>
    public sealed class AllowedRecipients(AgentRelations relations) : IControlPlaneCheck
    {
        public string Name => AllowedRecipientsName;

        public async ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default)
        {
            var sender = proposal.Principal.Agent.Value;
            if (proposal.Kind != ProposalKind.SendMessage || sender == RuntimeContext.Operator.Value)
            {
                return EvaluatorVerdict.Pass;
            }

            var allowed = await relations.AllowedRecipientsAsync(sender, cancellationToken).ConfigureAwait(false) ?? new HashSet<string>();
            var outside = proposal.Arguments.Recipients.FirstOrDefault(r => !allowed.Contains(r));
            return outside is null
                ? EvaluatorVerdict.Pass
                : EvaluatorVerdict.Deny($"agent '{sender}' may message only {string.Join(", ", allowed.Order(StringComparer.Ordinal))} (its allowed_recipients); '{outside}' is not one of them");
        }
    }

    /// <summary>A start, stop, restart or update names an agent its manager manages: one it spawned or may message, never itself.</summary>
    public sealed class ManagedAgent(AgentRelations relations) : IControlPlaneCheck
    {
        public string Name => ManagedAgentName;

        public async ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default)
        {
            if (proposal.Kind is not (ProposalKind.StartAgent or ProposalKind.StopAgent or ProposalKind.RestartAgent or ProposalKind.UpdateAgent)
                || proposal.Principal.Role != Agents.AgentRole.Manager)
            {
                return EvaluatorVerdict.Pass;
            }

            var target = proposal.Arguments.Other.GetValueOrDefault("agent") ?? "";
            return await relations.WhyNotManagedAsync(proposal.Principal.Agent.Value, target, cancellationToken).ConfigureAwait(false) is { } why
                ? EvaluatorVerdict.Deny(why)
                : EvaluatorVerdict.Pass;
        }
    }
}
