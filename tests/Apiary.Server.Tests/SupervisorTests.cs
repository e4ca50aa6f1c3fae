using Apiary.Events;
using Apiary.Runtime.Supervision;

namespace Apiary.Server.Tests;

/// <summary>
/// The supervisor in a real server (in memory, real sandboxes, the sample home) with a scripted model and a manual
/// clock for the restart backoff: crashed runs (an exception escaping the loop, here from a tool that throws) restarted
/// after their backoff up to the limit, with the reason in the events, the agent's API and the managers' notices; runs
/// that fail on their own (the model call failing, the budget) never restarted but shown with their reason; changed files
/// shown needs-update until an update reloads the running prompt, answered approvals told to the manager, and the states
/// a restarted server finds seeded without telling anyone again.
/// </summary>
public sealed class SupervisorTests() : InMemoryServerTest("apiary-supervisor")
{
    private const string Boom = "InvalidOperationException escaped turn 1: the tool's state is corrupt";

    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 21, 9, 0, 0, TimeSpan.Zero));
    private readonly CrashingTool _tool = new();

    public override async ValueTask InitializeAsync() => await StartAsync(new SupervisorOptions());

    [Fact]
    public async Task ACrashedRun_IsRestartedAfterItsBackoff_InItsSession_AndTheManagerIsTold()
    {
        _tool.CrashTimes = 1;
        Model.CallTool(CrashingTool.Name, new Dictionary<string, object?>()).Answer("done after the restart");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("count the files"), Ct);
        var ended = await Runtime.WaitForEventAsync(ServerEventTypes.RunEnded, ("run", run.Id));
        Assert.Equal(("crashed", Boom, "true"), (LogWaiter.Field(ended, "status"), LogWaiter.Field(ended, "error"), LogWaiter.Field(ended, "crashed")));
        var crashed = await Runtime.WaitForEventAsync(LifecycleEventTypes.StateChanged, ("agent", "coder"), ("to", LifecycleState.Crashed), ("run", run.Id));
        Assert.Equal($"run {run.Id} crashed: {Boom}", LogWaiter.Field(crashed, "reason"));
        var scheduled = await Runtime.WaitForEventAsync(LifecycleEventTypes.RestartScheduled, ("run", run.Id));
        Assert.Equal(("1", "3", "2000", Boom), (LogWaiter.Field(scheduled, "attempt"), LogWaiter.Field(scheduled, "max_restarts"), LogWaiter.Field(scheduled, "delay_ms"), LogWaiter.Field(scheduled, "reason")));

        var told = await NextSystemMessageAsync("manager");
        Assert.Equal(($"lifecycle-coder", "apiary", "system"), (told.Thread, told.From, told.Role));
        Assert.Equal($"crashed: agent 'coder' crashed in run {run.Id}: {Boom}; the supervisor restarts it in 2 s (restart 1 of 3)", told.Body);

        // The agent's API says why it crashed and when it restarts.
        var failure = (await Host.Client.GetAgentAsync("coder", cancellationToken: Ct)).Agent.LastFailure;
        Assert.NotNull(failure);
        Assert.Equal((run.Id, "crashed", Boom, true, "restart 1 of 3 due at 2026-11-21 09:00:02Z"), (failure.Run, failure.Status, failure.Reason, failure.Crashed, failure.Restart));

        // The backoff has not passed: the timer is still waiting. Once it has, the run is restarted.
        _clock.Advance(TimeSpan.FromSeconds(1.9));
        Assert.Equal(1, _clock.TimerCount);
        _clock.Advance(TimeSpan.FromSeconds(0.1));
        var restarted = await Runtime.WaitForEventAsync(ServerEventTypes.RunStarted, ("restart_of", run.Id));
        Assert.Equal(("1", run.Session), (LogWaiter.Field(restarted, "attempt"), LogWaiter.Field(restarted, "session")));

        var id = LogWaiter.Field(restarted, "run")!;
        ended = await Runtime.WaitForEventAsync(ServerEventTypes.RunEnded, ("run", id));
        Assert.Equal("finished", LogWaiter.Field(ended, "status"));
        Assert.Equal("done after the restart", System.Text.Encoding.UTF8.GetString(ended.Body!.Value.Span));
        await Runtime.WaitForEventAsync(LifecycleEventTypes.StateChanged, ("agent", "coder"), ("to", LifecycleState.Stopped), ("run", id));

        // The restart went on from the crashed run's conversation: the tool call it crashed in was made again.
        Assert.Equal(2, Model.Calls.Count);
        Assert.Equal("the tool worked this time", Assert.Single(Model.ToolResults()));
        Assert.Null((await Host.Client.GetAgentAsync("coder", cancellationToken: Ct)).Agent.LastFailure);
    }

    [Fact]
    public async Task CrashesInARow_AreRestartedUpToTheLimit_WithDoublingBackoff()
    {
        await StopAsync();
        await StartAsync(new SupervisorOptions { MaxRestarts = 2, Backoff = TimeSpan.FromSeconds(1) });
        _tool.CrashTimes = int.MaxValue;
        Model.CallTool(CrashingTool.Name, new Dictionary<string, object?>());

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("count the files"), Ct);
        await Runtime.WaitForEventAsync(LifecycleEventTypes.RestartScheduled, ("run", run.Id));
        _clock.Advance(TimeSpan.FromSeconds(1));
        var second = LogWaiter.Field(await Runtime.WaitForEventAsync(ServerEventTypes.RunStarted, ("restart_of", run.Id)), "run")!;
        await Runtime.WaitForEventAsync(LifecycleEventTypes.RestartScheduled, ("run", second));
        _clock.Advance(TimeSpan.FromSeconds(2));
        var third = LogWaiter.Field(await Runtime.WaitForEventAsync(ServerEventTypes.RunStarted, ("restart_of", second)), "run")!;

        var messages = new List<MessageDto> { await NextSystemMessageAsync("manager"), await NextSystemMessageAsync("manager"), await NextSystemMessageAsync("manager") };
        Assert.EndsWith("the supervisor restarts it in 1 s (restart 1 of 2)", messages[0].Body, StringComparison.Ordinal);
        Assert.EndsWith("the supervisor restarts it in 2 s (restart 2 of 2)", messages[1].Body, StringComparison.Ordinal);
        Assert.Equal(
            $"crashed: agent 'coder' crashed in run {third}: {Boom}; it is not restarted again (2 restarts in a row crashed); start it yourself once the cause is fixed",
            messages[2].Body);

        // The third crash was told after its (absent) restart was decided: two restarts were scheduled in all.
        var schedules = await Runtime.EventsAsync(e => e.Type == LifecycleEventTypes.RestartScheduled);
        Assert.Equal(["1000", "2000"], schedules.Select(e => LogWaiter.Field(e, "delay_ms")));
        Assert.Equal(0, _clock.TimerCount);
        Assert.Equal(LifecycleState.Crashed, Runtime.Supervisor.StateOf("coder"));
        var agent = (await Host.Client.GetAgentAsync("coder", cancellationToken: Ct)).Agent;
        Assert.Equal((LifecycleState.Crashed, third, "not restarted again: 2 restarts in a row crashed"), (agent.State, agent.LastFailure?.Run, agent.LastFailure?.Restart));

        // The model was called once: each restart made the tool call it crashed in again, and crashed again.
        Assert.Single(Model.Calls);
        Assert.Equal(3, _tool.Calls);
    }

    [Fact]
    public async Task AFailedModelCall_EndsTheRunFailedWithItsReason_AndIsNeverRestarted()
    {
        Model.Fail();

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("count the files"), Ct);
        var reason = "model call 1 failed: the endpoint answered 503 Service Unavailable";
        await AssertFailedOnItsOwnAsync(run.Id, "failed", reason);
    }

    [Fact]
    public async Task AnExhaustedBudget_EndsTheRunWithItsReason_AndIsNeverRestarted()
    {
        Model.CallTool("exec", new Dictionary<string, object?> { ["command"] = "echo" }, inputTokens: 299_500, outputTokens: 500).Answer("never reached");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("spend it all"), Ct);
        var ended = await Runtime.WaitForEventAsync(ServerEventTypes.RunEnded, ("run", run.Id));
        await AssertFailedOnItsOwnAsync(run.Id, "budget_exhausted", LogWaiter.Field(ended, "error")!);
        Assert.StartsWith("the budget cannot cover model call 2", LogWaiter.Field(ended, "error"), StringComparison.Ordinal);
    }

    /// <summary>Run <paramref name="run"/> ended on its own with <paramref name="status"/>: the agent is stopped with the reason, and nothing is restarted.</summary>
    private async Task AssertFailedOnItsOwnAsync(string run, string status, string reason)
    {
        var ended = await Runtime.WaitForEventAsync(ServerEventTypes.RunEnded, ("run", run));
        Assert.Equal((status, reason, null), (LogWaiter.Field(ended, "status"), LogWaiter.Field(ended, "error"), LogWaiter.Field(ended, "crashed")));
        var stopped = await Runtime.WaitForEventAsync(LifecycleEventTypes.StateChanged, ("agent", "coder"), ("to", LifecycleState.Stopped), ("run", run));
        Assert.Equal($"run {run} ended {status}: {reason}", LogWaiter.Field(stopped, "reason"));

        var agent = (await Host.Client.GetAgentAsync("coder", cancellationToken: Ct)).Agent;
        Assert.Equal(LifecycleState.Stopped, agent.State);
        Assert.NotNull(agent.LastFailure);
        Assert.Equal((run, status, reason, false, "not restarted: the run ended on its own"), (agent.LastFailure.Run, agent.LastFailure.Status, agent.LastFailure.Reason, agent.LastFailure.Crashed, agent.LastFailure.Restart));

        // No restart is planned, even long after any backoff.
        Assert.Equal(0, _clock.TimerCount);
        _clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Empty(await Runtime.EventsAsync(e => e.Type is LifecycleEventTypes.RestartScheduled or LifecycleEventTypes.RestartFailed));
        Assert.Empty(await Runtime.EventsAsync(e => e.Type == ServerEventTypes.RunStarted && LogWaiter.Field(e, "restart_of") is not null));
        Assert.Equal(LifecycleState.Stopped, Runtime.Supervisor.StateOf("coder"));
    }

    [Fact]
    public async Task ChangedFiles_ShowNeedsUpdate_AndUpdateGivesTheRunningRunTheNewPrompt()
    {
        Model
            .CallTool("recv", new Dictionary<string, object?> { ["wait_seconds"] = 600 })
            .Answer("read it");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("wait for a message"), Ct);
        await Runtime.WaitForEventAsync(LifecycleEventTypes.StateChanged, ("agent", "coder"), ("to", LifecycleState.Idle));

        var soul = Path.Combine(HomePath, "agents", "coder", "SOUL.md");
        await File.AppendAllTextAsync(soul, "\nAlways answer in haiku.\n", Ct);
        var changed = await Runtime.WaitForEventAsync(LifecycleEventTypes.StateChanged, ("agent", "coder"), ("to", LifecycleState.NeedsUpdate));
        Assert.Equal("changed: SOUL.md", LogWaiter.Field(changed, "reason"));
        Assert.Equal(LifecycleState.NeedsUpdate, (await Host.Client.GetAgentAsync("coder", cancellationToken: Ct)).Agent.State);
        var told = await NextSystemMessageAsync("manager");
        Assert.Equal("needs_update: agent 'coder''s files changed since its run started (changed: SOUL.md); call update to reload its definition", told.Body);

        var result = await Runtime.Manager.UpdateAgentAsync("coder", "the test", Ct);
        Assert.EndsWith($"its run {run.Id} uses the new definition from the next model call", result, StringComparison.Ordinal);
        await Runtime.WaitForEventAsync(LifecycleEventTypes.StateChanged, ("agent", "coder"), ("from", LifecycleState.NeedsUpdate), ("to", LifecycleState.Rebuilding));
        await Runtime.WaitForEventAsync(LifecycleEventTypes.StateChanged, ("agent", "coder"), ("from", LifecycleState.Rebuilding), ("to", LifecycleState.Idle));
        Assert.StartsWith("rebuilt: agent 'coder' reloaded its definition (worker", (await NextSystemMessageAsync("manager")).Body, StringComparison.Ordinal);

        await Host.Client.SendMessageAsync(new SendMessageRequest("coder", "here it is"), Ct);
        Assert.Equal("finished", (await Host.Client.LastStepOfRunAsync(run.Id)).Status);
        Assert.DoesNotContain("Always answer in haiku.", Model.Calls[0][0].Text, StringComparison.Ordinal);
        Assert.Contains("Always answer in haiku.", Model.Calls[1][0].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAnsweredApproval_IsToldToTheWorkersManager()
    {
        Model
            .CallTool("write_file", new Dictionary<string, object?> { ["path"] = "notes.txt", ["content"] = "hello" })
            .Answer("written");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("write a note"), Ct);
        await Runtime.WaitForEventAsync(LifecycleEventTypes.StateChanged, ("agent", "coder"), ("to", LifecycleState.Idle));
        var ticket = Assert.Single(await Host.Client.ListApprovalsAsync(Ct));
        await Host.Client.ApproveAsync(ticket.Ticket, cancellationToken: Ct);

        Assert.Equal($"approval_resolved: agent 'coder''s write_file (approval ticket {ticket.Ticket}) was granted by operator", (await NextSystemMessageAsync("manager")).Body);
        Assert.Equal("finished", (await Host.Client.LastStepOfRunAsync(run.Id)).Status);
    }

    [Fact]
    public async Task ARestartedServer_SeedsStatesSilently_AndTakesUpTheRestartThatWasDue()
    {
        await StopAsync();
        await StartAsync(new SupervisorOptions { MaxRestarts = 0 });
        _tool.CrashTimes = 1;
        Model.CallTool(CrashingTool.Name, new Dictionary<string, object?>()).Answer("done by the next server");
        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("count the files"), Ct);
        await Runtime.WaitForEventAsync(LifecycleEventTypes.StateChanged, ("agent", "coder"), ("to", LifecycleState.Crashed));
        Assert.EndsWith("it is not restarted again (0 restarts in a row crashed); start it yourself once the cause is fixed", (await NextSystemMessageAsync("manager")).Body, StringComparison.Ordinal);
        await StopAsync();
        var before = (await ReadLogAsync()).Max(e => e.Position);

        await StartAsync(new SupervisorOptions());
        var seeded = await Runtime.WaitForEventAsync(e => e.Type == LifecycleEventTypes.Seeded && e.Position > before, "the second server's seed");
        Assert.Contains("\"coder\":\"crashed\"", System.Text.Encoding.UTF8.GetString(seeded.Data.Span), StringComparison.Ordinal);
        Assert.Empty(await Runtime.EventsAsync(e => e.Position > before && e.Position < seeded.Position && e.Type == LifecycleEventTypes.StateChanged));

        // The crash was reported by the first server; this one only takes up its restart.
        var scheduled = await Runtime.WaitForEventAsync(LifecycleEventTypes.RestartScheduled, ("run", run.Id));
        Assert.True(scheduled.Position > seeded.Position);
        _clock.Advance(TimeSpan.FromSeconds(2));
        var restarted = LogWaiter.Field(await Runtime.WaitForEventAsync(ServerEventTypes.RunStarted, ("restart_of", run.Id)), "run")!;
        Assert.Equal("finished", LogWaiter.Field(await Runtime.WaitForEventAsync(ServerEventTypes.RunEnded, ("run", restarted)), "status"));
        var inbox = await Host.Client.ReadInboxAsync("manager", cancellationToken: Ct);
        Assert.DoesNotContain(inbox.Messages, m => m.Role == "system" && m.Body!.StartsWith("crashed:", StringComparison.Ordinal));
    }

    private async Task StartAsync(SupervisorOptions supervisor) => await base.StartAsync(supervisor: supervisor, supervisorClock: _clock, tools: [_tool]);

    /// <summary>The next system message of <paramref name="agent"/>'s inbox (acknowledged, so the next call gets the one after).</summary>
    private async Task<MessageDto> NextSystemMessageAsync(string agent)
    {
        while (true)
        {
            var inbox = await Host.Client.ReadInboxAsync(agent, waitSeconds: 30, max: 1, cancellationToken: Ct);
            var message = Assert.Single(inbox.Messages);
            await Host.Client.AckInboxAsync(agent, message.Seq, Ct);
            if (message.Role == "system")
            {
                return message;
            }
        }
    }

    private Task<List<RecordedEvent>> ReadLogAsync() => EventLog.ReadFileAsync(Path.Combine(HomePath, ApiaryRuntime.StoreFileName));

    /// <summary>
    /// A tool whose handler throws an exception it does not handle, the first <see cref="CrashTimes"/> times: what a bug
    /// in a tool does. The exception escapes the run's loop, and the run crashes.
    /// </summary>
    private sealed class CrashingTool : IAgentTool
    {
        public const string Name = "flaky";

        private int _calls;

        public int CrashTimes { get; set; }

        public int Calls => Volatile.Read(ref _calls);

        public ToolDescriptor Descriptor { get; } = AgentTools.Describe(Name, "A flaky tool", "Does something, unless its state is corrupt.", []);

        public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) =>
            Interlocked.Increment(ref _calls) <= CrashTimes
                ? throw new InvalidOperationException("the tool's state is corrupt")
                : Task.FromResult(new ToolOutcome("the tool worked this time"));
    }
}
