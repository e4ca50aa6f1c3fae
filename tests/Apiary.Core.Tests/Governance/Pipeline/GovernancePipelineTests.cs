using System.Text;
using System.Text.Json;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Pipeline;
using Apiary.Testing;

namespace Apiary.Tests.Governance.Pipeline;

public sealed class GovernancePipelineTests
{
    private static readonly TimeSpan LongWait = TimeSpan.FromMinutes(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SubmitAsync_AllowedRule_RecordsDecisionAndReturnsAllow()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var proposal = PipelineFixture.Exec("s-1", "ls", "-la");

        var result = await f.Pipeline.SubmitAsync(proposal, PipelineFixture.OneCommand, Ct);

        Assert.True(result.IsAllowed);
        Assert.Equal("allow-ls", result.Decision.Rule);
        Assert.Single(f.Budgets.OpenReservations);
        var decided = Assert.Single(await f.StreamAsync("session-s-1"));
        Assert.Equal(PipelineEventTypes.ProposalDecided, decided.Type);
        using var json = JsonDocument.Parse(decided.Data);
        Assert.Equal("allow", json.RootElement.GetProperty("decision").GetString());
        Assert.Equal(proposal.Hash, json.RootElement.GetProperty("hash").GetString());
    }

    [Fact]
    public async Task SubmitAsync_DenyRule_DeniesWithRuleAndReasonAndReservesNothing()
    {
        await using var f = await PipelineFixture.CreateAsync();

        var result = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "rm", "-rf", "x"), PipelineFixture.OneCommand, Ct);

        Assert.Equal(DecisionKind.Deny, result.Decision.Kind);
        Assert.Equal("deny-rm", result.Decision.Rule);
        Assert.Equal("because deny-rm", result.Decision.Reason);
        Assert.Equal(PipelineStage.Policy, result.Stage);
        Assert.Null(result.Allowed);
        Assert.Empty(f.Budgets.OpenReservations);
        Assert.Single(await f.StreamAsync("session-s-1"));
    }

    [Fact]
    public async Task SubmitAsync_ApproveRule_OpensTicketBoundToHash()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var proposal = PipelineFixture.Exec("s-1", "git", "push");

        var result = await f.Pipeline.SubmitAsync(proposal, PipelineFixture.OneCommand, Ct);

        Assert.Equal(DecisionKind.Pending, result.Decision.Kind);
        var ticket = Assert.IsType<ApprovalTicket>(result.Ticket);
        Assert.Equal(proposal.Hash, ticket.Proposal.Hash);
        Assert.Empty(f.Budgets.OpenReservations);
        var requested = Assert.Single(await f.StreamAsync(ticket.Id.Stream));
        Assert.Equal(PipelineEventTypes.ApprovalRequested, requested.Type);
        Assert.Equal(ticket.Id, Assert.Single(f.Pipeline.OpenTickets).Id);
    }

    [Fact]
    public async Task ApproveAsync_Once_WaiterSeesGrantAndProposalResumesExactlyOnce()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var proposal = PipelineFixture.Exec("s-1", "git", "push");
        var ticket = (await f.Pipeline.SubmitAsync(proposal, PipelineFixture.OneCommand, Ct)).Ticket!;
        var waiting = f.Pipeline.WaitForApprovalAsync(ticket.Id, LongWait, Ct);

        await f.Pipeline.ApproveAsync(ticket.Id, ApprovalScope.Once, "operator", Ct);
        var answer = await waiting;
        var resumed = await f.Pipeline.ResumeAsync(ticket.Id, Ct);
        var again = await f.Pipeline.ResumeAsync(ticket.Id, Ct);

        Assert.Equal(ApprovalState.Granted, answer.State);
        Assert.Equal("operator", answer.By);
        Assert.True(resumed.IsAllowed);
        Assert.Equal(proposal.Id, resumed.Allowed!.Proposal.Id);
        Assert.Equal(proposal.Hash, resumed.Allowed.Proposal.Hash);
        Assert.False(again.IsAllowed);
        Assert.Contains("already consumed", again.Decision.Reason, StringComparison.Ordinal);
        Assert.Single(f.Budgets.OpenReservations);
        Assert.Equal(
            [PipelineEventTypes.ApprovalRequested, PipelineEventTypes.ApprovalGranted, PipelineEventTypes.ApprovalConsumed],
            (await f.StreamAsync(ticket.Id.Stream)).Select(e => e.Type));
    }

    [Fact]
    public async Task DenyAsync_WithReason_WaiterSeesReasonAndResumeIsDenied()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var ticket = (await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "git", "push"), PipelineFixture.OneCommand, Ct)).Ticket!;
        var waiting = f.Pipeline.WaitForApprovalAsync(ticket.Id, LongWait, Ct);

        await f.Pipeline.DenyAsync(ticket.Id, "not on a Friday", "operator", Ct);
        var answer = await waiting;

        Assert.Equal(ApprovalState.Denied, answer.State);
        Assert.Equal("not on a Friday", answer.Reason);
        Assert.False((await f.Pipeline.ResumeAsync(ticket.Id, Ct)).IsAllowed);
        Assert.Empty(f.Pipeline.OpenTickets);
    }

    [Fact]
    public async Task ApproveAsync_ForSession_LetsLaterMatchingProposalsOfThatSessionThrough()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var ticket = (await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "git", "push"), PipelineFixture.OneCommand, Ct)).Ticket!;
        await f.Pipeline.ApproveAsync(ticket.Id, ApprovalScope.Session, "operator", Ct);

        var sameSession = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "git", "push", "--tags"), PipelineFixture.OneCommand, Ct);
        var otherSession = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-2", "git", "push"), PipelineFixture.OneCommand, Ct);

        Assert.True(sameSession.IsAllowed);
        Assert.Null(sameSession.Ticket);
        Assert.Equal(PipelineStage.Approval, sameSession.Stage);
        Assert.Equal(DecisionKind.Pending, otherSession.Decision.Kind);
        Assert.NotNull(otherSession.Ticket);
        var explained = await f.Pipeline.ExplainAsync(sameSession.Allowed!.Proposal.Id, Ct);
        Assert.Equal(ticket.Id.ToString(), explained!.StandingTicketId);
    }

    [Fact]
    public async Task ApproveAsync_ForSession_StopsAtItsCountLimit()
    {
        await using var f = await PipelineFixture.CreateAsync(new GovernancePipelineOptions { SessionApprovalLimit = 1 });
        var ticket = (await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "git", "push"), PipelineFixture.OneCommand, Ct)).Ticket!;
        await f.Pipeline.ApproveAsync(ticket.Id, ApprovalScope.Session, "operator", Ct);

        var first = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "git", "push"), PipelineFixture.OneCommand, Ct);
        var second = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "git", "push"), PipelineFixture.OneCommand, Ct);

        Assert.True(first.IsAllowed);
        Assert.Equal(DecisionKind.Pending, second.Decision.Kind);
    }

    [Fact]
    public async Task WaitForApprovalAsync_TicketPastExpiry_ExpiresAndRecordsIt()
    {
        await using var f = await PipelineFixture.CreateAsync(new GovernancePipelineOptions { TicketTtl = TimeSpan.FromMinutes(5) });
        var ticket = (await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "git", "push"), PipelineFixture.OneCommand, Ct)).Ticket!;
        f.Clock.Advance(TimeSpan.FromMinutes(6));

        var answer = await f.Pipeline.WaitForApprovalAsync(ticket.Id, LongWait, Ct);
        var late = await f.Pipeline.ApproveAsync(ticket.Id, ApprovalScope.Once, "operator", Ct);

        Assert.Equal(ApprovalState.Expired, answer.State);
        Assert.Equal(ApprovalState.Expired, late.State);
        Assert.False((await f.Pipeline.ResumeAsync(ticket.Id, Ct)).IsAllowed);
        Assert.Equal(PipelineEventTypes.ApprovalExpired, (await f.StreamAsync(ticket.Id.Stream))[^1].Type);
    }

    [Fact]
    public async Task WaitForApprovalAsync_ClockPassesExpiryWhileWaiting_ReturnsExpired()
    {
        await using var f = await PipelineFixture.CreateAsync(new GovernancePipelineOptions { TicketTtl = TimeSpan.FromMinutes(5) });
        var ticket = (await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "git", "push"), PipelineFixture.OneCommand, Ct)).Ticket!;
        var waiting = f.Pipeline.WaitForApprovalAsync(ticket.Id, LongWait, Ct);
        await WaitForTimerAsync(f.Clock);

        f.Clock.Advance(TimeSpan.FromMinutes(5));

        Assert.Equal(ApprovalState.Expired, (await waiting).State);
    }

    [Fact]
    public async Task LoadAsync_AfterRestart_OpenTicketCanBeApprovedAndResumesExactlyOnce()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var proposal = PipelineFixture.Exec("s-1", "git", "push", "origin", "main");
        var ticket = (await f.Pipeline.SubmitAsync(proposal, PipelineFixture.OneCommand, Ct)).Ticket!;

        await f.RestartAsync();
        var reloaded = Assert.Single(f.Pipeline.OpenTickets);
        await f.Pipeline.ApproveAsync(ticket.Id, ApprovalScope.Once, "operator", Ct);
        var resumed = await f.Pipeline.ResumeAsync(ticket.Id, Ct);
        await f.RestartAsync();
        var again = await f.Pipeline.ResumeAsync(ticket.Id, Ct);

        Assert.Equal(proposal.Hash, reloaded.Proposal.Hash);
        Assert.True(resumed.IsAllowed);
        Assert.Equal(proposal.Id, resumed.Allowed!.Proposal.Id);
        Assert.Equal(proposal.Hash, resumed.Allowed.Proposal.Hash);
        Assert.False(again.IsAllowed);
        Assert.Empty(f.Pipeline.OpenTickets);
    }

    [Fact]
    public async Task SubmitAsync_KillSwitchEngaged_DeniesNamingTheSwitch()
    {
        await using var f = await PipelineFixture.CreateAsync();
        f.KillSwitch.Engage(KillSwitchScope.Session("s-1"), "runaway loop", "operator");

        var result = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct);

        Assert.Equal(DecisionKind.Deny, result.Decision.Kind);
        Assert.Equal(GovernancePipeline.KillSwitchRule, result.Decision.Rule);
        Assert.Contains("session s-1", result.Decision.Reason, StringComparison.Ordinal);
        Assert.Contains("runaway loop", result.Decision.Reason, StringComparison.Ordinal);
        Assert.Equal(PipelineStage.KillSwitch, result.Stage);
        Assert.Empty(f.Budgets.OpenReservations);
    }

    [Fact]
    public async Task SubmitAsync_BudgetExhausted_DeniesWithNumbers()
    {
        await using var f = await PipelineFixture.CreateAsync();
        f.Budgets.SetLimits(BudgetScope.Session("s-1"), new BudgetLimits(commands: 1));
        Assert.True((await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct)).IsAllowed);

        var result = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct);

        Assert.Equal(DecisionKind.Deny, result.Decision.Kind);
        Assert.Equal(PipelineStage.Budget, result.Stage);
        Assert.Equal("session s-1: commands 1 reserved + 1 asked > 1 limit", result.Decision.Reason);
        var explained = await f.Pipeline.ExplainAsync(result.Decision.Explanation.Proposal.Id, Ct);
        Assert.Equal("budget", explained!.Stage);
    }

    [Fact]
    public async Task SubmitAsync_StoreCannotRecord_NoAllowAndReservationReleased()
    {
        await using var f = await PipelineFixture.CreateAsync();
        f.Store.FailAppends = true;

        var result = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct);

        Assert.False(result.IsAllowed);
        Assert.Equal(DecisionKind.Deny, result.Decision.Kind);
        Assert.Equal(PipelineStage.Record, result.Stage);
        Assert.Contains("fail closed", result.Decision.Reason, StringComparison.Ordinal);
        Assert.Empty(f.Budgets.OpenReservations);
        Assert.Equal(BudgetAmounts.Zero, f.Budgets.Usage(BudgetScope.Session("s-1")).Reserved);
    }

    [Fact]
    public async Task SubmitAsync_StoreCannotRecordWrite_LeaseReleased()
    {
        await using var f = await PipelineFixture.CreateAsync();
        f.Store.FailAppends = true;
        var write = Proposal.WriteFile(GovernanceTestData.Coder, GovernanceTestData.Workspace, "src/a.txt");

        var result = await f.Pipeline.SubmitAsync(write, PipelineFixture.OneCommand, Ct);

        Assert.False(result.IsAllowed);
        Assert.Empty(f.Locks.Leases);
        Assert.Empty(f.Budgets.OpenReservations);
    }

    [Fact]
    public async Task SubmitAsync_StoreDisposed_NoAllow()
    {
        await using var f = await PipelineFixture.CreateAsync();
        await f.Sqlite.DisposeAsync();

        var result = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct);

        Assert.False(result.IsAllowed);
        Assert.Empty(f.Budgets.OpenReservations);
    }

    [Fact]
    public async Task SubmitAsync_WriteFile_HoldsExclusiveLeaseUntilCompleted()
    {
        await using var f = await PipelineFixture.CreateAsync(new GovernancePipelineOptions { LockWait = TimeSpan.Zero });
        var write = Proposal.WriteFile(GovernanceTestData.Coder, GovernanceTestData.Workspace, "src/a.txt");
        var first = await f.Pipeline.SubmitAsync(write, PipelineFixture.OneCommand, Ct);

        var second = await f.Pipeline.SubmitAsync(Proposal.WriteFile(GovernanceTestData.Coder, GovernanceTestData.Workspace, "src/a.txt"), PipelineFixture.OneCommand, Ct);
        await f.Pipeline.CompleteAsync(first.Allowed!, new ProposalOutcome(0, "exited", TimeSpan.FromSeconds(1)), new BudgetAmounts(1, TimeSpan.FromSeconds(1), 0, 0m), cancellationToken: Ct);

        Assert.True(first.IsAllowed);
        Assert.Equal("path:/home/op/agents/coder/workspace/src/a.txt", first.Allowed!.Lease!.Resource);
        Assert.Equal(PipelineStage.Lock, second.Stage);
        Assert.Empty(f.Locks.Leases);
        Assert.Empty(f.Budgets.OpenReservations);
    }

    [Fact]
    public async Task CompleteAsync_SettlesBudgetAndRecordsOutputInBody()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var allowed = (await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct)).Allowed!;

        await f.Pipeline.CompleteAsync(allowed, new ProposalOutcome(0, "exited", TimeSpan.FromMilliseconds(1500), "a.txt\n"), new BudgetAmounts(1, TimeSpan.FromSeconds(2), 0, 0m), cancellationToken: Ct);

        var completed = (await f.StreamAsync("session-s-1"))[^1];
        Assert.Equal(PipelineEventTypes.ProposalCompleted, completed.Type);
        Assert.Equal("a.txt\n", Encoding.UTF8.GetString(completed.Body!.Value.Span));
        using var json = JsonDocument.Parse(completed.Data);
        Assert.Equal(0, json.RootElement.GetProperty("exit_code").GetInt32());
        Assert.Equal(1500, json.RootElement.GetProperty("duration_ms").GetInt64());
        Assert.False(json.RootElement.TryGetProperty("output", out _));
        Assert.Equal(1, f.Budgets.Usage(BudgetScope.Session("s-1")).Spent.Commands);
        Assert.Empty(f.Budgets.OpenReservations);
    }

    [Fact]
    public async Task ExplainAsync_RecordedDecision_ReturnsRuleAndInputs()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var proposal = PipelineFixture.Exec("s-1", "/usr/bin/rm", "-rf", "a b");
        await f.Pipeline.SubmitAsync(proposal, PipelineFixture.OneCommand, Ct);

        var explained = await f.Pipeline.ExplainAsync(proposal.Id, Ct);

        Assert.NotNull(explained);
        Assert.Equal("deny", explained.Decision);
        Assert.Equal("deny-rm", explained.Rule);
        Assert.Equal("policy", explained.Stage);
        Assert.Equal("deny-rm", explained.DecidedBy);
        Assert.Equal("rm", explained.Inputs.ProgramName);
        Assert.Equal("-rf 'a b'", explained.Inputs.ArgumentLine);
        Assert.Equal("s-1", explained.Inputs.Session);
        Assert.Null(await f.Pipeline.ExplainAsync(ProposalId.New(), Ct));
    }

    // The waiter registers its timer before it first awaits the store, but the store may complete that await on
    // another thread; the timer count says when it is in place.
    private static async Task WaitForTimerAsync(ManualClock clock)
    {
        while (clock.TimerCount == 0)
        {
            await Task.Yield();
        }
    }
}
