using Apiary.Agents;
using Apiary.Governance.Pipeline;
using Apiary.Home;

namespace Apiary.Runtime;

/// <summary>
/// Takes up, when the runtime starts, the approval tickets a previous runtime left open (it was killed, or crashed,
/// while they waited): a workspace tool's ticket waits again in its session, reopened under the same id, and its exact
/// proposal runs once when a person grants it (at once, when it was granted while no runtime ran), recorded like any
/// other. A ticket whose work cannot be carried out now (a message, a spawn or a model call whose asker is gone, or a
/// session that cannot reopen) is denied with why, so approving it later can never look like it worked.
/// </summary>
internal sealed class TicketRecovery(RuntimeContext context, SessionHost sessions, GovernedExecutor executor)
{
    private const string By = "apiary server (taking up open tickets after a restart)";

    /// <summary>Takes up every open ticket but <paramref name="claimed"/> (those the resumed agent runs wait for themselves); returns how many now wait again.</summary>
    public async Task<int> TakeUpAsync(IReadOnlySet<string> claimed, CancellationToken cancellationToken)
    {
        var alive = LiveSessions.Of(context.Home);
        var waiting = 0;
        var orphaned = context.Pipeline.OpenTickets
            .Where(t => !claimed.Contains(t.Id.ToString()) && sessions.Find(t.Proposal.Principal.SessionId) is null && !alive.IsAlive(t.Proposal.Principal.SessionId))
            .GroupBy(t => t.Proposal.Principal.SessionId);
        foreach (var tickets in orphaned)
        {
            var runnable = tickets.Where(t => t.Proposal.Kind is ProposalKind.Exec or ProposalKind.ReadFile or ProposalKind.WriteFile or ProposalKind.ListDir).ToList();
            foreach (var ticket in tickets.Except(runnable))
            {
                await DenyAsync(ticket, $"the server that would carry out this {ticket.Proposal.Kind.Name()} stopped before anyone answered; it did not happen", cancellationToken).ConfigureAwait(false);
            }

            if (runnable.Count == 0)
            {
                continue;
            }

            ApiSession session;
            try
            {
                session = await ReopenAsync(runnable[0].Proposal, cancellationToken).ConfigureAwait(false);
            }
            catch (ApiaryException ex)
            {
                foreach (var ticket in runnable)
                {
                    await DenyAsync(ticket, $"its session could not be reopened after a restart ({ex.Message}); it did not run", cancellationToken).ConfigureAwait(false);
                }

                continue;
            }

            foreach (var ticket in runnable)
            {
                executor.AttachPending(session, ticket);
                waiting++;
            }
        }

        return waiting;
    }

    /// <summary>The session of <paramref name="proposal"/> again, under its id, over its workspace, with the template it was decided for.</summary>
    private async Task<ApiSession> ReopenAsync(Proposal proposal, CancellationToken cancellationToken)
    {
        var agent = proposal.Principal.Agent;
        var own = agent != RuntimeContext.Operator && proposal.Workspace == Path.Combine(context.Catalog.FolderOf(agent), WorkspaceGuard.DefaultFolderName);
        var request = new OpenSessionRequest(agent.Value, own ? null : proposal.Workspace, proposal.Arguments.Template);
        var (session, _) = await sessions.OpenAsync(request, By, proposal.Principal.SessionId, cancellationToken).ConfigureAwait(false);
        return session;
    }

    private async Task DenyAsync(ApprovalTicket ticket, string reason, CancellationToken cancellationToken)
    {
        try
        {
            await context.Pipeline.DenyAsync(ticket.Id, reason, By, cancellationToken).ConfigureAwait(false);
        }
        catch (ApiaryException)
        {
            // Answered meanwhile (another process): nothing is left to take up.
        }
    }
}
