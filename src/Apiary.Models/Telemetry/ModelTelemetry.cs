using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Apiary.Models.Telemetry;

/// <summary>
/// The <see cref="ActivitySource"/> and <see cref="Meter"/> of <c>Apiary.Models</c>, both named <see cref="Name"/>: an
/// activity <c>chat MODEL</c> per model call, the counters <c>apiary.model.calls</c> and <c>apiary.model.tokens</c>, and
/// the histogram <c>apiary.model.call.duration</c> (seconds). Tags follow OpenTelemetry's generative-AI conventions.
/// </summary>
internal static class ModelTelemetry
{
    /// <summary>The name of the activity source and of the meter.</summary>
    public const string Name = "Apiary.Models";

    private static readonly string? Version = typeof(ModelTelemetry).Assembly.GetName().Version?.ToString();

    public static readonly ActivitySource Source = new(Name, Version);

    public static readonly Meter Meter = new(Name, Version);

    public static readonly Counter<long> Calls = Meter.CreateCounter<long>(
        "apiary.model.calls", unit: "{call}", description: "Calls to models, by endpoint, model and outcome (ok or error).");

    public static readonly Counter<long> Tokens = Meter.CreateCounter<long>(
        "apiary.model.tokens", unit: "{token}", description: "Tokens models read and wrote, by endpoint, model and gen_ai.token.type (input or output).");

    public static readonly Histogram<double> CallDuration = Meter.CreateHistogram(
        "apiary.model.call.duration",
        unit: "s",
        description: "How long model calls took, retries included, to the last token of a stream.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320] });
}
