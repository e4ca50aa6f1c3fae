using Apiary.Events;
using Apiary.Governance.Budgets;

namespace Apiary.Governance.Pipeline;

/// <summary>The event types the <see cref="GovernancePipeline"/> appends.</summary>
public static class PipelineEventTypes
{
    /// <summary>A final decision, in stream <c>session-&lt;id&gt;</c>.</summary>
    public const string ProposalDecided = "proposal.decided";

    /// <summary>An allowed proposal ran and ended, in stream <c>session-&lt;id&gt;</c>; its output is the body.</summary>
    public const string ProposalCompleted = "proposal.completed";

    /// <summary>
    /// An allowed proposal's session ended before it completed; recovery gave back its reservation and lease. In stream
    /// <c>session-&lt;id&gt;</c>.
    /// </summary>
    public const string ProposalAbandoned = "proposal.abandoned";

    /// <summary>A kill switch was engaged, in stream <c>kill-switch</c>.</summary>
    public const string KillSwitchEngaged = "kill-switch.engaged";

    /// <summary>A kill switch was released, in stream <c>kill-switch</c>.</summary>
    public const string KillSwitchReleased = "kill-switch.released";

    /// <summary>A ticket was opened, in stream <c>approval-&lt;id&gt;</c>.</summary>
    public const string ApprovalRequested = "approval.requested";

    /// <summary>A ticket was approved.</summary>
    public const string ApprovalGranted = "approval.granted";

    /// <summary>A ticket was refused.</summary>
    public const string ApprovalDenied = "approval.denied";

    /// <summary>A ticket expired unanswered.</summary>
    public const string ApprovalExpired = "approval.expired";

    /// <summary>An approved ticket's proposal was resumed; it cannot be resumed again.</summary>
    public const string ApprovalConsumed = "approval.consumed";

    /// <summary>Work budgeted outside a proposal (a model call) was settled: what it used is spent.</summary>
    public const string BudgetSettled = "budget.settled";
}

/// <summary>The inputs a decision saw: the proposal as the policy saw it, and the context.</summary>
/// <param name="Kind">The proposal kind (<c>exec</c>, <c>write_file</c>, ...).</param>
/// <param name="Agent">The agent.</param>
/// <param name="Role">The agent's role.</param>
/// <param name="Session">The session.</param>
/// <param name="Workspace">The workspace.</param>
/// <param name="Command">The command as given.</param>
/// <param name="ProgramName">The program name policies matched.</param>
/// <param name="Args">The arguments.</param>
/// <param name="ArgumentLine">The argument line policies matched.</param>
/// <param name="Path">The path as given.</param>
/// <param name="FullPath">The normalized absolute path.</param>
/// <param name="Recipients">The recipients.</param>
/// <param name="Other">Other named arguments.</param>
/// <param name="Now">The time of the decision.</param>
/// <param name="SessionProposalCount">Proposals the session made before this one.</param>
/// <param name="Details">For an <c>exec</c> or <c>write_file</c>: the resolved program, environment, secret names, standard input, working folder, template, time limit and content, as the decision saw them.</param>
public sealed record DecisionInputs(
    string Kind,
    string Agent,
    string Role,
    string Session,
    string Workspace,
    string? Command,
    string? ProgramName,
    IReadOnlyList<string> Args,
    string ArgumentLine,
    string? Path,
    string? FullPath,
    IReadOnlyList<string> Recipients,
    IReadOnlyDictionary<string, string> Other,
    DateTimeOffset Now,
    int SessionProposalCount,
    ProposalDetails? Details = null);

/// <summary>An evaluator's verdict as recorded.</summary>
/// <param name="Evaluator">The evaluator's name.</param>
/// <param name="Verdict"><c>pass</c>, <c>escalate</c> or <c>deny</c>.</param>
/// <param name="Reason">Why, unless it passed.</param>
public sealed record RecordedVerdict(string Evaluator, string Verdict, string? Reason);

/// <summary>
/// The data of a <c>proposal.decided</c> event: the decision, the stage and what decided, and the inputs it saw.
/// <see cref="GovernancePipeline.ExplainAsync"/> returns it.
/// </summary>
/// <param name="ProposalId">The proposal.</param>
/// <param name="Hash">The proposal's canonical hash.</param>
/// <param name="Decision"><c>allow</c>, <c>deny</c>, <c>pending</c> or <c>steer</c>.</param>
/// <param name="Stage">The pipeline stage that decided (<c>kill_switch</c>, <c>policy</c>, <c>approval</c>, <c>budget</c>, <c>lock</c>).</param>
/// <param name="Rule">The rule that matched (<c>kill-switch</c> when a kill switch decided before the policy ran).</param>
/// <param name="Risk">The rule's risk.</param>
/// <param name="Reason">Why, for anything but an allow.</param>
/// <param name="Source">What within the policy decided: <c>rule</c>, <c>condition</c> or <c>evaluator</c>.</param>
/// <param name="DecidedBy">The rule, condition, evaluator or pipeline stage that decided.</param>
/// <param name="Detail">The condition's text, the evaluator's reason, or the stage's reason.</param>
/// <param name="Inputs">What the decision saw.</param>
/// <param name="Evaluators">Every evaluator's verdict.</param>
/// <param name="TicketId">For a pending decision, or one resumed from a ticket, the ticket.</param>
/// <param name="StandingTicketId">For a proposal let through by a session approval, the ticket that granted it.</param>
/// <param name="ReservationId">For an allow, the budget reservation.</param>
/// <param name="LeaseId">For an allowed <c>write_file</c>, the lease.</param>
/// <param name="Reserved">For an allow, the amounts reserved against the agent's and the session's budgets.</param>
/// <param name="LeaseResource">For an allowed <c>write_file</c>, the leased resource.</param>
/// <param name="LeaseExpiresAt">For an allowed <c>write_file</c>, when the lease expires unless released.</param>
/// <param name="PolicyVersion">
/// The version of the policy set in force (<see cref="Policy.Version"/>: the SHA-256 of the policy files' names and
/// contents); null in records of earlier versions, and when the policy was not loaded from files.
/// </param>
public sealed record DecisionRecord(
    string ProposalId,
    string Hash,
    string Decision,
    string Stage,
    string Rule,
    string Risk,
    string? Reason,
    string Source,
    string DecidedBy,
    string? Detail,
    DecisionInputs Inputs,
    IReadOnlyList<RecordedVerdict> Evaluators,
    string? TicketId = null,
    string? StandingTicketId = null,
    string? ReservationId = null,
    string? LeaseId = null,
    RecordedAmounts? Reserved = null,
    string? LeaseResource = null,
    DateTimeOffset? LeaseExpiresAt = null,
    string? PolicyVersion = null);

/// <summary>Budget amounts as recorded.</summary>
/// <param name="Commands">Commands.</param>
/// <param name="WallTime">Wall time.</param>
/// <param name="Tokens">Model tokens.</param>
/// <param name="Cost">Cost in US dollars.</param>
public sealed record RecordedAmounts(long Commands, TimeSpan WallTime, long Tokens, decimal Cost)
{
    /// <summary>The amounts as the ledger counts them.</summary>
    public BudgetAmounts ToAmounts() => new(Commands, WallTime, Tokens, Cost);

    /// <summary>The amounts as recorded.</summary>
    public static RecordedAmounts Of(BudgetAmounts amounts)
    {
        ArgumentNullException.ThrowIfNull(amounts);
        return new(amounts.Commands, amounts.WallTime, amounts.Tokens, amounts.Cost);
    }
}

/// <summary>
/// The proposal as a ticket stores it, so that a restart can rebuild the exact proposal: every argument, standard input
/// and content included (secrets only by name). Fields added later are null in tickets recorded before them.
/// </summary>
internal sealed record ProposalSnapshot(
    string Id,
    string Hash,
    string Kind,
    string Agent,
    string Role,
    string Session,
    string Workspace,
    string? Command,
    IReadOnlyList<string> Args,
    string? Path,
    IReadOnlyList<string> Recipients,
    IReadOnlyDictionary<string, string> Other,
    string? Program = null,
    IReadOnlyDictionary<string, string>? Env = null,
    IReadOnlyList<string>? Secrets = null,
    string? Stdin = null,
    string? Workdir = null,
    string? Template = null,
    int? TimeoutSeconds = null,
    int? TemplateTimeoutSeconds = null,
    string? Content = null)
{
    /// <summary>The snapshot of <paramref name="p"/>.</summary>
    public static ProposalSnapshot Of(Proposal p)
    {
        var a = p.Arguments;
        return new(p.Id.ToString(), p.Hash, p.Kind.Name(), p.Principal.Agent.Value, p.Principal.RoleName, p.Principal.SessionId, p.Workspace, a.Command, a.Args, a.Path, a.Recipients, a.Other,
            a.Program, a.Env.Count == 0 ? null : a.Env, a.Secrets.Count == 0 ? null : a.Secrets, a.Stdin, a.Workdir, a.Template, a.TimeoutSeconds, a.TemplateTimeoutSeconds, a.Content);
    }

    /// <summary>The arguments it records.</summary>
    public ProposalArguments Arguments() => new()
    {
        Command = Command,
        Args = Args,
        Path = Path,
        Recipients = Recipients,
        Other = Other,
        Program = Program,
        Env = Env ?? new Dictionary<string, string>(),
        Secrets = Secrets ?? [],
        Stdin = Stdin,
        Workdir = Workdir,
        Template = Template,
        TimeoutSeconds = TimeoutSeconds,
        TemplateTimeoutSeconds = TemplateTimeoutSeconds,
        Content = Content,
    };
}

internal sealed record EstimateSnapshot(long? Commands, TimeSpan? WallTime, long? Tokens, decimal? Cost);

internal sealed record ApprovalRequestedData(
    string TicketId,
    string Rule,
    string Risk,
    string? Reason,
    DateTimeOffset RequestedAt,
    DateTimeOffset ExpiresAt,
    ProposalSnapshot Proposal,
    EstimateSnapshot Estimate);

internal sealed record ApprovalGrantedData(string TicketId, string Scope, string By, DateTimeOffset At, int? SessionLimit, DateTimeOffset? SessionExpiresAt);

internal sealed record ApprovalDeniedData(string TicketId, string Reason, string By, DateTimeOffset At);

internal sealed record ApprovalExpiredData(string TicketId, DateTimeOffset At);

internal sealed record ApprovalConsumedData(string TicketId, string ProposalId, DateTimeOffset At);

internal sealed record ProposalCompletedData(
    string ProposalId,
    int? ExitCode,
    string Reason,
    long DurationMs,
    long Commands,
    TimeSpan WallTime,
    long Tokens,
    decimal Cost,
    string? ReservationId,
    string? LeaseId);

internal sealed record ProposalAbandonedData(string ProposalId, string ReservationId, string? LeaseId, string Reason, DateTimeOffset At);

/// <summary>What a model call (or other work reserved directly in the ledger) used, folded into the budget at load.</summary>
internal sealed record BudgetSettledData(string ReservationId, string Session, string Agent, RecordedAmounts Actual, string For, DateTimeOffset At);

internal sealed record KillSwitchData(string Level, string Id, string By, DateTimeOffset At, string? Reason = null);

/// <summary>How an allowed proposal ended, as <c>proposal.completed</c> records it (its output is the event's body).</summary>
/// <param name="ProposalId">The proposal.</param>
/// <param name="ExitCode">The command's exit code; null when it was killed, or for other tools.</param>
/// <param name="Reason">How it ended: <c>exited</c>, <c>timeout</c>, <c>cancelled</c>, ...</param>
/// <param name="DurationMs">How long it ran.</param>
public sealed record CompletionRecord(string ProposalId, int? ExitCode, string Reason, long DurationMs);

/// <summary>Reads the pipeline's recorded events, in the one wire format the pipeline writes them in.</summary>
public static class PipelineRecords
{
    /// <summary>How the proposal of a <c>proposal.completed</c> event ended.</summary>
    /// <exception cref="ArgumentException">The event is of another type.</exception>
    public static CompletionRecord ReadCompletion(RecordedEvent completed)
    {
        ArgumentNullException.ThrowIfNull(completed);
        if (completed.Type != PipelineEventTypes.ProposalCompleted)
        {
            throw new ArgumentException($"event {completed.Position} is a {completed.Type}, not a {PipelineEventTypes.ProposalCompleted}", nameof(completed));
        }

        var data = CoreJsonContext.Read(completed, CoreJsonContext.Default.ProposalCompletedData);
        return new CompletionRecord(data.ProposalId, data.ExitCode, data.Reason, data.DurationMs);
    }

    /// <summary>The decision recorded by a <c>proposal.decided</c> event.</summary>
    /// <exception cref="ArgumentException">The event is of another type.</exception>
    public static DecisionRecord ReadDecision(RecordedEvent decided)
    {
        ArgumentNullException.ThrowIfNull(decided);
        return decided.Type == PipelineEventTypes.ProposalDecided
            ? CoreJsonContext.Read(decided, CoreJsonContext.Default.DecisionRecord)
            : throw new ArgumentException($"event {decided.Position} is a {decided.Type}, not a {PipelineEventTypes.ProposalDecided}", nameof(decided));
    }
}
