using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Apiary.Protocol;

namespace Apiary.Sandbox.Telemetry;

/// <summary>
/// The assembly's <see cref="ActivitySource"/> and <see cref="Meter"/>, both named <c>Apiary.Sandbox</c>: an activity
/// <c>sandbox.exec</c> per command run, and the histogram <c>apiary.sandbox.exec.duration</c> (seconds) tagged with how
/// the command ended.
/// </summary>
internal static class SandboxTelemetry
{
    /// <summary>The name of the activity source and of the meter.</summary>
    public const string Name = "Apiary.Sandbox";

    /// <summary>The activity of one command run in a sandbox session.</summary>
    public const string ExecActivity = "sandbox.exec";

    private static readonly string? Version = typeof(SandboxTelemetry).Assembly.GetName().Version?.ToString();

    public static readonly ActivitySource Source = new(Name, Version);

    public static readonly Meter Meter = new(Name, Version);

    private static readonly Histogram<double> ExecDuration = Meter.CreateHistogram(
        "apiary.sandbox.exec.duration",
        unit: "s",
        description: "How long commands ran in sandboxes, from start to their last observation.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900] });

    /// <summary>
    /// Passes <paramref name="observations"/> through, measuring the command they are of: an activity from the first to
    /// the last, and its duration recorded with its exit status (<c>apiary.sandbox.exit_reason</c>: exited, timed_out,
    /// cancelled, output_limit, disk_quota, or error when it ended with an error observation).
    /// </summary>
    public static async IAsyncEnumerable<Observation> MeasureAsync(
        IAsyncEnumerable<Observation> observations, ExecCommand exec, string session, bool confined, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var activity = Source.StartActivity(ExecActivity, ActivityKind.Internal);
        activity?.SetTag("apiary.sandbox.session", session);
        activity?.SetTag("apiary.sandbox.request_id", exec.RequestId);
        activity?.SetTag("apiary.sandbox.confined", confined);
        var started = Stopwatch.GetTimestamp();
        Observation? last = null;
        try
        {
            await foreach (var observation in observations.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                last = observation;
                yield return observation;
            }
        }
        finally
        {
            var reason = last switch
            {
                CompleteObservation complete => ReasonName(complete.Reason),
                ErrorObservation => "error",
                _ => "cancelled",
            };
            var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
            ExecDuration.Record(elapsed, new KeyValuePair<string, object?>("apiary.sandbox.exit_reason", reason), new KeyValuePair<string, object?>("apiary.sandbox.confined", confined));
            if (activity is not null)
            {
                activity.SetTag("apiary.sandbox.exit_reason", reason);
                if (last is CompleteObservation { ExitCode: { } code })
                {
                    activity.SetTag("process.exit.code", code);
                }

                if (last is CompleteObservation { Signal: { } signal })
                {
                    activity.SetTag("apiary.sandbox.signal", signal);
                }

                if (reason is not "exited")
                {
                    activity.SetStatus(ActivityStatusCode.Error, reason);
                }
            }
        }
    }

    private static string ReasonName(CompletionReason reason) => reason switch
    {
        CompletionReason.Exited => "exited",
        CompletionReason.TimedOut => "timed_out",
        CompletionReason.Cancelled => "cancelled",
        CompletionReason.OutputLimit => "output_limit",
        CompletionReason.DiskQuota => "disk_quota",
        _ => "unknown",
    };
}
