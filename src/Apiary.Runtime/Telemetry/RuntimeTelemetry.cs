using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Apiary.Runtime.Telemetry;

/// <summary>
/// The <see cref="ActivitySource"/> and <see cref="Meter"/> of <c>Apiary.Runtime</c>, both named <see cref="Name"/>, and
/// what they measure of agent runs: an activity per run (<c>agent.run</c>), per turn (<c>agent.turn</c>) and per model
/// call of a turn (<c>agent.model_call</c>, the parent of <c>Apiary.Models</c>' <c>chat MODEL</c>); the counters
/// <c>apiary.runs</c>, <c>apiary.turns</c> and <c>apiary.agent.tokens</c>, and the histograms <c>apiary.turn.duration</c>
/// and <c>apiary.agent.model_call.duration</c> (seconds). Each <c>Start...</c> returns null when nobody listens; its
/// <c>...Ended</c> takes that null and still records the measurements.
/// </summary>
internal static class RuntimeTelemetry
{
    /// <summary>The name of the activity source and of the meter.</summary>
    public const string Name = "Apiary.Runtime";

    public const string RunActivity = "agent.run";

    public const string TurnActivity = "agent.turn";

    public const string ModelCallActivity = "agent.model_call";

    private static readonly string? Version = typeof(RuntimeTelemetry).Assembly.GetName().Version?.ToString();

    public static readonly ActivitySource Source = new(Name, Version);

    public static readonly Meter Meter = new(Name, Version);

    private static readonly Counter<long> Runs = Meter.CreateCounter<long>(
        "apiary.runs", unit: "{run}", description: "Agent runs that ended, by agent and status.");

    private static readonly Counter<long> Turns = Meter.CreateCounter<long>(
        "apiary.turns", unit: "{turn}", description: "Turns of agent runs that ended, by agent and outcome (answer, tool_calls or failed).");

    private static readonly Histogram<double> TurnDuration = Meter.CreateHistogram(
        "apiary.turn.duration",
        unit: "s",
        description: "How long turns of agent runs took: the model call and the tool calls it asked for.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600] });

    private static readonly Counter<long> Tokens = Meter.CreateCounter<long>(
        "apiary.agent.tokens", unit: "{token}", description: "Tokens agents' model calls used, by agent, model and gen_ai.token.type (input or output).");

    private static readonly Histogram<double> ModelCallDuration = Meter.CreateHistogram(
        "apiary.agent.model_call.duration",
        unit: "s",
        description: "How long agents' model calls took, by agent, model and outcome.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320] });

    /// <summary>Starts the activity of run <paramref name="runId"/> of <paramref name="agent"/> on <paramref name="model"/> (<c>endpoint/model</c>).</summary>
    public static Activity? StartRun(string runId, string agent, string session, string model)
    {
        var activity = Source.StartActivity(RunActivity, ActivityKind.Internal);
        activity?.SetTag("apiary.run.id", runId);
        activity?.SetTag("apiary.agent", agent);
        activity?.SetTag("apiary.session", session);
        activity?.SetTag("apiary.model", model);
        return activity;
    }

    /// <summary>Ends a run's activity with its <paramref name="status"/> (<c>completed</c>, <c>failed</c>, <c>killed</c>, ...) and counts it in <c>apiary.runs</c>.</summary>
    public static void RunEnded(Activity? activity, string agent, string status, string? error = null)
    {
        Runs.Add(1, new KeyValuePair<string, object?>("apiary.agent", agent), new KeyValuePair<string, object?>("apiary.run.status", status));
        End(activity, "apiary.run.status", status, error);
    }

    /// <summary>Starts the activity of turn <paramref name="turn"/> (from 1) of run <paramref name="runId"/>.</summary>
    public static Activity? StartTurn(string runId, string agent, int turn)
    {
        var activity = Source.StartActivity(TurnActivity, ActivityKind.Internal);
        activity?.SetTag("apiary.run.id", runId);
        activity?.SetTag("apiary.agent", agent);
        activity?.SetTag("apiary.turn", turn);
        return activity;
    }

    /// <summary>
    /// Ends a turn's activity and records it: <paramref name="outcome"/> is <c>answer</c> (the model answered, the run
    /// ends), <c>tool_calls</c> (the model asked for <paramref name="toolCalls"/> tools) or <c>failed</c>; the duration is
    /// the turn's, from <see cref="Stopwatch.GetTimestamp"/> at its start.
    /// </summary>
    public static void TurnEnded(Activity? activity, string agent, string outcome, int toolCalls, long startedTimestamp, string? error = null)
    {
        TagList tags = new() { { "apiary.agent", agent }, { "apiary.turn.outcome", outcome } };
        Turns.Add(1, tags);
        TurnDuration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, tags);
        activity?.SetTag("apiary.turn.tool_calls", toolCalls);
        End(activity, "apiary.turn.outcome", outcome, error);
    }

    /// <summary>Starts the activity of the model call of turn <paramref name="turn"/> of run <paramref name="runId"/>, to <paramref name="model"/> (<c>endpoint/model</c>).</summary>
    public static Activity? StartModelCall(string runId, string agent, int turn, string model)
    {
        var activity = Source.StartActivity(ModelCallActivity, ActivityKind.Internal);
        activity?.SetTag("apiary.run.id", runId);
        activity?.SetTag("apiary.agent", agent);
        activity?.SetTag("apiary.turn", turn);
        activity?.SetTag("apiary.model", model);
        return activity;
    }

    /// <summary>
    /// Ends a model call's activity and records its tokens (<c>apiary.agent.tokens</c>, when the model reported them) and
    /// duration; <paramref name="outcome"/> is <c>ok</c>, <c>error</c> or <c>cancelled</c>.
    /// </summary>
    public static void ModelCallEnded(Activity? activity, string agent, string model, long? inputTokens, long? outputTokens, TimeSpan duration, string outcome, string? error = null)
    {
        if (inputTokens is { } input)
        {
            Tokens.Add(input, new TagList { { "apiary.agent", agent }, { "apiary.model", model }, { "gen_ai.token.type", "input" } });
            activity?.SetTag("gen_ai.usage.input_tokens", input);
        }

        if (outputTokens is { } output)
        {
            Tokens.Add(output, new TagList { { "apiary.agent", agent }, { "apiary.model", model }, { "gen_ai.token.type", "output" } });
            activity?.SetTag("gen_ai.usage.output_tokens", output);
        }

        ModelCallDuration.Record(duration.TotalSeconds, new TagList { { "apiary.agent", agent }, { "apiary.model", model }, { "apiary.model.outcome", outcome } });
        End(activity, "apiary.model.outcome", outcome, error);
    }

    private static void End(Activity? activity, string tag, string value, string? error)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag(tag, value);
        if (error is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, error);
        }

        activity.Dispose();
    }
}
