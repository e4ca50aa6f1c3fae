using Apiary.Agents;
using Apiary.Events;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;

namespace Apiary.Governance.Pipeline;

/// <summary>
/// The durable side of the budget, lock and kill-switch stages. Their state is folded from what the pipeline already
/// records: an allowed <c>proposal.decided</c> carries its reservation and lease, <c>proposal.completed</c> settles and
/// releases them, <c>proposal.abandoned</c> gives them back for a session that died, and the <c>kill-switch</c> stream
/// holds every engage and release, and <c>budget.settled</c> records what a model call used. <see cref="LoadAsync"/> rebuilds all of it; <see cref="RecoverAsync"/> closes
/// what dead sessions left open; <see cref="FollowAsync"/> applies kill switches engaged by other processes.
/// </summary>
public sealed partial class GovernancePipeline
{
    /// <summary>The stream every kill-switch engage and release is recorded in.</summary>
    public const string KillSwitchStream = "kill-switch";

    // Allowed proposals with no completion or abandonment yet, by proposal id: what recovery may have to give back.
    private readonly Dictionary<string, OpenAdmission> _admissions = new(StringComparer.Ordinal);
    private long _loadedPosition;

    /// <summary>The allowed proposals not yet completed or abandoned, as far as this pipeline knows.</summary>
    public IReadOnlyList<OpenAdmission> OpenAdmissions
    {
        get
        {
            lock (_gate)
            {
                return [.. _admissions.Values.OrderBy(a => a.AllowedAt)];
            }
        }
    }

    /// <summary>The kill switches engaged now.</summary>
    public IReadOnlyList<EngagedKillSwitch> EngagedKillSwitches => _killSwitch.EngagedSwitches;

    /// <summary>
    /// A token cancelled when a kill switch covering <paramref name="principal"/> engages (here or, through
    /// <see cref="FollowAsync"/>, in another process); running work passes it on.
    /// </summary>
    public CancellationToken KillTokenFor(Principal principal) => _killSwitch.TokenFor(principal);

    /// <summary>The engaged kill switch that blocks <paramref name="principal"/>, or null.</summary>
    public EngagedKillSwitch? IsBlocked(Principal principal) => _killSwitch.IsBlocked(principal);

    /// <summary>
    /// Engages a kill switch: recorded first (nothing is stopped on a switch that is not on the record), then applied,
    /// which blocks new proposals in the scope and cancels the tokens of running work there. Other processes on the
    /// same store apply it through <see cref="FollowAsync"/>.
    /// </summary>
    /// <returns>The switch as engaged; when it already was, the standing one (its first reason stands).</returns>
    /// <exception cref="EventStoreException">It could not be recorded; nothing changed.</exception>
    public async Task<EngagedKillSwitch> EngageKillSwitchAsync(KillSwitchScope scope, string reason, string by, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        if (_killSwitch.EngagedSwitches.FirstOrDefault(s => s.Scope == scope) is { } standing)
        {
            return standing;
        }

        var data = new KillSwitchData(LevelName(scope.Level), scope.Id, by, _time.GetUtcNow(), reason);
        await _store.AppendAsync(KillSwitchStream, ExpectedVersion.Any, [CoreJsonContext.Event(PipelineEventTypes.KillSwitchEngaged, data, CoreJsonContext.Default.KillSwitchData)], cancellationToken).ConfigureAwait(false);
        _killSwitch.Engage(scope, reason, by);
        return _killSwitch.EngagedSwitches.First(s => s.Scope == scope);
    }

    /// <summary>Releases a kill switch, recorded first. Returns false when it was not engaged.</summary>
    /// <exception cref="EventStoreException">It could not be recorded; nothing changed.</exception>
    public async Task<bool> ReleaseKillSwitchAsync(KillSwitchScope scope, string by, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        if (!_killSwitch.EngagedSwitches.Any(s => s.Scope == scope))
        {
            return false;
        }

        var data = new KillSwitchData(LevelName(scope.Level), scope.Id, by, _time.GetUtcNow());
        await _store.AppendAsync(KillSwitchStream, ExpectedVersion.Any, [CoreJsonContext.Event(PipelineEventTypes.KillSwitchReleased, data, CoreJsonContext.Default.KillSwitchData)], cancellationToken).ConfigureAwait(false);
        _killSwitch.Release(scope, by);
        return true;
    }

    /// <summary>
    /// Recovery after a restart: every allowed proposal whose session is no longer alive and that never completed gets a
    /// <c>proposal.abandoned</c> event, and its budget reservation and lease are given back. Call after
    /// <see cref="LoadAsync"/>. A server that owns every session passes <c>_ =&gt; false</c>.
    /// </summary>
    /// <returns>What was abandoned.</returns>
    public async Task<IReadOnlyList<OpenAdmission>> RecoverAsync(Func<string, bool> isSessionAlive, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(isSessionAlive);
        var dead = OpenAdmissions.Where(a => !isSessionAlive(a.Session)).ToList();
        foreach (var admission in dead)
        {
            var data = new ProposalAbandonedData(admission.ProposalId, admission.ReservationId, admission.LeaseId, "its session ended without completing it", _time.GetUtcNow());
            await _store.AppendAsync(
                "session-" + admission.Session,
                ExpectedVersion.Any,
                [CoreJsonContext.Event(PipelineEventTypes.ProposalAbandoned, data, CoreJsonContext.Default.ProposalAbandonedData)],
                cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                _admissions.Remove(admission.ProposalId);
            }

            _budgets.Apply(new BudgetReleased(admission.Reservation.Id, admission.Reservation.Amounts, data.At));
            if (admission.Lease is { } lease)
            {
                _locks.Apply(new LeaseReleased(lease.Id, lease.Resource, lease.Owner, data.At));
            }
        }

        return dead;
    }

    /// <summary>
    /// Applies kill switches engaged or released by other processes on the same store, from where <see cref="LoadAsync"/>
    /// stopped, until cancelled. Engaging cancels the tokens of this process's running work in the scope.
    /// </summary>
    public async Task FollowAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var e in _store.SubscribeAsync(Volatile.Read(ref _loadedPosition) + 1, cancellationToken).ConfigureAwait(false))
            {
                if (e.Stream == KillSwitchStream && ToKillSwitchFact(e) is { } fact)
                {
                    _killSwitch.Apply(fact);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private void TrackAdmission(Proposal proposal, DecisionRecord record, BudgetReservation reservation, Lease? lease)
    {
        lock (_gate)
        {
            _admissions[record.ProposalId] = new OpenAdmission(record.ProposalId, proposal.Principal.SessionId, proposal.Principal.Agent.Value, reservation, lease, _time.GetUtcNow());
        }
    }

    private void ForgetAdmission(string proposalId)
    {
        lock (_gate)
        {
            _admissions.Remove(proposalId);
        }
    }

    private static string LevelName(KillSwitchLevel level) => Lower(level.ToString());

    private static KillSwitchFact? ToKillSwitchFact(RecordedEvent e)
    {
        var data = CoreJsonContext.Read(e, CoreJsonContext.Default.KillSwitchData);
        var scope = data.Level switch
        {
            "global" => KillSwitchScope.Global,
            "agent" => new KillSwitchScope(KillSwitchLevel.Agent, data.Id),
            "session" => new KillSwitchScope(KillSwitchLevel.Session, data.Id),
            _ => (KillSwitchScope?)null,
        };
        return (scope, e.Type) switch
        {
            (null, _) => null,
            ({ } s, PipelineEventTypes.KillSwitchEngaged) => new KillSwitchEngaged(s, data.Reason ?? "", data.By, data.At),
            ({ } s, PipelineEventTypes.KillSwitchReleased) => new KillSwitchReleased(s, data.By, data.At),
            _ => null,
        };
    }

    /// <summary>Folds the budget, lease and kill-switch state out of the log, event by event, during <see cref="LoadAsync"/>.</summary>
    private sealed class StateFold(GovernancePipeline pipeline)
    {
        private readonly Dictionary<string, OpenAdmission> _open = new(StringComparer.Ordinal);

        public void Apply(RecordedEvent e)
        {
            switch (e.Type)
            {
                case PipelineEventTypes.ProposalDecided:
                    var record = CoreJsonContext.Read(e, CoreJsonContext.Default.DecisionRecord);
                    if (record is not { Decision: "allow", ReservationId: { } reservationId, Reserved: { } reserved })
                    {
                        return;
                    }

                    var principal = new Principal(AgentName.Parse(record.Inputs.Agent), AgentRole.Worker, record.Inputs.Session);
                    var at = record.Inputs.Now;
                    var reservation = new BudgetReservation(ParseReservation(reservationId), BudgetScope.Of(principal), reserved.ToAmounts(), at);
                    pipeline._budgets.Apply(new BudgetReserved(reservation.Id, reservation.Scopes, reservation.Amounts, at));
                    Lease? lease = null;
                    if (record is { LeaseId: { } leaseId, LeaseResource: { } resource, LeaseExpiresAt: { } expires })
                    {
                        lease = new Lease(new LeaseId(Guid.Parse(leaseId)), resource, LockMode.Exclusive, record.Inputs.Session, at, expires);
                        pipeline._locks.Apply(new LeaseAcquired(lease, at));
                    }

                    _open[record.ProposalId] = new OpenAdmission(record.ProposalId, record.Inputs.Session, record.Inputs.Agent, reservation, lease, at);
                    break;

                case PipelineEventTypes.ProposalCompleted:
                    var completed = CoreJsonContext.Read(e, CoreJsonContext.Default.ProposalCompletedData);
                    if (_open.Remove(completed.ProposalId, out var done))
                    {
                        var actual = new BudgetAmounts(completed.Commands, completed.WallTime, completed.Tokens, completed.Cost);
                        pipeline._budgets.Apply(new BudgetSettled(done.Reservation.Id, done.Reservation.Amounts, actual, e.Timestamp));
                        ReleaseLease(done, e.Timestamp);
                    }

                    break;

                case PipelineEventTypes.ProposalAbandoned:
                    var abandoned = CoreJsonContext.Read(e, CoreJsonContext.Default.ProposalAbandonedData);
                    if (_open.Remove(abandoned.ProposalId, out var given))
                    {
                        pipeline._budgets.Apply(new BudgetReleased(given.Reservation.Id, given.Reservation.Amounts, e.Timestamp));
                        ReleaseLease(given, e.Timestamp);
                    }

                    break;

                case PipelineEventTypes.BudgetSettled:
                    var settled = CoreJsonContext.Read(e, CoreJsonContext.Default.BudgetSettledData);
                    var spent = settled.Actual.ToAmounts();
                    var id = ParseReservation(settled.ReservationId);
                    var scopes = BudgetScope.Of(new Principal(AgentName.Parse(settled.Agent), AgentRole.Worker, settled.Session));
                    pipeline._budgets.Apply(new BudgetReserved(id, scopes, spent, settled.At));
                    pipeline._budgets.Apply(new BudgetSettled(id, spent, spent, settled.At));
                    break;

                case PipelineEventTypes.KillSwitchEngaged or PipelineEventTypes.KillSwitchReleased when e.Stream == KillSwitchStream:
                    if (ToKillSwitchFact(e) is { } fact)
                    {
                        pipeline._killSwitch.Apply(fact);
                    }

                    break;
            }
        }

        public void Finish(long position)
        {
            lock (pipeline._gate)
            {
                pipeline._admissions.Clear();
                foreach (var (id, admission) in _open)
                {
                    pipeline._admissions[id] = admission;
                }
            }

            Volatile.Write(ref pipeline._loadedPosition, position);
            pipeline._locks.ExpireDue();
        }

        private void ReleaseLease(OpenAdmission admission, DateTimeOffset at)
        {
            if (admission.Lease is { } lease)
            {
                pipeline._locks.Apply(new LeaseReleased(lease.Id, lease.Resource, lease.Owner, at));
            }
        }

        private static BudgetReservationId ParseReservation(string id) => new(Guid.Parse(id));
    }
}

/// <summary>An allowed proposal that has not completed: its reservation and lease are still held.</summary>
/// <param name="ProposalId">The proposal.</param>
/// <param name="Session">Its session.</param>
/// <param name="Agent">Its agent.</param>
/// <param name="Reservation">The budget it holds.</param>
/// <param name="Lease">The lease it holds, for a <c>write_file</c>.</param>
/// <param name="AllowedAt">When it was allowed.</param>
public sealed record OpenAdmission(string ProposalId, string Session, string Agent, BudgetReservation Reservation, Lease? Lease, DateTimeOffset AllowedAt)
{
    /// <summary>The reservation's id as recorded.</summary>
    public string ReservationId => Reservation.Id.ToString();

    /// <summary>The lease's id as recorded, if any.</summary>
    public string? LeaseId => Lease?.Id.ToString();
}
