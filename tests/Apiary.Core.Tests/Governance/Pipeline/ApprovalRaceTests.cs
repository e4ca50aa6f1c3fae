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
        var store = new FailingStore(sqlite);
        var pipeline = new GovernancePipeline(store, new PolicyEngine(GovernanceTestData.Load(PipelineFixture.Policy)), new BudgetLedger(), new LockTable(), new KillSwitch());
        var ticket = (await pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "git", "push"), PipelineFixture.OneCommand, Ct)).Ticket!;

        // The moment the grant is committed, the waiting side resumes and consumes the ticket, before the approver reads it back.
        GovernanceResult? resumed = null;
        store.AfterAppend = async e =>
        {
            if (e.Type == PipelineEventTypes.ApprovalGranted)
            {
                store.AfterAppend = null;
                resumed = await pipeline.ResumeAsync(ticket.Id, Ct);
            }
        };

        var answer = await pipeline.ApproveAsync(ticket.Id, ApprovalScope.Once, "operator", Ct);

        Assert.True(resumed?.IsAllowed, "the waiter did not resume in between");
        Assert.Equal(ApprovalState.Granted, answer.State);
        Assert.Equal("operator", answer.By);
    }
}
