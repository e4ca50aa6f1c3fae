using Apiary.Events;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;
using Apiary.Governance.Pipeline;
using Apiary.Storage.Sqlite;
using Apiary.Testing;

namespace Apiary.Tests.Governance.Pipeline;

/// <summary>Answers racing with the waiter that resumes the proposal.</summary>
public sealed class ApprovalRaceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ApproveAsync_WaiterConsumesTheTicketBeforeTheAnswerReturns_StillReportsGranted()
    {
        using var dir = new TempDirectory("apiary-approval-race");
        await using var sqlite = await SqliteEventStore.OpenAsync(dir["events.db"], cancellationToken: Ct);
        var store = new AfterAppendStore(sqlite);
        var pipeline = new GovernancePipeline(store, new PolicyEngine(GovernanceTestData.Load(PipelineFixture.Policy)), new BudgetLedger(), new LockTable(), new KillSwitch());
        var ticket = (await pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "git", "push"), PipelineFixture.OneCommand, Ct)).Ticket!;

        // The moment the grant is committed, the waiting side resumes and consumes the ticket, before the approver reads it back.
        GovernanceResult? resumed = null;
        store.After = async e =>
        {
            if (e.Type == PipelineEventTypes.ApprovalGranted)
            {
                store.After = null;
                resumed = await pipeline.ResumeAsync(ticket.Id, Ct);
            }
        };

        var answer = await pipeline.ApproveAsync(ticket.Id, ApprovalScope.Once, "operator", Ct);

        Assert.True(resumed?.IsAllowed, "the waiter did not resume in between");
        Assert.Equal(ApprovalState.Granted, answer.State);
        Assert.Equal("operator", answer.By);
    }

    /// <summary>The real store, calling back after each committed append (as another party acting at that moment would).</summary>
    private sealed class AfterAppendStore(IEventStore inner) : IEventStore
    {
        public Func<EventData, Task>? After { get; set; }

        public async Task<AppendResult> AppendAsync(string stream, ExpectedVersion expectedVersion, IReadOnlyList<EventData> events, CancellationToken cancellationToken = default)
        {
            var result = await inner.AppendAsync(stream, expectedVersion, events, cancellationToken);
            if (After is { } after)
            {
                foreach (var e in events)
                {
                    await after(e);
                }
            }

            return result;
        }

        public IAsyncEnumerable<RecordedEvent> ReadStreamAsync(string stream, long fromVersion = 1, CancellationToken cancellationToken = default) =>
            inner.ReadStreamAsync(stream, fromVersion, cancellationToken);

        public IAsyncEnumerable<RecordedEvent> ReadAllAsync(long fromPosition = 1, CancellationToken cancellationToken = default) =>
            inner.ReadAllAsync(fromPosition, cancellationToken);

        public IAsyncEnumerable<RecordedEvent> SubscribeAsync(long fromPosition = 1, CancellationToken cancellationToken = default) =>
            inner.SubscribeAsync(fromPosition, cancellationToken);

        public Task<ChainVerification> VerifyChainAsync(CancellationToken cancellationToken = default) => inner.VerifyChainAsync(cancellationToken);

        public Task<long> PurgeBodiesAsync(DateTimeOffset olderThan, IReadOnlyCollection<string>? types = null, CancellationToken cancellationToken = default) =>
            inner.PurgeBodiesAsync(olderThan, types, cancellationToken);
    }
}
