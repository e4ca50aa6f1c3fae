using Apiary.Events;
using Apiary.Governance.Budgets;

namespace Apiary.Governance.Pipeline;

public sealed partial class GovernancePipeline
{
    /// <summary>
    /// Settles a reservation made directly in the budget ledger for work that is not a proposal (a model call) and records
    /// it as <c>budget.settled</c> on <paramref name="stream"/>, in one append with <paramref name="alongside"/>, so
    /// <see cref="LoadAsync"/> folds what was spent after a restart exactly as it folds completed proposals. The ledger is
    /// settled also when recording fails: the work was done, so it counts here.
    /// </summary>
    /// <param name="stream">The stream to record in (the session's).</param>
    /// <param name="principal">Whose budget it is.</param>
    /// <param name="reservation">The reservation made before the work.</param>
    /// <param name="actual">What the work used.</param>
    /// <param name="purpose">What the work was, for the record (<c>model call 3 of run R</c>).</param>
    /// <param name="alongside">Events recorded in the same append, before it.</param>
    /// <param name="cancellationToken">Cancels recording.</param>
    /// <exception cref="EventStoreException">It could not be recorded; the ledger is settled nonetheless.</exception>
    public async Task SettleAsync(
        string stream, Principal principal, BudgetReservation reservation, BudgetAmounts actual, string purpose, IReadOnlyList<EventData> alongside, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(stream);
        ArgumentNullException.ThrowIfNull(principal);
        ArgumentNullException.ThrowIfNull(reservation);
        ArgumentNullException.ThrowIfNull(actual);
        ArgumentNullException.ThrowIfNull(alongside);
        var data = new BudgetSettledData(reservation.Id.ToString(), principal.SessionId, principal.Agent.Value, RecordedAmounts.Of(actual), purpose, _time.GetUtcNow());
        try
        {
            await _store.AppendAsync(
                stream,
                ExpectedVersion.Any,
                [.. alongside, CoreJsonContext.Event(PipelineEventTypes.BudgetSettled, data, CoreJsonContext.Default.BudgetSettledData)],
                cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _budgets.Settle(reservation, actual);
        }
    }
}
