using System.Diagnostics.CodeAnalysis;

namespace Apiary.Governance.Budgets;

/// <summary>
/// Budgets per agent and per session for commands, wall time, tokens and cost. Work reserves before it runs
/// (<see cref="TryReserve(IReadOnlyList{BudgetScope}, BudgetEstimate, out BudgetReservation?, out BudgetDenial?)"/>),
/// then settles with what it used or releases what it did not run. Thread-safe: every operation is atomic.
/// </summary>
/// <remarks>
/// Every change is a <see cref="BudgetFact"/>: the ledger hands it to the recorder given at construction and then
/// applies it with <see cref="Apply"/>, so folding the recorded facts into a new ledger rebuilds the same state. A
/// recorder that throws stops the operation before the state changes (fail closed). The recorder runs under the
/// ledger's lock: it must not call back into the ledger.
/// </remarks>
public sealed class BudgetLedger
{
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly Action<BudgetFact>? _record;
    private readonly Dictionary<BudgetScope, ScopeState> _scopes = [];
    private readonly Dictionary<BudgetReservationId, BudgetReservation> _open = [];

    /// <summary>Creates an empty ledger: no limits, no reservations.</summary>
    /// <param name="time">The clock facts are stamped with; the system clock when null.</param>
    /// <param name="record">Called with every fact before it is applied, under the ledger's lock.</param>
    public BudgetLedger(TimeProvider? time = null, Action<BudgetFact>? record = null)
    {
        _time = time ?? TimeProvider.System;
        _record = record;
    }

    /// <summary>Sets (or replaces) the limits of a scope. Work already reserved or spent stays.</summary>
    public BudgetLimitsSet SetLimits(BudgetScope scope, BudgetLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        lock (_gate)
        {
            var fact = new BudgetLimitsSet(scope, limits, _time.GetUtcNow());
            Commit(fact);
            return fact;
        }
    }

    /// <summary>The limits, spending and reservations of a scope.</summary>
    public BudgetUsage Usage(BudgetScope scope)
    {
        lock (_gate)
        {
            return _scopes.TryGetValue(scope, out var state)
                ? new BudgetUsage(state.Limits, state.Spent, state.Reserved)
                : new BudgetUsage(BudgetLimits.Unlimited, BudgetAmounts.Zero, BudgetAmounts.Zero);
        }
    }

    /// <summary>The reservations not yet settled or released, ordered by id.</summary>
    public IReadOnlyList<BudgetReservation> OpenReservations
    {
        get
        {
            lock (_gate)
            {
                return [.. _open.Values.OrderBy(r => r.Id.Value)];
            }
        }
    }

    /// <summary>Reserves against the principal's agent and session budgets together. See <see cref="TryReserve(IReadOnlyList{BudgetScope}, BudgetEstimate, out BudgetReservation?, out BudgetDenial?)"/>.</summary>
    public bool TryReserve(
        Principal principal,
        BudgetEstimate estimate,
        [NotNullWhen(true)] out BudgetReservation? reservation,
        [NotNullWhen(false)] out BudgetDenial? denial) =>
        TryReserve(BudgetScope.Of(principal), estimate, out reservation, out denial);

    /// <summary>
    /// Reserves <paramref name="estimate"/> against every scope in <paramref name="scopes"/>, all or nothing: when any
    /// scope's spent plus reserved plus asked would pass its limit in any dimension, nothing is reserved and the
    /// denial names the first scope and dimension that failed, with the numbers. An estimate with an unknown amount
    /// is denied.
    /// </summary>
    /// <returns>True with the reservation, or false with the denial.</returns>
    public bool TryReserve(
        IReadOnlyList<BudgetScope> scopes,
        BudgetEstimate estimate,
        [NotNullWhen(true)] out BudgetReservation? reservation,
        [NotNullWhen(false)] out BudgetDenial? denial)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        ArgumentNullException.ThrowIfNull(estimate);
        if (scopes.Count == 0)
        {
            throw new ArgumentException("a reservation needs at least one scope", nameof(scopes));
        }

        reservation = null;
        var unknown = estimate.Unknown;
        if (unknown.Count > 0)
        {
            denial = new BudgetDenial(
                null,
                unknown[0],
                $"the proposal cannot be priced: {string.Join(", ", unknown.Select(BudgetFormat.Name))} unknown");
            return false;
        }

        var asked = new BudgetAmounts(estimate.Commands!.Value, estimate.WallTime!.Value, estimate.Tokens!.Value, estimate.Cost!.Value);
        IReadOnlyList<BudgetScope> distinct = [.. scopes.Distinct()];
        lock (_gate)
        {
            foreach (var scope in distinct)
            {
                if (_scopes.TryGetValue(scope, out var state) && Exceeds(scope, state, asked) is { } exceeded)
                {
                    denial = exceeded;
                    return false;
                }
            }

            var fact = new BudgetReserved(BudgetReservationId.New(), distinct, asked, _time.GetUtcNow());
            Commit(fact);
            reservation = _open[fact.Reservation];
            denial = null;
            return true;
        }
    }

    /// <summary>
    /// Replaces a reservation's amounts with what the work actually used. A higher actual is recorded as it is, even
    /// past a limit: it was spent, and the next reservation sees it.
    /// </summary>
    /// <returns>The fact, or null when the reservation is not open (already settled or released).</returns>
    public BudgetSettled? Settle(BudgetReservation reservation, BudgetAmounts actual)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        ArgumentNullException.ThrowIfNull(actual);
        lock (_gate)
        {
            if (!_open.TryGetValue(reservation.Id, out var open))
            {
                return null;
            }

            var fact = new BudgetSettled(open.Id, open.Amounts, actual, _time.GetUtcNow());
            Commit(fact);
            return fact;
        }
    }

    /// <summary>Gives a reservation back whole, for work that did not run.</summary>
    /// <returns>The fact, or null when the reservation is not open (already settled or released).</returns>
    public BudgetReleased? Release(BudgetReservation reservation)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        lock (_gate)
        {
            if (!_open.TryGetValue(reservation.Id, out var open))
            {
                return null;
            }

            var fact = new BudgetReleased(open.Id, open.Amounts, _time.GetUtcNow());
            Commit(fact);
            return fact;
        }
    }

    /// <summary>
    /// Applies a recorded fact without checking limits: facts are what happened. Used to rebuild a ledger from its
    /// facts, in the order they were recorded. A settle or release of a reservation that is not open is ignored.
    /// </summary>
    public void Apply(BudgetFact fact)
    {
        ArgumentNullException.ThrowIfNull(fact);
        lock (_gate)
        {
            ApplyLocked(fact);
        }
    }

    private void Commit(BudgetFact fact)
    {
        _record?.Invoke(fact);
        ApplyLocked(fact);
    }

    private void ApplyLocked(BudgetFact fact)
    {
        switch (fact)
        {
            case BudgetLimitsSet set:
                State(set.Scope).Limits = set.Limits;
                break;

            case BudgetReserved reserved:
                _open[reserved.Reservation] = new BudgetReservation(reserved.Reservation, reserved.Scopes, reserved.Amounts, reserved.At);
                foreach (var scope in reserved.Scopes)
                {
                    var state = State(scope);
                    state.Reserved = state.Reserved.Add(reserved.Amounts);
                }

                break;

            case BudgetSettled settled:
                Close(settled.Reservation, settled.Actual);
                break;

            case BudgetReleased released:
                Close(released.Reservation, null);
                break;

            default:
                throw new ArgumentException($"unknown budget fact {fact.GetType().Name}", nameof(fact));
        }
    }

    /// <summary>Gives back what <paramref name="reservation"/> held in each of its scopes, counting <paramref name="spent"/> (settled) or nothing (released).</summary>
    private void Close(BudgetReservationId reservation, BudgetAmounts? spent)
    {
        if (!_open.Remove(reservation, out var open))
        {
            return;
        }

        foreach (var scope in open.Scopes)
        {
            var state = State(scope);
            state.Reserved = state.Reserved.Subtract(open.Amounts);
            if (spent is not null)
            {
                state.Spent = state.Spent.Add(spent);
            }
        }
    }

    private ScopeState State(BudgetScope scope)
    {
        if (!_scopes.TryGetValue(scope, out var state))
        {
            state = new ScopeState();
            _scopes[scope] = state;
        }

        return state;
    }

    private static BudgetDenial? Exceeds(BudgetScope scope, ScopeState state, BudgetAmounts asked)
    {
        foreach (var dimension in Enum.GetValues<BudgetDimension>())
        {
            if (state.Limits.Get(dimension) is not { } limit)
            {
                continue;
            }

            var spent = state.Spent.Get(dimension);
            var reserved = state.Reserved.Get(dimension);
            var ask = asked.Get(dimension);
            if (spent + reserved + ask > limit)
            {
                string F(decimal v) => BudgetFormat.Value(dimension, v);
                var used = spent == 0 ? $"{F(reserved)} reserved" : $"{F(spent)} spent + {F(reserved)} reserved";
                return new BudgetDenial(
                    scope,
                    dimension,
                    $"{scope}: {BudgetFormat.Name(dimension)} {used} + {F(ask)} asked > {F(limit)} limit");
            }
        }

        return null;
    }

    private sealed class ScopeState
    {
        public BudgetLimits Limits { get; set; } = BudgetLimits.Unlimited;

        public BudgetAmounts Spent { get; set; } = BudgetAmounts.Zero;

        public BudgetAmounts Reserved { get; set; } = BudgetAmounts.Zero;
    }
}
