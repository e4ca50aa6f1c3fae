using System.CommandLine;
using System.Text.Json.Serialization;
using Apiary.Cli.Output;
using Apiary.Governance;
using Apiary.Governance.Pipeline;
using Apiary.Text;
using Spectre.Console;
using Command = System.CommandLine.Command;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary approvals</c>: the approval tickets of the home's event log, and answering them. Another process (an
/// <c>apiary exec</c> waiting for its answer) sees the answer, because the ticket lives in the log.
/// </summary>
internal static class ApprovalsCommand
{
    public static Command Create(CliContext context) => new("approvals", "List and answer the approval tickets of commands waiting for a person.")
    {
        List(context), Approve(context), Deny(context),
    };

    private static Command List(CliContext context)
    {
        var json = CommonOptions.Json();
        var command = new Command("list", "List the open approval tickets: id, agent, kind, the exact command line, risk, rule, age and expiry.")
        {
            json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            await using var governance = await LocalGovernance.OpenForAnswersAsync(home, context, cancellationToken).ConfigureAwait(false);
            // A ticket past its expiry can no longer be approved: it is recorded as expired, and not listed.
            await governance.Pipeline.ExpireDueAsync(cancellationToken).ConfigureAwait(false);
            var now = DateTimeOffset.UtcNow;
            var tickets = governance.Pipeline.OpenTickets.Where(t => t.ExpiresAt > now).ToList();
            if (parse.GetValue(json))
            {
                var rows = tickets.Select(t => new TicketJson(
                    t.Id.ToString(),
                    t.Proposal.Id.ToString(),
                    t.Proposal.Principal.Agent.Value,
                    t.Proposal.Principal.SessionId,
                    t.Proposal.Kind.Name(),
                    CommandLineOf(t.Proposal),
                    t.Proposal.Workspace,
                    Lower(t.Risk),
                    t.Rule,
                    t.Reason,
                    t.RequestedAt,
                    t.ExpiresAt)).ToList();
                await JsonOutput.WriteAsync(context.Out, new TicketListJson(home.Root, rows), CliJsonContext.Default.TicketListJson).ConfigureAwait(false);
                return ExitCodes.Success;
            }

            if (tickets.Count == 0)
            {
                await context.Out.WriteLineAsync("No approval tickets are open.").ConfigureAwait(false);
                return ExitCodes.Success;
            }

            var table = new Table().Border(TableBorder.None).AddColumns("TICKET", "AGENT", "KIND", "COMMAND", "RISK", "RULE", "AGE", "EXPIRES");
            table.Columns[0].PadLeft(0);
            foreach (var t in tickets)
            {
                table.AddRow(
                    Cell(t.Id.ToString()),
                    Cell(t.Proposal.Principal.Agent.Value),
                    Cell(t.Proposal.Kind.Name()),
                    Cell(CommandLineOf(t.Proposal)),
                    Cell(Lower(t.Risk)),
                    Cell(t.Rule),
                    Cell(DurationText.Format(Whole(now - t.RequestedAt))),
                    Cell("in " + DurationText.Format(Whole(t.ExpiresAt - now))));
            }

            context.CreateTableConsole().Write(table);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Approve(CliContext context)
    {
        var ticket = new Argument<string>("ticket") { Description = "The ticket's id, from 'apiary approvals list'." };
        var forSession = new Option<bool>("--for-session") { Description = "Also let through later commands of the same session that the same rule sends to approval (up to 20, for an hour)." };
        var command = new Command("approve", "Approve a ticket: the waiting command runs, with exactly the arguments it was proposed with.")
        {
            ticket, forSession,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var id = ParseTicket(parse.GetValue(ticket)!);
            var home = CommonOptions.LocateHome(parse, context);
            await using var governance = await LocalGovernance.OpenForAnswersAsync(home, context, cancellationToken).ConfigureAwait(false);
            var scope = parse.GetValue(forSession) ? ApprovalScope.Session : ApprovalScope.Once;
            var answer = await AnswerAsync(id, () => governance.Pipeline.ApproveAsync(id, scope, LocalGovernance.Who(context), cancellationToken)).ConfigureAwait(false);
            if (answer.State != ApprovalState.Granted)
            {
                return await AlreadyAnsweredAsync(context, answer).ConfigureAwait(false);
            }

            await context.Out.WriteLineAsync($"approved ticket {id}{(scope == ApprovalScope.Session ? " for the session" : "")}").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Deny(CliContext context)
    {
        var ticket = new Argument<string>("ticket") { Description = "The ticket's id, from 'apiary approvals list'." };
        var reason = new Option<string>("--reason") { Description = "Why; the waiting command prints it.", HelpName = "TEXT", Required = true };
        var command = new Command("deny", "Deny a ticket: the waiting command does not run and exits 126 with the reason.")
        {
            ticket, reason,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var id = ParseTicket(parse.GetValue(ticket)!);
            var why = parse.GetValue(reason);
            if (string.IsNullOrWhiteSpace(why))
            {
                throw CliException.BadInput("--reason must say why the ticket is denied");
            }

            var home = CommonOptions.LocateHome(parse, context);
            await using var governance = await LocalGovernance.OpenForAnswersAsync(home, context, cancellationToken).ConfigureAwait(false);
            var answer = await AnswerAsync(id, () => governance.Pipeline.DenyAsync(id, why, LocalGovernance.Who(context), cancellationToken)).ConfigureAwait(false);
            if (answer.State != ApprovalState.Denied)
            {
                return await AlreadyAnsweredAsync(context, answer).ConfigureAwait(false);
            }

            await context.Out.WriteLineAsync($"denied ticket {id}").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static async Task<ApprovalAnswer> AnswerAsync(ApprovalTicketId id, Func<Task<ApprovalAnswer>> answer)
    {
        try
        {
            return await answer().ConfigureAwait(false);
        }
        catch (ApprovalTicketException ex)
        {
            throw CliException.BadInput($"{ex.Message}; 'apiary approvals list' shows the open tickets (looked for {id})");
        }
    }

    private static async Task<int> AlreadyAnsweredAsync(CliContext context, ApprovalAnswer answer)
    {
        var state = answer.State switch
        {
            ApprovalState.Granted => $"was already approved by {answer.By}",
            ApprovalState.Denied => $"was already denied by {answer.By}: {answer.Reason}",
            ApprovalState.Expired => "expired unanswered",
            _ => "was already approved and used",
        };
        await context.Error.WriteLineAsync($"apiary: ticket {answer.Ticket} {state}; nothing changed").ConfigureAwait(false);
        return ExitCodes.Failure;
    }

    private static ApprovalTicketId ParseTicket(string text) =>
        Guid.TryParseExact(text, "N", out var guid)
            ? new ApprovalTicketId(guid)
            : throw CliException.BadInput($"'{text}' is not a ticket id (32 hex digits, as 'apiary approvals list' shows)");

    /// <summary>The command line a person approves: the program as proposed, then the argument line policies matched.</summary>
    internal static string CommandLineOf(Proposal proposal) =>
        proposal.Arguments.Command is { } program
            ? (proposal.ArgumentLine.Length == 0 ? program : program + " " + proposal.ArgumentLine)
            : proposal.Arguments.Path ?? string.Join(", ", proposal.Arguments.Recipients);

    private static TimeSpan Whole(TimeSpan span) => span < TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Floor(span.TotalSeconds));

#pragma warning disable CA1308 // Risk levels are spelt in lower case, as in the policy files.
    private static string Lower(RiskLevel risk) => risk.ToString().ToLowerInvariant();
#pragma warning restore CA1308

    private static Markup Cell(string text) => new(Markup.Escape(text));
}

/// <summary>One open ticket, as <c>apiary approvals list --json</c> prints it.</summary>
internal sealed record TicketJson(
    string Ticket,
    string Proposal,
    string Agent,
    string Session,
    string Kind,
    string CommandLine,
    string Workspace,
    string Risk,
    string Rule,
    string? Reason,
    DateTimeOffset RequestedAt,
    DateTimeOffset ExpiresAt);

/// <summary>What <c>apiary approvals list --json</c> prints.</summary>
internal sealed record TicketListJson(string Home, IReadOnlyList<TicketJson> Tickets);
