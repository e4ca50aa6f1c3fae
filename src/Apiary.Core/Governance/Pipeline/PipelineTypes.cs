using Apiary.Governance.Budgets;
using Apiary.Governance.Locks;

namespace Apiary.Governance.Pipeline;

/// <summary>The stage of the <see cref="GovernancePipeline"/> that produced a result.</summary>
public enum PipelineStage
{
    /// <summary>An engaged kill switch covers the principal.</summary>
    KillSwitch,

    /// <summary>The policy rules, conditions and evaluators.</summary>
    Policy,

    /// <summary>The approval gate: a ticket or a standing session approval.</summary>
    Approval,

    /// <summary>The budget reservation.</summary>
    Budget,

    /// <summary>The resource leases.</summary>
    Lock,

    /// <summary>Recording the decision in the event store; a failure here denies (fail closed).</summary>
    Record,
}

/// <summary>The identity of one approval ticket: a random 128-bit value, shown as 32 lowercase hex digits.</summary>
/// <param name="Value">The underlying value.</param>
public readonly record struct ApprovalTicketId(Guid Value)
{
    /// <summary>A new, random id.</summary>
    public static ApprovalTicketId New() => new(Guid.NewGuid());

    /// <summary>The event stream the ticket's events live in: <c>approval-&lt;id&gt;</c>.</summary>
    public string Stream => "approval-" + ToString();

    /// <inheritdoc/>
    public override string ToString() => Value.ToString("N");
}

/// <summary>How far an approval reaches.</summary>
public enum ApprovalScope
{
    /// <summary>This proposal, once.</summary>
    Once,

    /// <summary>This proposal, and later proposals of the same session that the same rule sends to approval, up to a count and until an expiry.</summary>
    Session,
}

/// <summary>Where an approval ticket stands.</summary>
public enum ApprovalState
{
    /// <summary>Waiting for a person.</summary>
    Open,

    /// <summary>Approved; the proposal may be resumed once.</summary>
    Granted,

    /// <summary>Refused, with a reason.</summary>
    Denied,

    /// <summary>Nobody answered before the ticket's expiry.</summary>
    Expired,

    /// <summary>Approved and resumed; it cannot be resumed again.</summary>
    Consumed,
}

/// <summary>A pending proposal waiting for a person, bound to the proposal's canonical hash.</summary>
/// <param name="Id">The ticket's id.</param>
/// <param name="Proposal">The exact proposal that waits.</param>
/// <param name="Estimate">The budget estimate it was submitted with; reserved when it resumes.</param>
/// <param name="Rule">The rule that asked for approval.</param>
/// <param name="Risk">The risk that rule assigns.</param>
/// <param name="Reason">What needs approving.</param>
/// <param name="RequestedAt">When the ticket was opened.</param>
/// <param name="ExpiresAt">When it expires unless answered.</param>
public sealed record ApprovalTicket(
    ApprovalTicketId Id,
    Proposal Proposal,
    BudgetEstimate Estimate,
    string Rule,
    RiskLevel Risk,
    string? Reason,
    DateTimeOffset RequestedAt,
    DateTimeOffset ExpiresAt);

/// <summary>Where a ticket stands and who answered it.</summary>
/// <param name="Ticket">The ticket.</param>
/// <param name="State">Open, granted, denied, expired or consumed.</param>
/// <param name="Scope">For a grant, how far it reaches.</param>
/// <param name="By">Who granted or denied it.</param>
/// <param name="Reason">Why it was denied.</param>
/// <param name="At">When it was answered (or expired, or consumed).</param>
public sealed record ApprovalAnswer(ApprovalTicketId Ticket, ApprovalState State, ApprovalScope? Scope, string? By, string? Reason, DateTimeOffset? At)
{
    /// <summary>True when this call's answer (or the expiry it found due) was recorded; false when the ticket was no longer open.</summary>
    public bool Answered { get; init; }
}

/// <summary>A proposal the pipeline allowed: what the caller runs, then hands to <see cref="GovernancePipeline.CompleteAsync"/>.</summary>
/// <param name="Proposal">The proposal.</param>
/// <param name="Decision">The recorded decision.</param>
/// <param name="Reservation">The budget held for it.</param>
/// <param name="Lease">The lease on its path, for <c>write_file</c>.</param>
/// <param name="AllowedAt">When the decision was recorded.</param>
public sealed record AllowedProposal(Proposal Proposal, Decision Decision, BudgetReservation Reservation, Lease? Lease, DateTimeOffset AllowedAt);

/// <summary>
/// The pipeline's answer to a submission: the decision, the stage that produced it, and either the allowed proposal
/// (<see cref="DecisionKind.Allow"/>) or the ticket to wait on (<see cref="DecisionKind.Pending"/>).
/// </summary>
/// <param name="Decision">The decision.</param>
/// <param name="Stage">The stage that decided.</param>
/// <param name="Allowed">Set only for an allow, and only once the decision is recorded.</param>
/// <param name="Ticket">Set only for a pending decision.</param>
public sealed record GovernanceResult(Decision Decision, PipelineStage Stage, AllowedProposal? Allowed = null, ApprovalTicket? Ticket = null)
{
    /// <summary>True when the proposal may run now.</summary>
    public bool IsAllowed => Allowed is not null && Decision.Kind == DecisionKind.Allow;
}

/// <summary>How a side effect ended, for <see cref="GovernancePipeline.CompleteAsync"/>.</summary>
/// <param name="ExitCode">The exit code, or null when there was none.</param>
/// <param name="Reason">Why it ended (<c>exited</c>, <c>timeout</c>, <c>killed</c>, ...).</param>
/// <param name="Duration">How long it ran.</param>
/// <param name="Output">What it printed; recorded as the event body, which retention may purge.</param>
public sealed record ProposalOutcome(int? ExitCode, string Reason, TimeSpan Duration, string? Output = null);

/// <summary>Settings of the <see cref="GovernancePipeline"/>. Every default is safe to run with.</summary>
public sealed class GovernancePipelineOptions
{
    /// <summary>How long an approval ticket waits for an answer before it expires. Default 24 hours.</summary>
    public TimeSpan TicketTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How many later proposals a session approval lets through. Default 20.</summary>
    public int SessionApprovalLimit { get; init; } = 20;

    /// <summary>How long a session approval lasts. Default 1 hour.</summary>
    public TimeSpan SessionApprovalTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long a <c>write_file</c> lease holds. Default 5 minutes.</summary>
    public TimeSpan LockTtl { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The longest wait for a <c>write_file</c> lease. Default 10 seconds.</summary>
    public TimeSpan LockWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The secrets' values to keep out of what is recorded (decisions, tickets), in every form: each is replaced with
    /// <c>[secret:NAME]</c>. None when null.
    /// </summary>
    public Func<Secrets.SecretRedactor>? Redactor { get; init; }

    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range.</exception>
    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(TicketTtl, TimeSpan.Zero, nameof(TicketTtl));
        ArgumentOutOfRangeException.ThrowIfLessThan(SessionApprovalLimit, 1, nameof(SessionApprovalLimit));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(SessionApprovalTtl, TimeSpan.Zero, nameof(SessionApprovalTtl));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(LockTtl, TimeSpan.Zero, nameof(LockTtl));
        ArgumentOutOfRangeException.ThrowIfLessThan(LockWait, TimeSpan.Zero, nameof(LockWait));
    }
}
