namespace Apiary.Runtime;

/// <summary>
/// A proposal a run's tool submits for work the runtime carries out itself (a spawn, a start, stop, restart or update,
/// a memory write): governed by the one executor while the run shows <c>waiting_approval</c> for a pending ticket, and
/// denied when the run stops first (a run resumed after a restart calls the tool again, with a new ticket).
/// </summary>
internal static class RunProposals
{
    /// <summary>
    /// Governs <paramref name="proposal"/> of <paramref name="call"/>'s run and waits for it to end. Returns the ended
    /// proposal and, when it did not run (denied, steered, not granted), the text to tell the model, ending in
    /// <paramref name="nothingDone"/> (such as <c>nothing was created</c>).
    /// </summary>
    /// <exception cref="OperationCanceledException">The run stopped; a pending ticket was denied.</exception>
    public static async Task<(ProposalRun Proposal, string? Refusal)> GovernAsync(
        GovernedExecutor executor, ToolCall call, Proposal proposal, ProposalWork work, string nothingDone, CancellationToken cancellationToken)
    {
        var run = call.Run;
        var governed = await executor.GovernAsync(run.Session, proposal, GovernedExecutor.NoEstimate, work, new GovernOptions { Abandoned = cancellationToken }, cancellationToken).ConfigureAwait(false);
        if (!governed.IsTerminal && governed.Decision.Decision == "pending")
        {
            var d = governed.Decision;
            run.Add(new RunProgressDto("decision", run.ToDto().Turns, Tool: call.Call.Name, Proposal: governed.Id, Decision: "pending", Rule: d.Rule, Reason: d.Reason, TicketId: d.TicketId));
            run.SetStatus(RunStatus.WaitingApproval);
            try
            {
                await governed.Terminal.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                run.SetStatus(RunStatus.Running);
            }
        }

        await governed.Terminal.WaitAsync(cancellationToken).ConfigureAwait(false);
        return (governed, governed.Result is null ? Refusal(call, governed, nothingDone) : null);
    }

    /// <summary>What the model is told of a proposal that did not run.</summary>
    private static string Refusal(ToolCall call, ProposalRun governed, string nothingDone)
    {
        var d = governed.Decision;
        var sentence = char.ToUpperInvariant(nothingDone[0]) + nothingDone[1..];
        var principal = governed.Proposal.Principal;
        return governed.DecidedBy == PolicyEngine.ManagerRoleRule
            ? $"not allowed: {call.Call.Name} is a manager's tool and agent '{principal.Agent}' is a {principal.RoleName}; ask your manager instead. {sentence}"
            : d.Decision == "steer" ? $"steered by rule '{d.Rule}': {d.Reason}. {sentence}; do what the message says instead"
            : d.Stage == "approval" ? $"{d.Reason}. {sentence}"
            : $"denied by rule '{d.Rule}' (stage {d.Stage}): {d.Reason}. {sentence}";
    }
}
