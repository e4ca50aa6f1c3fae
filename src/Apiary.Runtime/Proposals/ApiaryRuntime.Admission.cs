using Apiary.Contracts;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.Pipeline;

namespace Apiary.Runtime;

// Governance for the tools the server carries out itself (request_spawn, remember): the proposal is submitted, a
// pending one waits for its ticket while the run shows waiting_approval, and a refusal becomes the text the model reads.
internal sealed partial class ApiaryRuntime
{
    /// <summary>
    /// Submits <paramref name="proposal"/> of <paramref name="run"/>'s session for its tool <paramref name="tool"/> and,
    /// when it is pending, waits for a person's answer. Admitted: the caller does the work and completes the proposal.
    /// Refused (denied, steered, not granted): the text to tell the model, ending in <paramref name="nothingDone"/>
    /// (such as <c>nothing was created</c>). When the run stops while waiting, the ticket is denied, so nothing is done
    /// later on an approval nobody waits for; a run resumed after a restart calls the tool again, with a new ticket.
    /// </summary>
    private async Task<Admission> AdmitAsync(AgentRun run, string tool, Proposal proposal, string nothingDone, CancellationToken cancellationToken)
    {
        var session = run.Session;
        var sentence = char.ToUpperInvariant(nothingDone[0]) + nothingDone[1..];
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var result = await Pipeline.SubmitAsync(proposal, new BudgetEstimate(0, TimeSpan.Zero, 0, 0m), linked.Token).ConfigureAwait(false);
        switch (result.Decision.Kind)
        {
            case DecisionKind.Allow when result.Allowed is { } allowed:
                return new Admission(allowed, null, null);
            case DecisionKind.Pending when result.Ticket is { } ticket:
                var ticketId = ticket.Id.ToString();
                run.Add(new RunProgressDto("decision", run.ToDto().Turns, Tool: tool, Proposal: proposal.Id.ToString(), Decision: "pending", Rule: result.Decision.Rule, Reason: result.Decision.Reason, TicketId: ticketId));
                run.SetStatus(RunStatus.WaitingApproval);
                try
                {
                    using var stop = CancellationTokenSource.CreateLinkedTokenSource(linked.Token, session.Closing);
                    var answer = await Pipeline.WaitForApprovalAsync(ticket.Id, ApprovalWait, stop.Token).ConfigureAwait(false);
                    if (answer.State == ApprovalState.Open)
                    {
                        answer = await Pipeline.DenyAsync(ticket.Id, $"nobody answered in time; {nothingDone}", "apiary server", CancellationToken.None).ConfigureAwait(false);
                    }

                    if (answer.State != ApprovalState.Granted)
                    {
                        return new Admission(null, ticketId, $"denied by {answer.By}: {answer.Reason}. {sentence}");
                    }

                    var resumed = await Pipeline.ResumeAsync(ticket.Id, stop.Token).ConfigureAwait(false);
                    return resumed.Decision.Kind == DecisionKind.Allow && resumed.Allowed is { } granted
                        ? new Admission(granted, ticketId, null)
                        : new Admission(null, ticketId, $"denied by rule '{resumed.Decision.Rule}': {resumed.Decision.Reason}. {sentence}");
                }
                catch (OperationCanceledException)
                {
                    // Nobody does the work once the run is gone: the ticket must not stay approvable.
                    await ((Task)Pipeline.DenyAsync(ticket.Id, $"the run stopped before anyone answered; {nothingDone}", "apiary server", CancellationToken.None)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    throw;
                }
                finally
                {
                    run.SetStatus(RunStatus.Running);
                }

            case DecisionKind.Steer:
                return new Admission(null, null, $"steered by rule '{result.Decision.Rule}': {result.Decision.Reason}. {sentence}; do what the message says instead");
            default:
                return new Admission(null, null, $"denied by rule '{result.Decision.Rule}' (stage {StageName(result.Stage)}): {result.Decision.Reason}. {sentence}");
        }
    }

    /// <summary>What governance said: <see cref="Allowed"/> to go ahead (<see cref="TicketId"/> when a person granted it), or <see cref="Refusal"/> to tell the model.</summary>
    private sealed record Admission(AllowedProposal? Allowed, string? TicketId, string? Refusal);
}
