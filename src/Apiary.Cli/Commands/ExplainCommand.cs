using System.Net;
using System.Text.Json;
using Apiary.Governance.Pipeline;
using Command = System.CommandLine.Command;

namespace Apiary.Cli.Commands;

/// <summary><c>apiary explain</c>: the recorded decision on one proposal, what decided it and the inputs it saw, as the running server of the home reads it from the event log.</summary>
internal static class ExplainCommand
{
    public static Command Create(CliContext context)
    {
        var id = new Argument<string>("proposal") { Description = "The proposal's id, as 'apiary exec' prints it." };
        var json = CommonOptions.Json();
        var command = new Command("explain", "Show the recorded decision on a proposal: allow, deny, pending or steer; the rule, the risk and the reason; what decided; and the inputs it saw.")
        {
            id, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var raw = parse.GetValue(id)!;
            if (!Guid.TryParseExact(raw, "N", out var guid))
            {
                throw CliException.BadInput($"'{raw}' is not a proposal id (32 hex digits, as 'apiary exec' prints it)");
            }

            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            JsonElement recorded;
            try
            {
                recorded = await client.ExplainAsync(guid.ToString("N"), cancellationToken).ConfigureAwait(false);
            }
            catch (ApiaryClientException ex) when (ex.Status is HttpStatusCode.NotFound or HttpStatusCode.BadRequest)
            {
                throw CliException.BadInput($"no decision on proposal {raw} is recorded in the event log of {home.Root}");
            }

            var record = recorded.Deserialize(CliJsonContext.Default.DecisionRecord)
                ?? throw CliException.Failure($"the server sent an empty decision for proposal {raw}");
            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(context.Out, record, CliJsonContext.Default.DecisionRecord).ConfigureAwait(false);
                return ExitCodes.Success;
            }

            await WriteAsync(context.Out, record).ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static async Task WriteAsync(TextWriter output, DecisionRecord record)
    {
        var inputs = record.Inputs;
        List<(string Field, string? Value)> lines =
        [
            ("proposal", record.ProposalId),
            ("decision", $"{record.Decision} (stage {record.Stage})"),
            ("rule", record.Rule),
            ("risk", record.Risk),
            ("reason", record.Reason),
            ("decided by", $"{record.Source} {record.DecidedBy}"),
            ("detail", record.Detail),
            ("ticket", record.TicketId ?? record.StandingTicketId),
            ("policy", record.PolicyVersion is { } version ? $"version {version}" : null),
            ("kind", inputs.Kind),
            ("agent", $"{inputs.Agent} ({inputs.Role})"),
            ("session", inputs.Session),
            ("workspace", inputs.Workspace),
            ("command", inputs.Command is null ? null : $"{inputs.Command} (program {inputs.Details?.Program ?? "not found"}, name {inputs.ProgramName})"),
            ("arguments", inputs.Command is null ? null : inputs.ArgumentLine),
            ("path", inputs.Path is null ? null : $"{inputs.Path} ({inputs.FullPath})"),
            ("recipients", inputs.Recipients.Count == 0 ? null : string.Join(", ", inputs.Recipients)),
            ("other", inputs.Other.Count == 0 ? null : string.Join(", ", inputs.Other.Select(p => $"{p.Key}={p.Value}"))),
            .. (inputs.Details?.Lines() ?? []).Select(line => (line[..line.IndexOf(':', StringComparison.Ordinal)], (string?)line[(line.IndexOf(':', StringComparison.Ordinal) + 2)..])).ToList(),
            ("time", inputs.Now.ToString("u", CultureInfo.InvariantCulture)),
            ("earlier", $"{inputs.SessionProposalCount} proposals in the session"),
        ];
        foreach (var verdict in record.Evaluators)
        {
            lines.Add(("evaluator", verdict.Reason is null ? $"{verdict.Evaluator}: {verdict.Verdict}" : $"{verdict.Evaluator}: {verdict.Verdict} ({verdict.Reason})"));
        }

        foreach (var (field, value) in lines)
        {
            if (value is not null)
            {
                await output.WriteLineAsync($"{field,-11} {value}").ConfigureAwait(false);
            }
        }
    }
}
