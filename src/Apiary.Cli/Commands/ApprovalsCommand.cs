using System.Text.Json.Serialization;
using System.Net;
using Apiary.Governance;
using Apiary.Text;
using Spectre.Console;
using Command = System.CommandLine.Command;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary approvals</c>: the open approval tickets of the running server of the home, and answering them through its
/// API; the command waiting for the answer (an <c>apiary exec</c>, an agent's session) goes on at once.
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
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            var now = DateTimeOffset.UtcNow;

            // A ticket past its expiry can no longer be approved, so it is not listed.
            var tickets = (await client.ListApprovalsAsync(cancellationToken).ConfigureAwait(false)).Where(t => t.ExpiresAt > now).ToList();
            if (parse.GetValue(json))
            {
                var rows = tickets.Select(t => new TicketJson(
                    t.Ticket, t.Proposal, t.Agent, t.Session, t.Kind, t.CommandLine, t.Workspace ?? "", t.Risk, t.Rule, t.Reason, t.RequestedAt, t.ExpiresAt, t.Details)).ToList();
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
                // Under the command, everything else that changes what would run: env, secrets, stdin, workdir, template, timeout.
                var shown = string.Join('\n', [t.CommandLine, .. (t.Details?.Lines() ?? []).Select(line => "  " + line)]);
                table.AddRow(
                    Cell(t.Ticket),
                    Cell(t.Agent),
                    Cell(t.Kind),
                    Cell(shown),
                    Cell(t.Risk),
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
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            var session = parse.GetValue(forSession);
            await AnswerAsync(id, () => client.ApproveAsync(id, session, cancellationToken)).ConfigureAwait(false);
            await context.Out.WriteLineAsync($"approved ticket {id}{(session ? " for the session" : "")}").ConfigureAwait(false);
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
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            await AnswerAsync(id, () => client.DenyAsync(id, why, cancellationToken)).ConfigureAwait(false);
            await context.Out.WriteLineAsync($"denied ticket {id}").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// Answers ticket <paramref name="id"/>. No such ticket is bad input; one no longer open (answered, used or expired)
    /// fails with the server's account of how it stands, and nothing changes.
    /// </summary>
    private static async Task<TicketAnswerDto> AnswerAsync(string id, Func<Task<TicketAnswerDto>> answer)
    {
        try
        {
            return await answer().ConfigureAwait(false);
        }
        catch (ApiaryClientException ex) when (ex.Status is HttpStatusCode.NotFound)
        {
            throw CliException.BadInput($"{ex.Detail ?? ex.Message} (looked for {id})");
        }
        catch (ApiaryClientException ex) when (ex.Status is HttpStatusCode.Conflict)
        {
            throw CliException.Failure(ex.Detail ?? ex.Message);
        }
    }

    private static string ParseTicket(string text) =>
        Guid.TryParseExact(text, "N", out var guid)
            ? guid.ToString("N")
            : throw CliException.BadInput($"'{text}' is not a ticket id (32 hex digits, as 'apiary approvals list' shows)");

    /// <summary>The command line a person approves: the program as proposed, then the argument line policies matched.</summary>
    private static TimeSpan Whole(TimeSpan span) => span < TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Floor(span.TotalSeconds));

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
    DateTimeOffset ExpiresAt,
    Governance.ProposalDetails? Details);

/// <summary>What <c>apiary approvals list --json</c> prints.</summary>
internal sealed record TicketListJson(string Home, IReadOnlyList<TicketJson> Tickets);
