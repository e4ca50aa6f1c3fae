using Apiary.Agents;
using Apiary.Events;
using Apiary.Governance;

namespace Apiary.Governance.Pipeline;

/// <summary>
/// The dry run of a candidate policy (<c>apiary policy test</c> and the dashboard's policies view): the latest
/// <c>proposal.decided</c> record of each proposal in the log is rebuilt from its recorded inputs and decided again by
/// the candidate's rules and conditions. Nothing is recorded and nothing runs. Evaluators are not run again; a verdict
/// one recorded (deny, escalate) is applied again where it ran.
/// </summary>
public static class PolicyReplay
{
    /// <summary>What a replay says about evaluators, which it does not run again.</summary>
    public const string EvaluatorNote =
        "evaluators are not replayed: only the rules and conditions of the candidate decide; a verdict an evaluator recorded (deny, escalate) is applied again where it ran";

    /// <summary>Replays every proposal recorded in <paramref name="store"/> against <paramref name="candidate"/>.</summary>
    public static async Task<PolicyReplayReport> ReplayAsync(IEventStore store, Policy candidate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(candidate);
        var engine = new PolicyEngine(candidate);

        // The latest record of each proposal, in the order proposals were first decided.
        var latest = new Dictionary<string, DecisionRecord>(StringComparer.Ordinal);
        var order = new List<string>();
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

        var changes = new List<PolicyReplayChange>();
        var skipped = new List<PolicyReplaySkipped>();
        var replayed = 0;
        foreach (var id in order)
        {
            var record = latest[id];
            if (record.Stage == "kill_switch")
            {
                skipped.Add(new PolicyReplaySkipped(id, "a kill switch decided it before the policy ran"));
                continue;
            }

            if (Rebuild(record, out var error) is not { } proposal)
            {
                skipped.Add(new PolicyReplaySkipped(id, error!));
                continue;
            }

            var decided = engine.Decide(proposal, new PolicyContext(record.Inputs.Now, record.Inputs.SessionProposalCount));
            var (after, afterRule) = WithRecordedVerdicts(Lower(decided.Kind), decided.Rule, record.Evaluators);
            var before = PolicyDecisionOf(record);
            replayed++;
            if (after != before)
            {
                changes.Add(new PolicyReplayChange(id, record.Inputs.Agent, record.Inputs.Kind, proposal.CommandLine, before, record.Rule, after, afterRule, decided.Reason));
            }
        }

        return new PolicyReplayReport(replayed, changes, skipped);
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
            var d = s.Details;
            var arguments = new ProposalArguments
            {
                Command = s.Command,
                Args = s.Args,
                Path = s.Path,
                Recipients = s.Recipients,
                Other = s.Other,
                Program = d?.Program,
                Env = d?.Env ?? new Dictionary<string, string>(),
                Secrets = d?.Secrets ?? [],
                Workdir = d?.Workdir,
                Template = d?.Template,
                TimeoutSeconds = d?.TimeoutSeconds,
                TemplateTimeoutSeconds = d?.TemplateTimeoutSeconds,

                // Long input and content are recorded by size and hash only; no rule reads them, so the replay can do
                // without, but then the rebuilt proposal cannot be checked against the recorded hash.
                Stdin = d?.Stdin is { } stdin ? stdin.Text ?? "" : null,
                Content = d?.Content is { } content ? content.Text ?? "" : null,
            };
            var proposal = Proposal.Create(principal, kind, s.Workspace, arguments, new ProposalId(guid));
            var whole = d?.Stdin is null or { Text: not null } && d?.Content is null or { Text: not null };
            if (whole && proposal.Hash != record.Hash)
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

/// <summary>What a dry run found.</summary>
/// <param name="Replayed">How many recorded proposals were decided again.</param>
/// <param name="Changes">Those the candidate would decide differently.</param>
/// <param name="Skipped">Those not replayed, and why.</param>
public sealed record PolicyReplayReport(int Replayed, IReadOnlyList<PolicyReplayChange> Changes, IReadOnlyList<PolicyReplaySkipped> Skipped)
{
    /// <summary>How many replayed proposals the candidate decides as they were decided.</summary>
    public int Unchanged => Replayed - Changes.Count;
}

/// <summary>A recorded proposal the candidate would decide differently.</summary>
/// <param name="Proposal">The proposal's id.</param>
/// <param name="Agent">Who proposed it.</param>
/// <param name="Kind">Its kind (<c>exec</c>, <c>write_file</c>, ...).</param>
/// <param name="CommandLine">The command, path or recipients.</param>
/// <param name="Before">The policy's recorded decision.</param>
/// <param name="BeforeRule">The rule that gave it.</param>
/// <param name="After">The candidate's decision.</param>
/// <param name="AfterRule">The candidate's rule that gives it.</param>
/// <param name="AfterReason">The candidate's reason, for anything but an allow.</param>
public sealed record PolicyReplayChange(string Proposal, string Agent, string Kind, string CommandLine, string Before, string BeforeRule, string After, string AfterRule, string? AfterReason);

/// <summary>A recorded proposal that was not replayed, and why.</summary>
public sealed record PolicyReplaySkipped(string Proposal, string Reason);
