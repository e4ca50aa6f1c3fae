namespace Apiary.Home;

/// <summary>How the server exports its traces, metrics and logs over OTLP.</summary>
public enum TelemetryProtocol
{
    /// <summary>OTLP over gRPC (<c>grpc</c>), usually port 4317: the endpoint is the collector's address.</summary>
    Grpc,

    /// <summary>
    /// OTLP over HTTP with protobuf bodies (<c>http/protobuf</c>), usually port 4318: each signal is posted to the
    /// endpoint's <c>/v1/traces</c>, <c>/v1/metrics</c> and <c>/v1/logs</c>.
    /// </summary>
    HttpProtobuf,
}

/// <summary>
/// The <c>telemetry</c> section of <c>apiary.yaml</c>: where the server sends its traces, metrics and logs over OTLP. Off
/// by default: without <c>otlp_endpoint</c>, no exporter is registered and nothing is sent anywhere.
/// </summary>
public sealed record TelemetrySettings
{
    /// <summary>The service name telemetry is sent under when the home does not set <c>telemetry.service_name</c>.</summary>
    public const string DefaultServiceName = "apiary";

    /// <summary>The fields of the section.</summary>
    public static readonly IReadOnlyList<string> Fields = ["otlp_endpoint", "protocol", "service_name"];

    /// <summary>No export: the default.</summary>
    public static TelemetrySettings Off { get; } = new();

    /// <summary>The collector's base address (an absolute http or https URL), or null when nothing is exported.</summary>
    public Uri? OtlpEndpoint { get; init; }

    /// <summary>How the collector is spoken to. Default <see cref="TelemetryProtocol.Grpc"/>.</summary>
    public TelemetryProtocol Protocol { get; init; } = TelemetryProtocol.Grpc;

    /// <summary>The <c>service.name</c> of everything exported. Default <see cref="DefaultServiceName"/>.</summary>
    public string ServiceName { get; init; } = DefaultServiceName;

    /// <summary>True when the home configured an endpoint, so the server exports over OTLP.</summary>
    public bool Exports => OtlpEndpoint is not null;

    /// <summary>How <see cref="Protocol"/> is spelt in <c>apiary.yaml</c>.</summary>
    public static string NameOf(TelemetryProtocol protocol) => protocol == TelemetryProtocol.Grpc ? "grpc" : "http/protobuf";
}
