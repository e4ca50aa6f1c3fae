using System.Diagnostics;
using System.Diagnostics.Metrics;
using Apiary.Telemetry;

namespace Apiary.Governance.Pipeline;

/// <summary>
/// What the governance pipeline measures: an activity <c>proposal.decide</c> (or <c>proposal.resume</c> for an approved
/// proposal resumed) per decision, and the counter <c>apiary.proposals.decided</c> and histogram
/// <c>apiary.proposal.decision.duration</c> (seconds), tagged with the proposal's kind, the outcome and the stage that decided.
/// </summary>
internal static class PipelineTelemetry
{
    public const string DecideActivity = "proposal.decide";

    public const string ResumeActivity = "proposal.resume";

    private static readonly Counter<long> Decided = CoreTelemetry.Meter.CreateCounter<long>(
        "apiary.proposals.decided", unit: "{proposal}", description: "Proposals the governance pipeline decided, by kind, outcome and deciding stage.");

    private static readonly Histogram<double> DecisionDuration = CoreTelemetry.Meter.CreateHistogram(
        "apiary.proposal.decision.duration",
        unit: "s",
        description: "How long the governance pipeline took to decide a proposal, recording included.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] });

    /// <summary>Runs <paramref name="decide"/> for <paramref name="proposal"/> inside an activity, and counts what it decided.</summary>
    public static async Task<GovernanceResult> MeasureAsync(string activityName, Proposal proposal, Func<Task<GovernanceResult>> decide)
    {
        using var activity = CoreTelemetry.Source.StartActivity(activityName, ActivityKind.Internal);
        var kind = proposal.Kind.Name();
        if (activity is not null)
        {
            activity.SetTag("apiary.proposal.id", proposal.Id.ToString());
            activity.SetTag("apiary.proposal.kind", kind);
            activity.SetTag("apiary.agent", proposal.Principal.Agent.Value);
            activity.SetTag("apiary.session", proposal.Principal.SessionId);
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            var result = await decide().ConfigureAwait(false);
            var outcome = Lower(result.Decision.Kind.ToString());
            var stage = StageName(result.Stage);
            TagList tags = new() { { "apiary.proposal.kind", kind }, { "apiary.decision.outcome", outcome }, { "apiary.decision.stage", stage } };
            Decided.Add(1, tags);
            DecisionDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
            if (activity is not null)
            {
                activity.SetTag("apiary.decision.outcome", outcome);
                activity.SetTag("apiary.decision.stage", stage);
                activity.SetTag("apiary.decision.rule", result.Decision.Rule);
                activity.SetTag("apiary.decision.risk", Lower(result.Decision.Risk.ToString()));
            }

            return result;
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            throw;
        }
    }

    /// <summary>The stage as the event log spells it.</summary>
    public static string StageName(PipelineStage stage) => stage switch
    {
        PipelineStage.KillSwitch => "kill_switch",
        PipelineStage.Policy => "policy",
        PipelineStage.Approval => "approval",
        PipelineStage.Budget => "budget",
        PipelineStage.Lock => "lock",
        _ => "record",
    };

#pragma warning disable CA1308 // Tags spell enum values in lower case, like the event log and the policy files.
    private static string Lower(string name) => name.ToLowerInvariant();
#pragma warning restore CA1308
}
