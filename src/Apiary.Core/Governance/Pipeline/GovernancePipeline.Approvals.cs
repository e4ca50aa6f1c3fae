using Apiary.Agents;
using Apiary.Events;
using Apiary.Governance.Budgets;

namespace Apiary.Governance.Pipeline;

/// <summary>An approval ticket that does not exist in the store, or whose recorded proposal no longer matches its hash.</summary>
public sealed class ApprovalTicketException : ApiaryException
{
    /// <summary>Creates the exception with a message for people.</summary>
    public ApprovalTicketException(string message)
        : base(message)
    {
    }
}

public sealed partial class GovernancePipeline
{
    private readonly Dictionary<ApprovalTicketId, ApprovalTicket> _openTickets = [];
    private readonly Dictionary<(string Session, string Rule), StandingApproval> _standing = [];

    /// <summary>The tickets waiting for an answer, as far as this pipeline knows (see <see cref="LoadAsync"/>).</summary>
    public IReadOnlyList<ApprovalTicket> OpenTickets
    {
        get
        {
            lock (_gate)
            {
                return [.. _openTickets.Values.OrderBy(t => t.RequestedAt)];
            }
        }
    }

    /// <summary>
    /// Rebuilds the open tickets, the standing session approvals (with what is left of their count), the session
    /// proposal counts, the budget reservations and spending, the leases and the kill switches from the store. Call once
    /// after a restart, before submitting, on fresh budget, lock and kill-switch stages.
    /// </summary>
    /// <exception cref="ApprovalTicketException">A ticket's recorded proposal does not match its hash.</exception>
    public async Task LoadAsync(CancellationToken cancellationToken = default)
    {
        var tickets = new Dictionary<string, TicketFold>(StringComparer.Ordinal);
        var standingUses = new Dictionary<string, int>(StringComparer.Ordinal);
        var sessions = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var state = new StateFold(this);
        long position = 0;
        await foreach (var e in _store.ReadAllAsync(1, cancellationToken).ConfigureAwait(false))
        {
            position = e.Position;
            state.Apply(e);
            if (e.Stream.StartsWith("approval-", StringComparison.Ordinal))
            {
                if (tickets.TryGetValue(e.Stream, out var fold))
                {
                    fold.Apply(e);
                }
                else if (e.Type == PipelineEventTypes.ApprovalRequested)
                {
                    tickets[e.Stream] = TicketFold.Start(e);
                }
            }
            else if (e.Type == PipelineEventTypes.ProposalDecided)
            {
                var record = CoreJsonContext.Read(e, CoreJsonContext.Default.DecisionRecord);
                if (!sessions.TryGetValue(record.Inputs.Session, out var ids))
                {
                    sessions[record.Inputs.Session] = ids = new HashSet<string>(StringComparer.Ordinal);
                }

                ids.Add(record.ProposalId);
                if (record.StandingTicketId is { } standing && record.Decision == "allow")
                {
                    standingUses[standing] = standingUses.GetValueOrDefault(standing) + 1;
                }
            }
        }

        state.Finish(position);
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            _openTickets.Clear();
            _standing.Clear();
            _sessionCounts.Clear();
            foreach (var (session, ids) in sessions)
            {
                _sessionCounts[session] = ids.Count;
            }

            foreach (var fold in tickets.Values)
            {
                var requested = fold.Requested;
                if (fold.State == ApprovalState.Open)
                {
                    _openTickets[fold.Id] = ToTicket(requested);
                }
                else if (fold.Scope == ApprovalScope.Session && fold.SessionExpiresAt > now)
                {
                    var left = (fold.SessionLimit ?? 0) - standingUses.GetValueOrDefault(fold.Id.ToString());
                    if (left > 0)
                    {
                        _standing[(requested.Proposal.Session, requested.Rule)] = new StandingApproval(fold.Id, left, fold.SessionExpiresAt.Value);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Approves a ticket: <see cref="ApprovalScope.Once"/> for its proposal alone, <see cref="ApprovalScope.Session"/>
    /// also for later proposals of the session that the same rule sends to approval (up to
    /// <see cref="GovernancePipelineOptions.SessionApprovalLimit"/>, for <see cref="GovernancePipelineOptions.SessionApprovalTtl"/>).
    /// A ticket past its expiry is expired instead. Returns where the ticket stands afterwards; a ticket already answered
    /// keeps its answer.
    /// </summary>
    /// <exception cref="ApprovalTicketException">No such ticket.</exception>
    public async Task<ApprovalAnswer> ApproveAsync(ApprovalTicketId ticketId, ApprovalScope scope, string by, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(by);
        var fold = await ReadTicketAsync(ticketId, cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        if (fold.State != ApprovalState.Open || now >= fold.Requested.ExpiresAt)
        {
            return await ExpireIfDueAsync(fold, cancellationToken).ConfigureAwait(false);
        }

        var session = scope == ApprovalScope.Session;
        var data = new ApprovalGrantedData(
            ticketId.ToString(),
            session ? "session" : "once",
            by,
            now,
            session ? _options.SessionApprovalLimit : null,
            session ? now + _options.SessionApprovalTtl : null);
        var answer = await AnswerAsync(fold, CoreJsonContext.Event(PipelineEventTypes.ApprovalGranted, data, CoreJsonContext.Default.ApprovalGrantedData), cancellationToken).ConfigureAwait(false);
        if (answer.State == ApprovalState.Granted && session)
        {
            lock (_gate)
            {
                _standing[(fold.Requested.Proposal.Session, fold.Requested.Rule)] =
                    new StandingApproval(ticketId, _options.SessionApprovalLimit, now + _options.SessionApprovalTtl);
            }
        }

        return answer;
    }

    /// <summary>Refuses a ticket with <paramref name="reason"/>. Returns where the ticket stands afterwards; a ticket already answered keeps its answer.</summary>
    /// <exception cref="ApprovalTicketException">No such ticket.</exception>
    public async Task<ApprovalAnswer> DenyAsync(ApprovalTicketId ticketId, string reason, string by, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        ArgumentException.ThrowIfNullOrEmpty(by);
        var fold = await ReadTicketAsync(ticketId, cancellationToken).ConfigureAwait(false);
        if (fold.State != ApprovalState.Open || _time.GetUtcNow() >= fold.Requested.ExpiresAt)
        {
            return await ExpireIfDueAsync(fold, cancellationToken).ConfigureAwait(false);
        }

        var data = new ApprovalDeniedData(ticketId.ToString(), reason, by, _time.GetUtcNow());
        return await AnswerAsync(fold, CoreJsonContext.Event(PipelineEventTypes.ApprovalDenied, data, CoreJsonContext.Default.ApprovalDeniedData), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits until the ticket is answered, watching the store (so an answer from another process counts too), for at
    /// most <paramref name="timeout"/> on the pipeline's clock. A ticket whose expiry passes meanwhile is expired
    /// (recorded). Returns the answer: granted, denied, expired, consumed, or still open when the wait ran out first.
    /// </summary>
    /// <exception cref="ApprovalTicketException">No such ticket.</exception>
    public async Task<ApprovalAnswer> WaitForApprovalAsync(ApprovalTicketId ticketId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        var fold = await ReadTicketAsync(ticketId, cancellationToken).ConfigureAwait(false);
        var left = fold.Requested.ExpiresAt - _time.GetUtcNow();
        if (fold.State != ApprovalState.Open || left <= TimeSpan.Zero)
        {
            return await ExpireIfDueAsync(fold, cancellationToken).ConfigureAwait(false);
        }

        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        using (_time.CreateTimer(static s => ((CancellationTokenSource)s!).Cancel(), stop, timeout < left ? timeout : left, Timeout.InfiniteTimeSpan))
        {
            try
            {
                // From the position after the last ticket event read: nothing appended since can be missed.
                await foreach (var e in _store.SubscribeAsync(fold.LastPosition + 1, stop.Token).ConfigureAwait(false))
                {
                    if (e.Stream == ticketId.Stream)
                    {
                        fold.Apply(e);
                        if (fold.State != ApprovalState.Open)
                        {
                            return fold.Answer();
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The wait or the ticket ran out; see below which.
            }
        }

        return await ExpireIfDueAsync(await ReadTicketAsync(ticketId, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Expires (and records) every open ticket this pipeline knows whose expiry has passed. Returns how many.</summary>
    public async Task<int> ExpireDueAsync(CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        List<ApprovalTicketId> due;
        lock (_gate)
        {
            due = [.. _openTickets.Values.Where(t => t.ExpiresAt <= now).Select(t => t.Id)];
        }

        var expired = 0;
        foreach (var id in due)
        {
            var answer = await ExpireIfDueAsync(await ReadTicketAsync(id, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            expired += answer.State == ApprovalState.Expired ? 1 : 0;
        }

        return expired;
    }

    /// <summary>
    /// Resumes the exact proposal of a granted ticket, once: records <c>approval.consumed</c> (against the ticket's
    /// stream version, so two resumers, or a resume after a restart, cannot both succeed), checks the kill switch
    /// again, reserves the budget estimated at submission and takes the lease. A ticket that is not granted, or was
    /// already consumed, gives a deny that is returned and not recorded.
    /// </summary>
    /// <exception cref="ApprovalTicketException">No such ticket, or its proposal no longer matches its hash.</exception>
    public async Task<GovernanceResult> ResumeAsync(ApprovalTicketId ticketId, CancellationToken cancellationToken = default)
    {
        var fold = await ReadTicketAsync(ticketId, cancellationToken).ConfigureAwait(false);
        var ticket = ToTicket(fold.Requested);
        var proposal = ticket.Proposal;
        var context = PolicyContext.At(_time, NextSessionCount(proposal.Principal.SessionId));
        var approved = new Decision(
            DecisionKind.Allow,
            ticket.Rule,
            ticket.Risk,
            null,
            new Explanation(DecisionSource.Rule, $"approval {ticketId} by {fold.By}", ticket.Reason, proposal, context, []));
        return await PipelineTelemetry.MeasureAsync(
            PipelineTelemetry.ResumeActivity, proposal, () => ResumeGrantedAsync(ticketId, fold, ticket, approved, cancellationToken)).ConfigureAwait(false);
    }

    // The resume of a ticket read: consumed once, then admitted like any allow.
    private async Task<GovernanceResult> ResumeGrantedAsync(ApprovalTicketId ticketId, TicketFold fold, ApprovalTicket ticket, Decision approved, CancellationToken cancellationToken)
    {
        var proposal = ticket.Proposal;
        var context = approved.Explanation.Context;
        if (fold.State != ApprovalState.Granted)
        {
            var state = fold.State == ApprovalState.Consumed ? "was already consumed" : $"is {Lower(fold.State.ToString())}, not granted";
            return new GovernanceResult(Refused(approved, "approval", $"ticket {ticketId} {state}"), PipelineStage.Approval);
        }

        if (_killSwitch.IsBlocked(proposal.Principal) is { } blocking)
        {
            return await RefuseAsync(proposal, KillSwitchDecision(proposal, context, blocking), PipelineStage.KillSwitch, ticketId, cancellationToken).ConfigureAwait(false);
        }

        var consumed = new ApprovalConsumedData(ticketId.ToString(), proposal.Id.ToString(), _time.GetUtcNow());
        try
        {
            await _store.AppendAsync(
                ticketId.Stream,
                ExpectedVersion.Exactly(fold.Version),
                [CoreJsonContext.Event(PipelineEventTypes.ApprovalConsumed, consumed, CoreJsonContext.Default.ApprovalConsumedData)],
                cancellationToken).ConfigureAwait(false);
        }
        catch (WrongExpectedVersionException)
        {
            return new GovernanceResult(Refused(approved, "approval", $"ticket {ticketId} was already consumed"), PipelineStage.Approval);
        }
        catch (OperationCanceledException)
        {
            throw;
        }
#pragma warning disable CA1031 // Fail closed: a ticket that cannot be marked consumed must not run.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return FailClosed(approved, ex);
        }

        return await AdmitAsync(proposal, ticket.Estimate, approved, PipelineStage.Approval, ticketId, null, cancellationToken).ConfigureAwait(false);
    }

    private async Task<GovernanceResult> OpenTicketAsync(Proposal proposal, BudgetEstimate estimate, Decision decision, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var ticket = new ApprovalTicket(ApprovalTicketId.New(), proposal, estimate, decision.Rule, decision.Risk, decision.Reason, now, now + _options.TicketTtl);

        // The decision first: a ticket whose decision was never recorded must not exist to be approved.
        var refused = await RefuseAsync(proposal, decision, PipelineStage.Approval, ticket.Id, cancellationToken).ConfigureAwait(false);
        if (refused.Decision.Kind != DecisionKind.Pending)
        {
            return refused;
        }

        try
        {
            await _store.AppendAsync(
                ticket.Id.Stream,
                ExpectedVersion.NoStream,
                [CoreJsonContext.Event(PipelineEventTypes.ApprovalRequested, ToData(ticket), CoreJsonContext.Default.ApprovalRequestedData)],
                cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw;
        }
#pragma warning disable CA1031 // Fail closed: without a recorded ticket nobody can approve, so the answer is a deny.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return FailClosed(decision, ex);
        }

        lock (_gate)
        {
            _openTickets[ticket.Id] = ticket;
        }

        return new GovernanceResult(decision, PipelineStage.Approval, Ticket: ticket);
    }

    private ApprovalTicketId? TryUseStandingApproval(string session, string rule)
    {
        lock (_gate)
        {
            if (_standing.TryGetValue((session, rule), out var standing) && standing.Remaining > 0 && _time.GetUtcNow() < standing.ExpiresAt)
            {
                _standing[(session, rule)] = standing with { Remaining = standing.Remaining - 1 };
                return standing.Ticket;
            }

            return null;
        }
    }

    private void ReturnStandingApproval(string session, string rule, ApprovalTicketId ticket)
    {
        lock (_gate)
        {
            if (_standing.TryGetValue((session, rule), out var standing) && standing.Ticket == ticket)
            {
                _standing[(session, rule)] = standing with { Remaining = standing.Remaining + 1 };
            }
        }
    }

    // Appends an answer against the version read; when someone answered first, their answer stands.
    private async Task<ApprovalAnswer> AnswerAsync(TicketFold fold, EventData answer, CancellationToken cancellationToken)
    {
        try
        {
            await _store.AppendAsync(fold.Id.Stream, ExpectedVersion.Exactly(fold.Version), [answer], cancellationToken).ConfigureAwait(false);
        }
        catch (WrongExpectedVersionException)
        {
            return (await ReadTicketAsync(fold.Id, cancellationToken).ConfigureAwait(false)).Answer();
        }

        lock (_gate)
        {
            _openTickets.Remove(fold.Id);
        }

        // The ticket as this answer left it: a waiter may already have resumed (consumed) it since, which must not turn
        // a successful approval into "already used" for the one who approved.
        return (await ReadTicketAsync(fold.Id, cancellationToken, throughVersion: fold.Version + 1).ConfigureAwait(false)).Answer() with { Answered = true };
    }

    private async Task<ApprovalAnswer> ExpireIfDueAsync(TicketFold fold, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (fold.State != ApprovalState.Open || now < fold.Requested.ExpiresAt)
        {
            return fold.Answer();
        }

        var data = new ApprovalExpiredData(fold.Id.ToString(), now);
        return await AnswerAsync(fold, CoreJsonContext.Event(PipelineEventTypes.ApprovalExpired, data, CoreJsonContext.Default.ApprovalExpiredData), cancellationToken).ConfigureAwait(false);
    }

    private async Task<TicketFold> ReadTicketAsync(ApprovalTicketId ticketId, CancellationToken cancellationToken, long throughVersion = long.MaxValue)
    {
        TicketFold? fold = null;
        await foreach (var e in _store.ReadStreamAsync(ticketId.Stream, 1, cancellationToken).ConfigureAwait(false))
        {
            if (e.StreamVersion > throughVersion)
            {
                break;
            }

            if (fold is null)
            {
                fold = TicketFold.Start(e);
            }
            else
            {
                fold.Apply(e);
            }
        }

        return fold ?? throw new ApprovalTicketException($"there is no approval ticket {ticketId}");
    }

    private ApprovalRequestedData ToData(ApprovalTicket ticket)
    {
        var p = ticket.Proposal;
        var a = p.Arguments;
        return new ApprovalRequestedData(
            ticket.Id.ToString(),
            ticket.Rule,
            Lower(ticket.Risk.ToString()),
            ticket.Reason,
            ticket.RequestedAt,
            ticket.ExpiresAt,
            Redacted(ProposalSnapshot.Of(p)),
            new EstimateSnapshot(ticket.Estimate.Commands, ticket.Estimate.WallTime, ticket.Estimate.Tokens, ticket.Estimate.Cost));
    }

    // A ticket never records a secret's value either. A proposal that held one cannot be rebuilt from the record (its
    // hash no longer matches), so such a ticket can never run: it fails closed (the evaluator denies it first anyway).
    private ProposalSnapshot Redacted(ProposalSnapshot s)
    {
        var redactor = _options.Redactor?.Invoke();
        if (redactor is null || redactor.IsEmpty)
        {
            return s;
        }

        string? R(string? text) => text is null ? null : redactor.Redact(text);
        return s with
        {
            Command = R(s.Command),
            Args = [.. s.Args.Select(a => R(a)!)],
            Path = R(s.Path),
            Recipients = [.. s.Recipients.Select(r => R(r)!)],
            Other = s.Other.ToDictionary(o => o.Key, o => R(o.Value)!, StringComparer.Ordinal),
            Program = R(s.Program),
            Env = s.Env?.ToDictionary(e => e.Key, e => R(e.Value)!, StringComparer.Ordinal),
            Stdin = R(s.Stdin),
            Workdir = R(s.Workdir),
            Content = R(s.Content),
        };
    }

    // Rebuilds the exact proposal a ticket was opened for, and refuses one whose hash no longer matches.
    private static ApprovalTicket ToTicket(ApprovalRequestedData data)
    {
        var s = data.Proposal;
        if (!ProposalKinds.TryParse(s.Kind, out var kind) || !Enum.TryParse<RiskLevel>(data.Risk, ignoreCase: true, out var risk))
        {
            throw new ApprovalTicketException($"approval ticket {data.TicketId} records an unknown kind '{s.Kind}' or risk '{data.Risk}'");
        }

        var principal = new Principal(AgentName.Parse(s.Agent), s.Role == "manager" ? AgentRole.Manager : AgentRole.Worker, s.Session);
        var proposal = Proposal.Create(principal, kind, s.Workspace, s.Arguments(), new ProposalId(Guid.Parse(s.Id)));
        if (proposal.Hash != s.Hash)
        {
            throw new ApprovalTicketException($"approval ticket {data.TicketId}: the recorded proposal does not match its hash {s.Hash}");
        }

        var estimate = new BudgetEstimate(data.Estimate.Commands, data.Estimate.WallTime, data.Estimate.Tokens, data.Estimate.Cost);
        return new ApprovalTicket(new ApprovalTicketId(Guid.Parse(data.TicketId)), proposal, estimate, data.Rule, risk, data.Reason, data.RequestedAt, data.ExpiresAt);
    }

    private sealed record StandingApproval(ApprovalTicketId Ticket, int Remaining, DateTimeOffset ExpiresAt);

    /// <summary>A ticket's state folded from its stream.</summary>
    private sealed class TicketFold
    {
        private TicketFold(ApprovalRequestedData requested, RecordedEvent first)
        {
            Requested = requested;
            Id = new ApprovalTicketId(Guid.Parse(requested.TicketId));
            Version = first.StreamVersion;
            LastPosition = first.Position;
        }

        public ApprovalRequestedData Requested { get; }

        public ApprovalTicketId Id { get; }

        public ApprovalState State { get; private set; } = ApprovalState.Open;

        public ApprovalScope? Scope { get; private set; }

        public string? By { get; private set; }

        public string? Reason { get; private set; }

        public DateTimeOffset? At { get; private set; }

        public int? SessionLimit { get; private set; }

        public DateTimeOffset? SessionExpiresAt { get; private set; }

        public long Version { get; private set; }

        public long LastPosition { get; private set; }

        public static TicketFold Start(RecordedEvent e) =>
            e.Type == PipelineEventTypes.ApprovalRequested
                ? new TicketFold(CoreJsonContext.Read(e, CoreJsonContext.Default.ApprovalRequestedData), e)
                : throw new ApprovalTicketException($"stream {e.Stream} does not start with {PipelineEventTypes.ApprovalRequested}");

        public void Apply(RecordedEvent e)
        {
            Version = e.StreamVersion;
            LastPosition = e.Position;
            switch (e.Type)
            {
                case PipelineEventTypes.ApprovalGranted:
                    var granted = CoreJsonContext.Read(e, CoreJsonContext.Default.ApprovalGrantedData);
                    State = ApprovalState.Granted;
                    Scope = granted.Scope == "session" ? ApprovalScope.Session : ApprovalScope.Once;
                    (By, At, SessionLimit, SessionExpiresAt) = (granted.By, granted.At, granted.SessionLimit, granted.SessionExpiresAt);
                    break;
                case PipelineEventTypes.ApprovalDenied:
                    var denied = CoreJsonContext.Read(e, CoreJsonContext.Default.ApprovalDeniedData);
                    (State, By, Reason, At) = (ApprovalState.Denied, denied.By, denied.Reason, denied.At);
                    break;
                case PipelineEventTypes.ApprovalExpired:
                    (State, At) = (ApprovalState.Expired, CoreJsonContext.Read(e, CoreJsonContext.Default.ApprovalExpiredData).At);
                    break;
                case PipelineEventTypes.ApprovalConsumed:
                    State = ApprovalState.Consumed;
                    break;
                default:
                    break;
            }
        }

        public ApprovalAnswer Answer() => new(Id, State, Scope, By, Reason, At);
    }
}
