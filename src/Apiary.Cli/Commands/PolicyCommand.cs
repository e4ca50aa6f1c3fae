using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Apiary.Agents;
using Apiary.Cli.Output;
using Apiary.Governance;
using Apiary.Governance.Pipeline;
using Apiary.Storage.Sqlite;
using Command = System.CommandLine.Command;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary policy</c>: work on policies before they govern anything. <c>policy test</c> replays every recorded
/// <c>proposal.decided</c> against a candidate policy and lists the proposals it would decide differently.
/// </summary>
internal static class PolicyCommand
{
    /// <summary>What the output says about evaluators, which a replay does not run again.</summary>
    public const string EvaluatorNote =
        "evaluators are not replayed: only the rules and conditions of the candidate decide; a verdict an evaluator recorded (deny, escalate) is applied again where it ran";

    public static Command Create(CliContext context)
    {
        var candidate = new Argument<string>("candidate") { Description = "A policy file (.yaml), or a folder of them, to try in place of policies/." };
        var json = CommonOptions.Json();
        var test = new Command("test", "Replay every proposal recorded in the home's event log against a candidate policy and list those it would decide differently. Exit 0 when the replay ran, whatever it found.")
        {
            candidate, json,
        };
        test.SetAction(async (parse, cancellationToken) =>
        {
            var raw = parse.GetValue(candidate)!;
            var policy = await LoadCandidateAsync(context, raw).ConfigureAwait(false);
            var home = CommonOptions.LocateHome(parse, context);
            var storePath = Path.Combine(home.Root, AuditCommand.StoreFileName);
            if (!home.Exists || !File.Exists(storePath))
            {
                throw CliException.Failure(
                    $"there is no event log at {storePath} ({CommonOptions.Describe(home.Source)}); nothing was recorded to replay");
            }

            var report = await ReplayAsync(storePath, new PolicyEngine(policy), cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(context.Out, report, CliJsonContext.Default.PolicyTestJson).ConfigureAwait(false);
                return ExitCodes.Success;
            }

            foreach (var d in report.Differences)
            {
                await context.Out.WriteLineAsync(
                    $"{d.Proposal} {d.Kind} {d.CommandLine}: {d.RecordedDecision} ({d.RecordedRule}) -> {d.NewDecision} ({d.NewRule})").ConfigureAwait(false);
            }

            foreach (var s in report.Skipped)
            {
                await context.Error.WriteLineAsync($"apiary: proposal {s.Proposal} not replayed: {s.Reason}").ConfigureAwait(false);
            }

            await context.Out.WriteLineAsync($"{report.Replayed} proposals replayed, {report.Different} would be decided differently").ConfigureAwait(false);
            await context.Out.WriteLineAsync($"note: {EvaluatorNote}").ConfigureAwait(false);
            return ExitCodes.Success;
        });

        return new Command("policy", "Try policies before they govern anything.")
        {
            test,
        };
    }

    private static async Task<Policy> LoadCandidateAsync(CliContext context, string raw)
    {
        var full = Path.GetFullPath(raw, context.CurrentDirectory);
        PolicyLoadResult loaded;
        if (Directory.Exists(full))
        {
            loaded = PolicyLoader.LoadDirectory(full);
        }
        else if (File.Exists(full))
        {
            loaded = PolicyLoader.Parse(raw, await File.ReadAllTextAsync(full).ConfigureAwait(false));
        }
        else
        {
            throw CliException.BadInput($"there is no policy file or folder at {full}");
        }

        await CommonOptions.ReportAsync(context, loaded.Diagnostics).ConfigureAwait(false);
        return loaded.Policy ?? throw CliException.BadInput($"the candidate policy {raw} cannot be loaded (above)");
    }

    private static async Task<PolicyTestJson> ReplayAsync(string storePath, PolicyEngine engine, CancellationToken cancellationToken)
    {
        // The latest record of each proposal, in the order proposals were first decided.
        var latest = new Dictionary<string, DecisionRecord>(StringComparer.Ordinal);
        var order = new List<string>();
        await using (var store = await SqliteEventStore.OpenAsync(storePath, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            await foreach (var e in store.ReadAllAsync(1, cancellationToken).ConfigureAwait(false))
            {
                if (e.Type != PipelineEventTypes.ProposalDecided)
                {
                    continue;
                }

                var record = PipelineRecords.ReadDecision(e);
                if (!latest.ContainsKey(record.ProposalId))
                {
                    order.Add(record.ProposalId);
                }

                latest[record.ProposalId] = record;
            }
        }

        var differences = new List<PolicyTestDifferenceJson>();
        var skipped = new List<PolicyTestSkippedJson>();
        var replayed = 0;
        foreach (var id in order)
        {
            var record = latest[id];
            if (record.Stage == "kill_switch")
            {
                skipped.Add(new PolicyTestSkippedJson(id, "a kill switch decided it before the policy ran"));
                continue;
            }

            if (Rebuild(record, out var error) is not { } proposal)
            {
                skipped.Add(new PolicyTestSkippedJson(id, error!));
                continue;
            }

            var context = new PolicyContext(record.Inputs.Now, record.Inputs.SessionProposalCount);
            var decided = engine.Decide(proposal, context);
            var (newDecision, newRule) = WithRecordedVerdicts(Lower(decided.Kind), decided.Rule, record.Evaluators);
            var recordedDecision = PolicyDecisionOf(record);
            replayed++;
            if (newDecision != recordedDecision)
            {
                differences.Add(new PolicyTestDifferenceJson(
                    id,
                    record.Inputs.Kind,
                    ApprovalsCommand.CommandLineOf(proposal),
                    recordedDecision,
                    record.Rule,
                    newDecision,
                    newRule,
                    decided.Reason));
            }
        }

        return new PolicyTestJson(replayed, differences.Count, false, EvaluatorNote, differences, skipped);
    }

    // The proposal exactly as recorded; null (with why) when the record cannot give it back.
    private static Proposal? Rebuild(DecisionRecord record, out string? error)
    {
        var s = record.Inputs;
        error = null;
        if (!ProposalKinds.TryParse(s.Kind, out var kind))
        {
            error = $"the recorded kind '{s.Kind}' is unknown";
            return null;
        }

        if (!Guid.TryParseExact(record.ProposalId, "N", out var guid))
        {
            error = $"the recorded id '{record.ProposalId}' is not a proposal id";
            return null;
        }

        try
        {
            var principal = new Principal(AgentName.Parse(s.Agent), s.Role == "manager" ? AgentRole.Manager : AgentRole.Worker, s.Session);
            var arguments = new ProposalArguments { Command = s.Command, Args = s.Args, Path = s.Path, Recipients = s.Recipients, Other = s.Other };
            var proposal = Proposal.Create(principal, kind, s.Workspace, arguments, new ProposalId(guid));
            if (proposal.Hash != record.Hash)
            {
                error = $"the rebuilt proposal does not match the recorded hash {record.Hash}";
                return null;
            }

            return proposal;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidAgentNameException)
        {
            error = $"the recorded inputs do not make a proposal ({ex.Message})";
            return null;
        }
    }

    // What the policy (rules, conditions, evaluators) said, before the approval, budget and lock stages had their say.
    private static string PolicyDecisionOf(DecisionRecord record) => record.Stage switch
    {
        "policy" => record.Decision,
        "approval" => "pending",
        _ => record.TicketId is not null || record.StandingTicketId is not null ? "pending" : "allow",
    };

    // The evaluators are not run again; what they recorded applies as DecideAsync would apply it.
    private static (string Decision, string Rule) WithRecordedVerdicts(string decision, string rule, IReadOnlyList<RecordedVerdict> verdicts)
    {
        if (decision is not ("allow" or "pending"))
        {
            return (decision, rule);
        }

        if (verdicts.FirstOrDefault(v => v.Verdict == "deny") is { } denied)
        {
            return ("deny", $"{rule}, evaluator {denied.Evaluator}");
        }

        if (decision == "allow" && verdicts.FirstOrDefault(v => v.Verdict == "escalate") is { } escalated)
        {
            return ("pending", $"{rule}, evaluator {escalated.Evaluator}");
        }

        return (decision, rule);
    }

#pragma warning disable CA1308 // Decisions are spelt in lower case, as in the event log.
    private static string Lower(DecisionKind kind) => kind.ToString().ToLowerInvariant();
#pragma warning restore CA1308
}

/// <summary>What <c>apiary policy test --json</c> prints.</summary>
internal sealed record PolicyTestJson(
    int Replayed,
    int Different,
    bool EvaluatorsReplayed,
    string Note,
    IReadOnlyList<PolicyTestDifferenceJson> Differences,
    IReadOnlyList<PolicyTestSkippedJson> Skipped);

/// <summary>A proposal the candidate would decide differently.</summary>
internal sealed record PolicyTestDifferenceJson(
    string Proposal,
    string Kind,
    string CommandLine,
    string RecordedDecision,
    string RecordedRule,
    string NewDecision,
    string NewRule,
    string? NewReason);

/// <summary>A recorded proposal that was not replayed, and why.</summary>
internal sealed record PolicyTestSkippedJson(string Proposal, string Reason);
