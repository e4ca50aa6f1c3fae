using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Apiary.Governance;
using Apiary.Governance.Pipeline;

namespace Apiary.Tests.Governance.Pipeline;

/// <summary>
/// Every decision of the governance pipeline is one activity of <c>Apiary.Core</c> and one count of
/// <c>apiary.proposals.decided</c>, tagged with the proposal's kind, the outcome and the stage that decided.
/// </summary>
public sealed class PipelineTelemetryTests : IDisposable
{
    private readonly ConcurrentQueue<Activity> _activities = new();
    private readonly ConcurrentQueue<Dictionary<string, object?>> _counted = new();
    private readonly ActivityListener _activityListener;
    private readonly MeterListener _meterListener = new();

    public PipelineTelemetryTests()
    {
        _activityListener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Apiary.Core",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _activities.Enqueue,
        };
        ActivitySource.AddActivityListener(_activityListener);
        _meterListener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Apiary.Core" && instrument.Name == "apiary.proposals.decided")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meterListener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var all = new Dictionary<string, object?>(StringComparer.Ordinal) { ["value"] = value };
            foreach (var tag in tags)
            {
                all[tag.Key] = tag.Value;
            }

            _counted.Enqueue(all);
        });
        _meterListener.Start();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _activityListener.Dispose();
        _meterListener.Dispose();
    }

    [Fact]
    public async Task SubmitAsync_Allowed_OneActivityTaggedWithKindOutcomeAndStage()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var proposal = PipelineFixture.Exec("s-telemetry-allow", "ls", "-la");

        await f.Pipeline.SubmitAsync(proposal, PipelineFixture.OneCommand, Ct);

        var activity = Assert.Single(Of(proposal));
        Assert.Equal("proposal.decide", activity.OperationName);
        Assert.Equal("exec", activity.GetTagItem("apiary.proposal.kind"));
        Assert.Equal("allow", activity.GetTagItem("apiary.decision.outcome"));
        Assert.Equal("policy", activity.GetTagItem("apiary.decision.stage"));
        Assert.Equal("allow-ls", activity.GetTagItem("apiary.decision.rule"));
        Assert.Equal("coder", activity.GetTagItem("apiary.agent"));
        Assert.Contains(_counted, c => (long)c["value"]! == 1 && Tagged(c, "exec", "allow", "policy"));
    }

    [Fact]
    public async Task SubmitAsync_Denied_OneActivityWithTheDenyOutcome()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var proposal = PipelineFixture.Exec("s-telemetry-deny", "rm", "-rf", "x");

        await f.Pipeline.SubmitAsync(proposal, PipelineFixture.OneCommand, Ct);

        var activity = Assert.Single(Of(proposal));
        Assert.Equal("deny", activity.GetTagItem("apiary.decision.outcome"));
        Assert.Equal("deny-rm", activity.GetTagItem("apiary.decision.rule"));
        Assert.Contains(_counted, c => Tagged(c, "exec", "deny", "policy"));
    }

    [Fact]
    public async Task ResumeAsync_Approved_APendingThenAResumeActivity()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var proposal = PipelineFixture.Exec("s-telemetry-approve", "git", "push");
        var pending = await f.Pipeline.SubmitAsync(proposal, PipelineFixture.OneCommand, Ct);
        await f.Pipeline.ApproveAsync(pending.Ticket!.Id, ApprovalScope.Once, "operator", Ct);

        await f.Pipeline.ResumeAsync(pending.Ticket.Id, Ct);

        var activities = Of(proposal);
        Assert.Equal(["proposal.decide", "proposal.resume"], activities.Select(a => a.OperationName));
        Assert.Equal(["pending", "allow"], activities.Select(a => a.GetTagItem("apiary.decision.outcome")));
        Assert.All(activities, a => Assert.Equal("approval", a.GetTagItem("apiary.decision.stage")));
    }

    private List<Activity> Of(Proposal proposal) =>
        [.. _activities.Where(a => (string?)a.GetTagItem("apiary.proposal.id") == proposal.Id.ToString())];

    private static bool Tagged(Dictionary<string, object?> counted, string kind, string outcome, string stage) =>
        (string?)counted.GetValueOrDefault("apiary.proposal.kind") == kind
        && (string?)counted.GetValueOrDefault("apiary.decision.outcome") == outcome
        && (string?)counted.GetValueOrDefault("apiary.decision.stage") == stage;
}
