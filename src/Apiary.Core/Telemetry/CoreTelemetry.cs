using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Apiary.Telemetry;

/// <summary>
/// The <see cref="ActivitySource"/> and <see cref="Meter"/> of <c>Apiary.Core</c>, both named <see cref="Name"/>. Their
/// activities and instruments are made where they are measured (the governance pipeline's in <c>PipelineTelemetry</c>).
/// </summary>
internal static class CoreTelemetry
{
    /// <summary>The name of the activity source and of the meter.</summary>
    public const string Name = "Apiary.Core";

    private static readonly string? Version = typeof(CoreTelemetry).Assembly.GetName().Version?.ToString();

    public static readonly ActivitySource Source = new(Name, Version);

    public static readonly Meter Meter = new(Name, Version);
}
