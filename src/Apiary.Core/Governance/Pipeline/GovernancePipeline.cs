using System.Text;
using Apiary.Events;
using Apiary.Secrets;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;

namespace Apiary.Governance.Pipeline;

/// <summary>
/// Runs a proposal through every governance stage in order (kill switch, policy and evaluators, approval gate, budget,
/// locks) and records each outcome in the event store. It fails closed: a proposal is allowed only once its
/// <c>proposal.decided</c> event is committed, and when recording fails the reservation and lease are given back and
/// the answer is a deny.
/// </summary>
/// <remarks>
/// Approval tickets live in streams <c>approval-&lt;id&gt;</c> and are read back from the store for every answer, so a
/// restart (or another process answering) loses nothing; <see cref="LoadAsync"/> rebuilds the list of open tickets and
/// the standing session approvals, and also the budgets, leases and kill switches (see <c>GovernancePipeline.State.cs</c>).
/// </remarks>
public sealed partial class GovernancePipeline
{
    /// <summary>The rule a decision names when an engaged kill switch decided before the policy ran.</summary>
    public const string KillSwitchRule = "kill-switch";

    private readonly IEventStore _store;
    private readonly PolicyEngine _engine;
    private readonly BudgetLedger _budgets;
    private readonly LockTable _locks;
    private readonly KillSwitch _killSwitch;
    private readonly GovernancePipelineOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _sessionCounts = new(StringComparer.Ordinal);

    /// <summary>Creates a pipeline over the given stages, recording into <paramref name="store"/>.</summary>
    /// <param name="store">Where every decision and approval is recorded.</param>
    /// <param name="engine">The policy rules and evaluators.</param>
    /// <param name="budgets">The budget ledger reservations are made in.</param>
    /// <param name="locks">The lock table <c>write_file</c> leases are taken in.</param>
    /// <param name="killSwitch">The kill switches checked first.</param>
    /// <param name="options">Settings; the defaults when null.</param>
    /// <param name="time">The clock; the system clock when null.</param>
    public GovernancePipeline(
        IEventStore store,
        PolicyEngine engine,
        BudgetLedger budgets,
        LockTable locks,
        KillSwitch killSwitch,
        GovernancePipelineOptions? options = null,
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(budgets);
        ArgumentNullException.ThrowIfNull(locks);
        ArgumentNullException.ThrowIfNull(killSwitch);
        _options = options ?? new GovernancePipelineOptions();
        _options.Validate();
        _store = store;
        _engine = engine;
        _budgets = budgets;
        _locks = locks;
        _killSwitch = killSwitch;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// Decides <paramref name="proposal"/>: kill switch, then the policy and evaluators (a deny or steer is returned as
    /// it is), then the approval gate (a pending decision opens a ticket unless a standing session approval covers it),
    /// then the budget reservation of <paramref name="estimate"/>, then an exclusive lease for <c>write_file</c>. The
    /// result is an allow only once its <c>proposal.decided</c> event is committed.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled; anything reserved is given back.</exception>
    public Task<GovernanceResult> SubmitAsync(Proposal proposal, BudgetEstimate estimate, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        ArgumentNullException.ThrowIfNull(estimate);
        return PipelineTelemetry.MeasureAsync(PipelineTelemetry.DecideActivity, proposal, () => DecideAsync(proposal, estimate, cancellationToken));
    }

    private async Task<GovernanceResult> DecideAsync(Proposal proposal, BudgetEstimate estimate, CancellationToken cancellationToken)
    {
        var context = PolicyContext.At(_time, NextSessionCount(proposal.Principal.SessionId));

        if (_killSwitch.IsBlocked(proposal.Principal) is { } blocking)
        {
            return await RefuseAsync(proposal, KillSwitchDecision(proposal, context, blocking), PipelineStage.KillSwitch, null, cancellationToken).ConfigureAwait(false);
        }

        var decision = await _engine.DecideAsync(proposal, context, cancellationToken).ConfigureAwait(false);
        if (decision.Kind is DecisionKind.Deny or DecisionKind.Steer)
        {
            return await RefuseAsync(proposal, decision, PipelineStage.Policy, null, cancellationToken).ConfigureAwait(false);
        }

        if (decision.Kind == DecisionKind.Pending)
        {
            if (TryUseStandingApproval(proposal.Principal.SessionId, decision.Rule) is not { } standing)
            {
                return await OpenTicketAsync(proposal, estimate, decision, cancellationToken).ConfigureAwait(false);
            }

            var allowed = decision with
            {
                Kind = DecisionKind.Allow,
                Reason = null,
                Explanation = decision.Explanation with { DecidedBy = $"session approval {standing}", Detail = decision.Reason },
            };
            var result = await AdmitAsync(proposal, estimate, allowed, PipelineStage.Approval, null, standing, cancellationToken).ConfigureAwait(false);
            if (!result.IsAllowed)
            {
                ReturnStandingApproval(proposal.Principal.SessionId, decision.Rule, standing);
            }

            return result;
        }

        return await AdmitAsync(proposal, estimate, decision, PipelineStage.Policy, null, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Settles an allowed proposal's budget with <paramref name="actualCosts"/>, releases its lease, and records
    /// <c>proposal.completed</c> (exit code, reason, duration; the output as the event body, which retention may purge),
    /// in one append after <paramref name="alongside"/> (what the work itself records, such as a model call's
    /// <c>model.called</c>). The budget is settled and the lease released even when recording fails, because the work ran.
    /// </summary>
    /// <exception cref="EventStoreException">The completion could not be recorded.</exception>
    public async Task CompleteAsync(AllowedProposal allowedProposal, ProposalOutcome outcome, BudgetAmounts actualCosts, IReadOnlyList<EventData>? alongside = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(allowedProposal);
        ArgumentNullException.ThrowIfNull(outcome);
        ArgumentNullException.ThrowIfNull(actualCosts);
        var data = new ProposalCompletedData(
            allowedProposal.Proposal.Id.ToString(),
            outcome.ExitCode,
            outcome.Reason,
            (long)outcome.Duration.TotalMilliseconds,
            actualCosts.Commands,
            actualCosts.WallTime,
            actualCosts.Tokens,
            actualCosts.Cost,
            allowedProposal.Reservation.Id.ToString(),
            allowedProposal.Lease?.Id.ToString());
        ReadOnlyMemory<byte>? body = outcome.Output is null ? null : Encoding.UTF8.GetBytes(outcome.Output);
        try
        {
            await _store.AppendAsync(
                SessionStream(allowedProposal.Proposal),
                ExpectedVersion.Any,
                [.. alongside ?? [], CoreJsonContext.Event(PipelineEventTypes.ProposalCompleted, data, CoreJsonContext.Default.ProposalCompletedData, body)],
                cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ForgetAdmission(data.ProposalId);
            _budgets.Settle(allowedProposal.Reservation, actualCosts);
            if (allowedProposal.Lease is { } lease)
            {
                _locks.Release(lease.Id);
            }
        }
    }

    /// <summary>The latest recorded decision on <paramref name="proposalId"/> (what decided and the inputs it saw), or null when none was recorded.</summary>
    public async Task<DecisionRecord?> ExplainAsync(ProposalId proposalId, CancellationToken cancellationToken = default)
    {
        var id = proposalId.ToString();
        DecisionRecord? latest = null;

        // A scan of the whole log: fine for an embedded store; a read model indexed by proposal id can replace it.
        await foreach (var e in _store.ReadAllAsync(1, cancellationToken).ConfigureAwait(false))
        {
            if (e.Type == PipelineEventTypes.ProposalDecided)
            {
                var record = CoreJsonContext.Read(e, CoreJsonContext.Default.DecisionRecord);
                if (record.ProposalId == id)
                {
                    latest = record;
                }
            }
        }

        return latest;
    }

    /// <summary>The policy engine the pipeline decides with; its policy may be replaced while the pipeline runs (<see cref="PolicyEngine.Use"/>).</summary>
    public PolicyEngine Engine => _engine;

    private static string SessionStream(Proposal proposal) => "session-" + proposal.Principal.SessionId;

    private static Decision KillSwitchDecision(Proposal proposal, PolicyContext context, EngagedKillSwitch blocking)
    {
        var reason = blocking.ToString();
        return new Decision(
            DecisionKind.Deny,
            KillSwitchRule,
            RiskLevel.Critical,
            reason,
            new Explanation(DecisionSource.Rule, KillSwitchRule, reason, proposal, context, []));
    }

    private static Decision Refused(Decision decision, string decidedBy, string reason) => decision with
    {
        Kind = DecisionKind.Deny,
        Reason = reason,
        Explanation = decision.Explanation with { DecidedBy = decidedBy, Detail = reason },
    };

    private static GovernanceResult FailClosed(Decision decision, Exception error) =>
        new(Refused(decision, "record", $"fail closed: the decision could not be recorded ({error.Message})"), PipelineStage.Record);

    private int NextSessionCount(string sessionId)
    {
        lock (_gate)
        {
            var count = _sessionCounts.GetValueOrDefault(sessionId);
            _sessionCounts[sessionId] = count + 1;
            return count;
        }
    }

    // Budget, then the lease, then the record: the allow exists only once the record is committed.
    private async Task<GovernanceResult> AdmitAsync(
        Proposal proposal,
        BudgetEstimate estimate,
        Decision decision,
        PipelineStage stage,
        ApprovalTicketId? ticket,
        ApprovalTicketId? standing,
        CancellationToken cancellationToken)
    {
        if (!_budgets.TryReserve(proposal.Principal, estimate, out var reservation, out var denial))
        {
            return await RefuseAsync(proposal, Refused(decision, "budget", denial.Reason), PipelineStage.Budget, ticket, cancellationToken).ConfigureAwait(false);
        }

        Lease? lease = null;
        try
        {
            if (proposal.Kind == ProposalKind.WriteFile)
            {
                var locked = await _locks.AcquireAsync(
                    "path:" + proposal.FullPath,
                    LockMode.Exclusive,
                    proposal.Principal.SessionId,
                    _options.LockTtl,
                    _options.LockWait,
                    cancellationToken).ConfigureAwait(false);
                if (!locked.Acquired)
                {
                    _budgets.Release(reservation);
                    return await RefuseAsync(proposal, Refused(decision, "lock", locked.Denial!.Reason), PipelineStage.Lock, ticket, cancellationToken).ConfigureAwait(false);
                }

                lease = locked.Lease;
            }

            var record = Record(proposal, decision, stage, ticket, standing, reservation.Id, lease?.Id) with
            {
                Reserved = RecordedAmounts.Of(reservation.Amounts),
                LeaseResource = lease?.Resource,
                LeaseExpiresAt = lease?.ExpiresAt,
            };
            await AppendDecisionAsync(proposal, record, cancellationToken).ConfigureAwait(false);
            TrackAdmission(proposal, record, reservation, lease);
            return new GovernanceResult(decision, stage, new AllowedProposal(proposal, decision, reservation, lease, _time.GetUtcNow()));
        }
#pragma warning disable CA1031 // Fail closed: whatever stopped the record, the proposal must not run.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _budgets.Release(reservation);
            if (lease is not null)
            {
                _locks.Release(lease.Id);
            }

            if (ex is OperationCanceledException)
            {
                throw;
            }

            return FailClosed(decision, ex);
        }
    }

    // A deny, steer or pending decision: recorded, and when the record fails still a deny.
    private async Task<GovernanceResult> RefuseAsync(Proposal proposal, Decision decision, PipelineStage stage, ApprovalTicketId? ticket, CancellationToken cancellationToken)
    {
        try
        {
            await AppendDecisionAsync(proposal, Record(proposal, decision, stage, ticket, null, null, null), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw;
        }
#pragma warning disable CA1031 // Fail closed: the answer stays a refusal whatever went wrong.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return FailClosed(decision, ex);
        }

        return new GovernanceResult(decision, stage);
    }

    private Task<AppendResult> AppendDecisionAsync(Proposal proposal, DecisionRecord record, CancellationToken cancellationToken) =>
        _store.AppendAsync(
            SessionStream(proposal),
            ExpectedVersion.Any,
            [CoreJsonContext.Event(PipelineEventTypes.ProposalDecided, record, CoreJsonContext.Default.DecisionRecord)],
            cancellationToken);

    private DecisionRecord Record(
        Proposal proposal,
        Decision decision,
        PipelineStage stage,
        ApprovalTicketId? ticket,
        ApprovalTicketId? standing,
        BudgetReservationId? reservation,
        LeaseId? lease)
    {
        var explanation = decision.Explanation;
        var context = explanation.Context;
        var arguments = proposal.Arguments;

        // What is recorded never holds a secret's value, in any form: the secret-leak evaluator denies such a proposal,
        // and its record names the secret instead.
        var redactor = _options.Redactor?.Invoke() ?? SecretRedactor.None;
        string? R(string? text) => text is null || redactor.IsEmpty ? text : redactor.Redact(text);
        var details = ProposalDetails.Of(proposal);
        if (details is not null && !redactor.IsEmpty)
        {
            details = details with
            {
                Env = details.Env.ToDictionary(e => e.Key, e => R(e.Value)!, StringComparer.Ordinal),
                Stdin = details.Stdin is { Text: { } stdin } s ? s with { Text = R(stdin) } : details.Stdin,
                Content = details.Content is { Text: { } content } c ? c with { Text = R(content) } : details.Content,
                Program = R(details.Program),
                Workdir = R(details.Workdir),
            };
        }

        var inputs = new DecisionInputs(
            proposal.Kind.Name(),
            proposal.Principal.Agent.Value,
            proposal.Principal.RoleName,
            proposal.Principal.SessionId,
            proposal.Workspace,
            R(arguments.Command),
            R(proposal.ProgramName),
            [.. arguments.Args.Select(a => R(a)!)],
            R(proposal.ArgumentLine)!,
            R(arguments.Path),
            R(proposal.FullPath),
            [.. arguments.Recipients.Select(r => R(r)!)],
            arguments.Other.ToDictionary(o => o.Key, o => R(o.Value)!, StringComparer.Ordinal),
            context.Now,
            context.SessionProposalCount,
            details);
        return new DecisionRecord(
            proposal.Id.ToString(),
            proposal.Hash,
            Lower(decision.Kind.ToString()),
            StageName(stage),
            decision.Rule,
            Lower(decision.Risk.ToString()),
            decision.Reason,
            Lower(explanation.Source.ToString()),
            explanation.DecidedBy,
            explanation.Detail,
            inputs,
            [.. explanation.Evaluators.Select(r => new RecordedVerdict(r.Evaluator, Lower(r.Verdict.Kind.ToString()), r.Verdict.Reason))],
            ticket?.ToString(),
            standing?.ToString(),
            reservation?.ToString(),
            lease?.ToString(),
            PolicyVersion: decision.PolicyVersion ?? _engine.Policy.Version);
    }

    private static string StageName(PipelineStage stage) => PipelineTelemetry.StageName(stage);

    // Event data spells enum values in lower case, like the policy files do.
#pragma warning disable CA1308 // These are identifiers for people and JSON, not text compared across cultures.
    private static string Lower(string name) => name.ToLowerInvariant();
#pragma warning restore CA1308
}
