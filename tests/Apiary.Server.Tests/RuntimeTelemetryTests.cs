using System.Collections.Concurrent;
using System.Diagnostics;
using Apiary.Runtime.Telemetry;
using Apiary.Testing;
using Microsoft.Extensions.Logging;

namespace Apiary.Server.Tests;

/// <summary>The runtime's log methods reach the logger they are given, and its activities carry the run's, turn's and model call's tags.</summary>
public sealed class RuntimeTelemetryTests : IDisposable
{
    private readonly ConcurrentQueue<Activity> _activities = new();
    private readonly ActivityListener _listener;

    public RuntimeTelemetryTests()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Apiary.Runtime",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _activities.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose() => _listener.Dispose();

    [Fact]
    public void RuntimeLog_DamagedLogAccepted_ReachesTheLoggerWithItsEventId()
    {
        using var logging = CapturingLoggerProvider.CreateFactory(out var logs);

        var logger = logging.CreateLogger("Apiary.Runtime");
        RuntimeLog.DamagedLogAccepted(logger, "/h/events.db", 2, "audit.damage-accepted");

        var entry = Assert.Single(logs.Entries);
        Assert.Equal((LogLevel.Warning, 5002, "DamagedLogAccepted"), (entry.Level, entry.EventId.Id, entry.EventId.Name));
        Assert.Equal("accepted the damaged event log /h/events.db as it is (2 problem(s), recorded as audit.damage-accepted); signing a new checkpoint", entry.Message);
    }

    [Fact]
    public void RuntimeLog_Prompt_OnlyAtTrace()
    {
        using var tracing = CapturingLoggerProvider.CreateFactory(out var logs);
        var logger = tracing.CreateLogger("Apiary.Runtime");

        RuntimeLog.ModelPrompt(logger, "run-1", 1, "hello");

        Assert.Equal(LogLevel.Trace, Assert.Single(logs.Entries).Level);
    }

    [Fact]
    public void RunTurnAndModelCall_ActivitiesNestedAndTagged()
    {
        var runId = "run-" + Guid.NewGuid().ToString("N");
        using (var run = RuntimeTelemetry.StartRun(runId, "coder", "s-1", "local/m"))
        {
            var turn = RuntimeTelemetry.StartTurn(runId, "coder", 1);
            var started = Stopwatch.GetTimestamp();
            var call = RuntimeTelemetry.StartModelCall(runId, "coder", 1, "local/m");
            RuntimeTelemetry.ModelCallEnded(call, "coder", "local/m", 12, 3, TimeSpan.FromMilliseconds(5), "ok");
            RuntimeTelemetry.TurnEnded(turn, "coder", "answer", 0, started);
            RuntimeTelemetry.RunEnded(run, "coder", "completed");
        }

        var mine = _activities.Where(a => (string?)a.GetTagItem("apiary.run.id") == runId).ToList();
        Assert.Equal(["agent.model_call", "agent.turn", "agent.run"], mine.Select(a => a.OperationName));
        Assert.Equal(mine[1].SpanId, mine[0].ParentSpanId);
        Assert.Equal(mine[2].SpanId, mine[1].ParentSpanId);
        Assert.Equal(12L, mine[0].GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal("answer", mine[1].GetTagItem("apiary.turn.outcome"));
        Assert.Equal("completed", mine[2].GetTagItem("apiary.run.status"));
    }
}
