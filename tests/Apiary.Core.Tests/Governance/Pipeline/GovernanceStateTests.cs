using Apiary.Agents;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;
using Apiary.Governance.Pipeline;
using Apiary.Home;
using Apiary.Storage.Sqlite;
using Apiary.Testing;

namespace Apiary.Tests.Governance.Pipeline;

/// <summary>Budgets, leases and kill switches survive a restart, recovery gives back what dead sessions held, and other processes' kill switches apply.</summary>
public sealed class GovernanceStateTests
{
    private static readonly BudgetLimits TwoCommands = new(commands: 2);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task LoadAsync_AfterRestart_BudgetSpentAndReservedCarryOver()
    {
        await using var f = await PipelineFixture.CreateAsync();
        f.Budgets.SetLimits(BudgetScope.Session("s-1"), TwoCommands);
        var first = (await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct)).Allowed!;
        await f.Pipeline.CompleteAsync(first, new ProposalOutcome(0, "exited", TimeSpan.FromMilliseconds(5), "out"), new BudgetAmounts(1, TimeSpan.FromMilliseconds(5), 0, 0m), cancellationToken: Ct);
        Assert.True((await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct)).IsAllowed);

        await f.RestartAsync();
        f.Budgets.SetLimits(BudgetScope.Session("s-1"), TwoCommands);

        var usage = f.Budgets.Usage(BudgetScope.Session("s-1"));
        Assert.Equal(1, usage.Spent.Commands);
        Assert.Equal(1, usage.Reserved.Commands);
        var third = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct);
        Assert.False(third.IsAllowed);
        Assert.Equal(PipelineStage.Budget, third.Stage);
    }

    [Fact]
    public async Task RecoverAsync_DeadSession_RecordsAbandonedAndGivesBackReservationAndLease()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var write = Proposal.WriteFile(new Principal(AgentName.Parse("coder"), AgentRole.Worker, "s-dead"), GovernanceTestData.Workspace, "notes.txt");
        var allowed = await f.Pipeline.SubmitAsync(write, PipelineFixture.OneCommand, Ct);
        Assert.True(allowed.IsAllowed);

        // The process dies here: no completion. After the restart the lease and reservation are back from the log.
        await f.RestartAsync();
        Assert.Single(f.Budgets.OpenReservations);
        Assert.Single(f.Locks.Leases);
        var open = Assert.Single(f.Pipeline.OpenAdmissions);
        Assert.Equal(write.Id.ToString(), open.ProposalId);

        var abandoned = await f.Pipeline.RecoverAsync(_ => false, Ct);

        Assert.Equal(write.Id.ToString(), Assert.Single(abandoned).ProposalId);
        Assert.Empty(f.Budgets.OpenReservations);
        Assert.Empty(f.Locks.Leases);
        Assert.Empty(f.Pipeline.OpenAdmissions);
        Assert.Contains(await f.StreamAsync("session-s-dead"), e => e.Type == PipelineEventTypes.ProposalAbandoned);

        // Recorded: a second restart finds nothing left to recover, and another writer may take the path at once.
        await f.RestartAsync();
        Assert.Empty(f.Pipeline.OpenAdmissions);
        Assert.Empty(await f.Pipeline.RecoverAsync(_ => false, Ct));
        var other = Proposal.WriteFile(new Principal(AgentName.Parse("coder"), AgentRole.Worker, "s-2"), GovernanceTestData.Workspace, "notes.txt");
        Assert.True((await f.Pipeline.SubmitAsync(other, PipelineFixture.OneCommand, Ct)).IsAllowed);
    }

    [Fact]
    public async Task RecoverAsync_LiveSession_KeepsItsAdmission()
    {
        await using var f = await PipelineFixture.CreateAsync();
        Assert.True((await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-live", "ls"), PipelineFixture.OneCommand, Ct)).IsAllowed);
        await f.RestartAsync();

        Assert.Empty(await f.Pipeline.RecoverAsync(session => session == "s-live", Ct));

        Assert.Single(f.Budgets.OpenReservations);
        Assert.DoesNotContain(await f.StreamAsync("session-s-live"), e => e.Type == PipelineEventTypes.ProposalAbandoned);
    }

    [Fact]
    public async Task CompletedProposal_AfterRestart_IsNotRecovered()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var allowed = (await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct)).Allowed!;
        await f.Pipeline.CompleteAsync(allowed, new ProposalOutcome(0, "exited", TimeSpan.Zero, null), BudgetAmounts.Zero, cancellationToken: Ct);
        await f.RestartAsync();

        Assert.Empty(f.Pipeline.OpenAdmissions);
        Assert.Empty(await f.Pipeline.RecoverAsync(_ => false, Ct));
    }

    [Fact]
    public async Task KillSwitch_EngagedThenRestarted_StillBlocksUntilReleased()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var engaged = await f.Pipeline.EngageKillSwitchAsync(KillSwitchScope.Agent(AgentName.Parse("coder")), "runaway loop", "ops", Ct);
        Assert.Equal("runaway loop", engaged.Reason);

        await f.RestartAsync();
        var blocked = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-9", "ls"), PipelineFixture.OneCommand, Ct);
        Assert.Equal(PipelineStage.KillSwitch, blocked.Stage);
        Assert.Contains("runaway loop", blocked.Decision.Reason, StringComparison.Ordinal);

        Assert.True(await f.Pipeline.ReleaseKillSwitchAsync(KillSwitchScope.Agent(AgentName.Parse("coder")), "ops", Ct));
        await f.RestartAsync();
        Assert.Empty(f.Pipeline.EngagedKillSwitches);
        Assert.True((await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-9", "ls"), PipelineFixture.OneCommand, Ct)).IsAllowed);
        Assert.False(await f.Pipeline.ReleaseKillSwitchAsync(KillSwitchScope.Agent(AgentName.Parse("coder")), "ops", Ct));
    }

    [Fact]
    public async Task KillSwitch_RecordFails_NothingEngaged()
    {
        await using var f = await PipelineFixture.CreateAsync();
        f.Store.FailAppends = true;

        await Assert.ThrowsAsync<Apiary.Events.EventStoreException>(() => f.Pipeline.EngageKillSwitchAsync(KillSwitchScope.Global, "stop", "ops", Ct));

        Assert.Empty(f.Pipeline.EngagedKillSwitches);
    }

    [Fact]
    public async Task FollowAsync_SwitchEngagedByAnotherProcess_CancelsRunningWorkHereAndBlocks()
    {
        using var dir = new TempDirectory("apiary-follow");
        var path = dir["events.db"];
        await using var storeHere = await SqliteEventStore.OpenAsync(path, cancellationToken: Ct);
        await using var storeThere = await SqliteEventStore.OpenAsync(path, cancellationToken: Ct);
        var here = NewPipeline(storeHere);
        var there = NewPipeline(storeThere);
        await here.LoadAsync(Ct);
        await there.LoadAsync(Ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var following = here.FollowAsync(stop.Token);
        var principal = new Principal(AgentName.Parse("coder"), AgentRole.Worker, "s-run");
        var running = here.KillTokenFor(principal);

        await there.EngageKillSwitchAsync(KillSwitchScope.Session("s-run"), "stop that", "ops", Ct);

        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (running.Register(() => cancelled.TrySetResult()))
        {
            await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        }

        Assert.True(running.IsCancellationRequested);
        Assert.Equal("stop that", here.IsBlocked(principal)?.Reason);
        await stop.CancelAsync();
        await following;
    }

    [Fact]
    public async Task LiveSessions_HeldHereOrByAnotherProcess_IsAliveUntilTheHolderEnds()
    {
        using var dir = new TempDirectory("apiary-live");
        var live = new LiveSessions(dir.Path);
        Assert.False(live.IsAlive("s-1"));
        using (live.Hold("s-1"))
        {
            Assert.True(live.IsAlive("s-1"));
        }

        Assert.False(live.IsAlive("s-1"));

        // Another process holds the lock the way Hold does (flock; -o keeps it in flock itself, not in its child),
        // then is killed: the kernel drops its lock.
        Directory.CreateDirectory(dir.Path);
        var lockFile = Path.Combine(dir.Path, "s-2.lock");
        // flock runs its command only once it holds the lock, so the command's first line says the lock is taken.
        var start = new System.Diagnostics.ProcessStartInfo("flock", ["-x", "-o", lockFile, "sh", "-c", "echo locked; exec sleep 60"]) { RedirectStandardOutput = true };
        using var holder = System.Diagnostics.Process.Start(start)!;
        Assert.Equal("locked", await holder.StandardOutput.ReadLineAsync(Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct));

        Assert.True(live.IsAlive("s-2"));
        holder.Kill(entireProcessTree: true);
        holder.WaitForExit();
        Assert.False(live.IsAlive("s-2"));
        Assert.Throws<ArgumentException>(() => live.IsAlive("../x"));
    }

    private static GovernancePipeline NewPipeline(SqliteEventStore store) =>
        new(store, new PolicyEngine(GovernanceTestData.Load(PipelineFixture.Policy)), new BudgetLedger(), new LockTable(), new KillSwitch());
}
