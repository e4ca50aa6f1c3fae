namespace Apiary.Governance.Budgets;

/// <summary>
/// Something that happened to a <see cref="BudgetLedger"/>. Folding a ledger's facts in order with
/// <see cref="BudgetLedger.Apply"/> rebuilds its state.
/// </summary>
/// <param name="At">When it happened, on the ledger's clock.</param>
public abstract record BudgetFact(DateTimeOffset At);

/// <summary>A scope's limits were set (replacing any earlier ones).</summary>
/// <param name="Scope">The scope.</param>
/// <param name="Limits">Its new limits.</param>
/// <param name="At">When.</param>
public sealed record BudgetLimitsSet(BudgetScope Scope, BudgetLimits Limits, DateTimeOffset At) : BudgetFact(At);

/// <summary>Amounts were reserved against every listed scope.</summary>
/// <param name="Reservation">The reservation.</param>
/// <param name="Scopes">The scopes charged.</param>
/// <param name="Amounts">The amounts held.</param>
/// <param name="At">When.</param>
public sealed record BudgetReserved(BudgetReservationId Reservation, IReadOnlyList<BudgetScope> Scopes, BudgetAmounts Amounts, DateTimeOffset At)
    : BudgetFact(At);

/// <summary>A reservation was settled: its reserved amounts were replaced by what the work actually used.</summary>
/// <param name="Reservation">The reservation.</param>
/// <param name="Reserved">What it held.</param>
/// <param name="Actual">What the work used, which may be more than was reserved.</param>
/// <param name="At">When.</param>
public sealed record BudgetSettled(BudgetReservationId Reservation, BudgetAmounts Reserved, BudgetAmounts Actual, DateTimeOffset At)
    : BudgetFact(At);

/// <summary>A reservation was given back whole: the work did not run.</summary>
/// <param name="Reservation">The reservation.</param>
/// <param name="Reserved">What it held.</param>
/// <param name="At">When.</param>
public sealed record BudgetReleased(BudgetReservationId Reservation, BudgetAmounts Reserved, DateTimeOffset At) : BudgetFact(At);
