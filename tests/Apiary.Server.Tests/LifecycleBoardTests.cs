using System.Text.Json;
using Apiary.Events;
using Apiary.Governance.Pipeline;
using Apiary.Runtime.Manager;
using Apiary.Runtime.Supervision;

namespace Apiary.Server.Tests;

/// <summary>The lifecycle states folded from events: each input, the state it leads to, and what managers are told.</summary>
public sealed class LifecycleBoardTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 21, 9, 0, 0, TimeSpan.Zero);
    private readonly LifecycleBoard _board = new();
    private long _position;

    [Fact]
    public void ARun_GoesStartingRunningIdleRunningStopped()
    {
        Assert.Equal(LifecycleState.Stopped, _board.StateOf("coder"));
        Assert.Equal((LifecycleState.Stopped, LifecycleState.Starting), Only(Apply(Started("r1", "s1"))));
        Assert.Equal((LifecycleState.Starting, LifecycleState.Running), Only(Apply(ModelCalled("r1", "s1"))));
        Assert.Empty(Apply(ToolCalled("r1", "s1")).Transitions);
        Assert.Equal((LifecycleState.Running, LifecycleState.Idle), Only(Apply(Receiving("r1", "s1"))));
        Assert.Equal((LifecycleState.Idle, LifecycleState.Running), Only(Apply(ToolCalled("r1", "s1"))));
        var (transitions, notes) = Apply(Ended("r1", "s1", "finished"));
        Assert.Equal((LifecycleState.Running, LifecycleState.Stopped), Only((transitions, notes)));
        Assert.Equal("run r1 ended finished", transitions[0].Reason);
        Assert.Empty(notes);
    }

    [Fact]
    public void AnApproval_IdlesTheRunOfItsSessionAndItsAnswerIsNoted()
    {
        Apply(Started("r1", "s1"));
        Apply(ModelCalled("r1", "s1"));

        Assert.Equal((LifecycleState.Running, LifecycleState.Idle), Only(Apply(ApprovalRequested("t1", "s1", "write_file"))));
        var (transitions, notes) = Apply(Approval(PipelineEventTypes.ApprovalDenied, "t1", by: "operator", reason: "not now"));

        Assert.Equal((LifecycleState.Idle, LifecycleState.Running), Only((transitions, notes)));
        var note = Assert.Single(notes);
        Assert.Equal((LifecycleNotice.ApprovalResolved, "coder", null), (note.Kind, note.Agent, note.To));
        Assert.Equal("agent 'coder''s write_file (approval ticket t1) was denied by operator: not now", note.Text);

        // A ticket nobody knows of (opened before the log was read, say) changes nothing and tells nobody.
        Assert.Equal((0, 0), Count(Apply(Approval(PipelineEventTypes.ApprovalGranted, "t9", by: "operator"))));
    }

    [Fact]
    public void ACrash_IsCrashedUntilTheNextRunAndKeepsItsAttempt()
    {
        Apply(Started("r1", "s1"));
        Assert.Equal((LifecycleState.Starting, LifecycleState.Crashed), Only(Apply(Ended("r1", "s1", "crashed", crashed: true, error: "InvalidOperationException escaped turn 1: boom"))));
        var crashed = Assert.Single(_board.Crashed);
        Assert.Equal(("r1", "s1", 0, "InvalidOperationException escaped turn 1: boom"), (crashed.Run, crashed.Session, crashed.Attempt, crashed.Error));

        Assert.Equal((LifecycleState.Crashed, LifecycleState.Starting), Only(Apply(Started("r2", "s1", restartOf: "r1", attempt: 1))));
        Assert.Empty(_board.Crashed);
        Apply(Ended("r2", "s1", "crashed", crashed: true, error: "again"));
        Assert.Equal(1, Assert.Single(_board.Crashed).Attempt);
    }

    [Theory]
    [InlineData("failed", "model call 1 failed: the endpoint answered 503 Service Unavailable")]
    [InlineData("failed", "turn cap: the model was called 50 times (max_turns) without giving a final answer")]
    [InlineData("budget_exhausted", "the budget cannot cover model call 2: tokens")]
    public void ARunThatFailsOnItsOwn_IsStoppedNotCrashed_WithItsReason(string status, string error)
    {
        Apply(Started("r1", "s1"));
        var (transitions, _) = Apply(Ended("r1", "s1", status, error: error));

        Assert.Equal((LifecycleState.Starting, LifecycleState.Stopped), Only((transitions, new List<LifecycleNote>())));
        Assert.Equal($"run r1 ended {status}: {error}", transitions[0].Reason);
        Assert.Empty(_board.Crashed);
        var failure = _board.Failures["coder"];
        Assert.Equal(("r1", status, error, false, "not restarted: the run ended on its own"), (failure.Run, failure.Status, failure.Reason, failure.Crashed, failure.Restart));
    }

    [Fact]
    public void ACrashedRunEndedByAnEarlierVersion_AsFailedWithCrashed_IsStillACrash()
    {
        Apply(Started("r1", "s1"));
        Assert.Equal((LifecycleState.Starting, LifecycleState.Crashed), Only(Apply(Ended("r1", "s1", "failed", crashed: true, error: "the model call failed: 503"))));
        Assert.True(_board.Failures["coder"].Crashed);
    }

    [Fact]
    public void TheLastFailure_FollowsItsRestarts_AndAFinishedRunClearsIt()
    {
        var board = new LifecycleBoard(maxRestarts: 1);
        Apply(board, Started("r1", "s1"));
        Apply(board, Ended("r1", "s1", "crashed", crashed: true, error: "boom"));
        Assert.Equal(("crashed", "restart 1 of 1 to be scheduled"), (board.Failures["coder"].Status, board.Failures["coder"].Restart));

        Apply(board, Event("lifecycle-coder", LifecycleEventTypes.RestartScheduled, JsonSerializer.SerializeToUtf8Bytes(
            new RestartScheduledData("coder", "r1", "s1", 1, 1, 2000, At.AddSeconds(2), At, "boom"), RuntimeJsonContext.Default.RestartScheduledData)));
        Assert.Equal("restart 1 of 1 due at 2026-11-21 09:00:02Z", board.Failures["coder"].Restart);
        Apply(board, Started("r2", "s1", restartOf: "r1", attempt: 1));
        Assert.Equal("restarted as run r2 (restart 1 of 1)", board.Failures["coder"].Restart);

        Apply(board, Ended("r2", "s1", "crashed", crashed: true, error: "boom again"));
        Assert.Equal(("r2", "boom again", "not restarted again: 1 restarts in a row crashed"), (board.Failures["coder"].Run, board.Failures["coder"].Reason, board.Failures["coder"].Restart));

        // Killed is someone's decision, not a failure: the last failure stays; a finished run clears it.
        Apply(board, Started("r3", "s2"));
        Apply(board, Ended("r3", "s2", "killed", error: "stopped by the kill switch"));
        Assert.Equal("r2", board.Failures["coder"].Run);
        Apply(board, Started("r4", "s3"));
        Apply(board, Ended("r4", "s3", "finished"));
        Assert.Empty(board.Failures);
    }

    [Fact]
    public void ChangedFiles_MakeARunningAgentNeedUpdateUntilRebuilt()
    {
        _board.SetFiles("coder", "aaa", "seeded");
        Apply(Started("r1", "s1", fingerprint: "aaa"));
        Apply(ModelCalled("r1", "s1"));

        Assert.Equal((LifecycleState.Running, LifecycleState.NeedsUpdate), Only((_board.SetFiles("coder", "bbb", "changed: SOUL.md"), [])));
        Assert.Equal((LifecycleState.NeedsUpdate, LifecycleState.Rebuilding), Only(Apply(Rebuild(LifecycleEventTypes.Rebuilding, null, null))));
        var (transitions, notes) = Apply(Rebuild(LifecycleEventTypes.Rebuilt, "bbb", ["r1"]));
        Assert.Equal((LifecycleState.Rebuilding, LifecycleState.Running), Only((transitions, notes)));
        Assert.Equal(LifecycleNotice.Rebuilt, Assert.Single(notes).Kind);

        // A stopped agent whose files change stays stopped: its next run starts with them.
        Apply(Ended("r1", "s1", "finished"));
        Assert.Empty(_board.SetFiles("coder", "ccc", "changed: AGENTS.md"));
        Assert.Equal(LifecycleState.Stopped, _board.StateOf("coder"));
    }

    [Fact]
    public void ARebuildThatFails_EndsRebuildingAndSaysWhy()
    {
        Apply(Rebuild(LifecycleEventTypes.Rebuilding, null, null));
        Assert.Equal(LifecycleState.Rebuilding, _board.StateOf("coder"));

        var (transitions, notes) = Apply(Rebuild(LifecycleEventTypes.Rebuilt, null, null, summary: "AGENTS.md:3:1: unknown role"));

        Assert.Equal((LifecycleState.Rebuilding, LifecycleState.Stopped), Only((transitions, notes)));
        Assert.Equal("agent 'coder' could not be reloaded: AGENTS.md:3:1: unknown role", Assert.Single(notes).Text);
    }

    [Fact]
    public void ASpawn_IsNotedToItsParentOnly()
    {
        var data = new AgentSpawnedData("helper", "manager", 1, "s1", "p1", "t1", ["AGENTS.md", "SOUL.md"], false, At);
        var (_, notes) = Apply(Event(ManagerEventTypes.SpawnStream, ManagerEventTypes.AgentSpawned, JsonSerializer.SerializeToUtf8Bytes(data, RuntimeJsonContext.Default.AgentSpawnedData)));

        var note = Assert.Single(notes);
        Assert.Equal((LifecycleNotice.Spawned, "helper", "manager"), (note.Kind, note.Agent, note.To));
    }

    [Fact]
    public void AResumedRun_WaitingForATicket_IsIdle()
    {
        Apply(Started("r1", "s1"));
        var resumed = new RunResumedData("r1", "coder", "s1", 3, "t1", At, "aaa");
        Assert.Equal((LifecycleState.Starting, LifecycleState.Idle), Only(Apply(Event("session-s1", ServerEventTypes.RunResumed, JsonSerializer.SerializeToUtf8Bytes(resumed, RuntimeJsonContext.Default.RunResumedData)))));
    }

    [Fact]
    public void TwoRuns_TheBusierOneSetsTheState()
    {
        Apply(Started("r1", "s1"));
        Apply(ModelCalled("r1", "s1"));
        Apply(Started("r2", "s2"));
        Assert.Equal(LifecycleState.Running, _board.StateOf("coder"));

        Apply(Receiving("r1", "s1"));
        Assert.Equal(LifecycleState.Starting, _board.StateOf("coder"));
        Apply(Receiving("r2", "s2"));
        Assert.Equal(LifecycleState.Idle, _board.StateOf("coder"));
    }

    private (List<LifecycleTransition> Transitions, List<LifecycleNote> Notes) Apply(RecordedEvent e) => _board.Apply(e);

    private static void Apply(LifecycleBoard board, RecordedEvent e) => board.Apply(e);

    private static (string From, string To) Only((List<LifecycleTransition> Transitions, List<LifecycleNote> Notes) change)
    {
        var t = Assert.Single(change.Transitions);
        return (t.From, t.To);
    }

    private static (int, int) Count((List<LifecycleTransition> Transitions, List<LifecycleNote> Notes) change) => (change.Transitions.Count, change.Notes.Count);

    private RecordedEvent Started(string run, string session, string? fingerprint = null, string? restartOf = null, int? attempt = null) =>
        Server(session, ServerEventTypes.RunStarted, new RunStartedData(run, "coder", session, "scripted/test", 50, "operator", At, fingerprint, restartOf, attempt), RuntimeJsonContext.Default.RunStartedData);

    private RecordedEvent ModelCalled(string run, string session) =>
        Server(session, ServerEventTypes.ModelCalled, new ModelCalledData(run, "coder", session, 1, "scripted/test", 10, 5, 3, 1, "tool_calls", null, At), RuntimeJsonContext.Default.ModelCalledData);

    private RecordedEvent ToolCalled(string run, string session) =>
        Server(session, ServerEventTypes.ToolCalled, new ToolCalledData(run, "coder", session, 1, "exec", "c1", "p1", "allow", "r", null, At), RuntimeJsonContext.Default.ToolCalledData);

    private RecordedEvent Ended(string run, string session, string status, bool crashed = false, string? error = null) =>
        Server(session, ServerEventTypes.RunEnded, new RunEndedData(run, "coder", session, status, 1, error, At, crashed ? true : null), RuntimeJsonContext.Default.RunEndedData);

    private RecordedEvent Receiving(string run, string session) =>
        Event("session-" + session, LifecycleEventTypes.RunReceiving, JsonSerializer.SerializeToUtf8Bytes(new RunReceivingData(run, "coder", session, 1, 30, At), RuntimeJsonContext.Default.RunReceivingData));

    private RecordedEvent Rebuild(string type, string? fingerprint, IReadOnlyList<string>? runs, string summary = "worker, model scripted/test") =>
        Event("lifecycle-coder", type, JsonSerializer.SerializeToUtf8Bytes(new RebuildData("coder", "agent manager", fingerprint, runs, type == LifecycleEventTypes.Rebuilt ? summary : null, At), RuntimeJsonContext.Default.RebuildData));

    // The pipeline's own records, as it writes them (snake_case JSON).
    private RecordedEvent ApprovalRequested(string ticket, string session, string kind) =>
        Event("approval-" + ticket, PipelineEventTypes.ApprovalRequested, JsonSerializer.SerializeToUtf8Bytes(new
        {
            ticket_id = ticket,
            rule = "needs-approval",
            proposal = new { id = "p1", kind, agent = "coder", role = "worker", session },
        }));

    private RecordedEvent Approval(string type, string ticket, string by, string? reason = null) =>
        Event("approval-" + ticket, type, JsonSerializer.SerializeToUtf8Bytes(new { ticket_id = ticket, by, reason }));

    private RecordedEvent Server<T>(string session, string type, T data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        Event("session-" + session, type, JsonSerializer.SerializeToUtf8Bytes(data, info));

    private RecordedEvent Event(string stream, string type, byte[] data) =>
        new(++_position, stream, 1, type, At, data, null, new byte[32], new byte[32], new byte[32]);
}
