using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Apiary.Protocol;
using Apiary.Sandbox.Unconfined;
using Apiary.Testing;

namespace Apiary.Sandbox.Tests.Telemetry;

/// <summary>Every command a sandbox session runs is an activity of <c>Apiary.Sandbox</c> and a measurement of its duration, tagged with how it ended.</summary>
public sealed class SandboxTelemetryTests : IDisposable
{
    private readonly TempDirectory _workspace = new("apiary-ws");
    private readonly UnconfinedBackend _backend = new();
    private readonly ConcurrentQueue<Activity> _activities = new();
    private readonly ConcurrentQueue<(double Seconds, string? Reason)> _durations = new();
    private readonly ActivityListener _activityListener;
    private readonly MeterListener _meterListener = new();

    public SandboxTelemetryTests()
    {
        _activityListener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Apiary.Sandbox",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _activities.Enqueue,
        };
        ActivitySource.AddActivityListener(_activityListener);
        _meterListener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Apiary.Sandbox" && instrument.Name == "apiary.sandbox.exec.duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meterListener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            string? reason = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "apiary.sandbox.exit_reason")
                {
                    reason = tag.Value as string;
                }
            }

            _durations.Enqueue((value, reason));
        });
        _meterListener.Start();
    }

    public void Dispose()
    {
        _activityListener.Dispose();
        _meterListener.Dispose();
        _backend.Dispose();
        _workspace.Dispose();
    }

    [Fact]
    public async Task Exec_ExitingCommand_OneActivityWithItsExitCodeAndAMeasuredDuration()
    {
        await using var session = await _backend.OpenSessionAsync(SessionExtensions.Options(_workspace), TestContext.Current.CancellationToken);
        var exec = new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "/bin/sh", Args = ["-c", "exit 3"] };
        var outcome = await session.RunAsync(exec);
        Assert.Equal(3, outcome.Complete!.ExitCode);

        var activity = Assert.Single(_activities, a => (string?)a.GetTagItem("apiary.sandbox.request_id") == exec.RequestId);
        Assert.Equal("sandbox.exec", activity.OperationName);
        Assert.Equal("exited", activity.GetTagItem("apiary.sandbox.exit_reason"));
        Assert.Equal(3, activity.GetTagItem("process.exit.code"));
        Assert.Equal(false, activity.GetTagItem("apiary.sandbox.confined"));
        Assert.Equal(session.Id, activity.GetTagItem("apiary.sandbox.session"));
        Assert.Contains(_durations, d => d.Reason == "exited" && d.Seconds >= 0);
    }

    [Fact]
    public async Task Exec_TimedOut_TaggedTimedOutAndMarkedAnError()
    {
        await using var session = await _backend.OpenSessionAsync(SessionExtensions.Options(_workspace), TestContext.Current.CancellationToken);
        var exec = new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "/bin/sh", Args = ["-c", "sleep 30"], TimeoutMs = 200 };
        await session.RunAsync(exec);

        var activity = Assert.Single(_activities, a => (string?)a.GetTagItem("apiary.sandbox.request_id") == exec.RequestId);
        Assert.Equal("timed_out", activity.GetTagItem("apiary.sandbox.exit_reason"));
        Assert.Equal(ActivityStatusCode.Error, activity.Status);
        Assert.Contains(_durations, d => d.Reason == "timed_out");
    }
}
