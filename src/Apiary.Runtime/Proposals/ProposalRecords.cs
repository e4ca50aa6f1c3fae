using System.Text;
using Apiary.Governance.Pipeline;
using Apiary.Storage.Sqlite;

namespace Apiary.Runtime;

/// <summary>
/// A proposal that finished and left memory, read back from the log: its latest decision (<c>proposal.decided</c>)
/// and how it ended (<c>proposal.completed</c>, whose body is its output as recorded: the start of stdout, then of
/// stderr, unless retention purged it).
/// </summary>
internal static class ProposalRecords
{
    /// <summary>The proposal <paramref name="id"/> as the log has it, with its recorded output; null when the log has no decision of it.</summary>
    public static async Task<(ProposalDto Proposal, string? Output)?> FindAsync(SqliteEventStore store, string id, CancellationToken cancellationToken)
    {
        // Its decisions carry its id; the first says where (its session's stream) the rest of its record is.
        var decisions = await store.FindAsync(PipelineEventTypes.ProposalDecided, id, cancellationToken).ConfigureAwait(false);
        var first = decisions.FirstOrDefault(e => PipelineRecords.ReadDecision(e).ProposalId == id);
        if (first is null)
        {
            return null;
        }

        DecisionRecord? decided = null;
        CompletionRecord? completed = null;
        string? output = null;
        await foreach (var e in store.ReadStreamAsync(first.Stream, first.StreamVersion, cancellationToken).ConfigureAwait(false))
        {
            if (e.Type == PipelineEventTypes.ProposalDecided && PipelineRecords.ReadDecision(e) is { } decision && decision.ProposalId == id)
            {
                // One that waited for a person is decided again once answered: the latest is how it stands.
                decided = decision;
            }
            else if (e.Type == PipelineEventTypes.ProposalCompleted && PipelineRecords.ReadCompletion(e) is { } completion && completion.ProposalId == id)
            {
                completed = completion;
                output = e.Body is { } body ? Encoding.UTF8.GetString(body.Span) : null;
                break;
            }
        }

        var d = decided!;
        var inputs = d.Inputs;
        var status = completed is not null ? "completed" : d.Decision switch
        {
            "deny" => "denied",
            "pending" => "pending_approval",
            _ => "running",
        };
        var result = completed is null ? null : inputs.Kind == "exec"
            ? new ResultDto(completed.ExitCode, completed.Reason, completed.DurationMs, Stdout: output)
            : new ResultDto(completed.ExitCode, completed.Reason, completed.DurationMs, Content: output);
        var dto = new ProposalDto(id, inputs.Session, inputs.Agent, inputs.Kind, status, new DecisionDto(d.Decision, d.Stage, d.Rule, d.Risk, d.Reason, d.TicketId), result);
        return (dto, output);
    }
}
