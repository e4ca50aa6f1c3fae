using System.Reflection;
using Apiary.Home;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Apiary.Server.Telemetry;

/// <summary>
/// The server's logging and its OpenTelemetry export. Logs go where the embedder says (<see cref="ServerOptions.LoggerFactory"/>),
/// or to standard error, one line each, warnings and up. Only when the home's <c>apiary.yaml</c> sets
/// <c>telemetry.otlp_endpoint</c> are traces, metrics and logs also exported, over OTLP to that endpoint alone: every
/// <c>Apiary.*</c> activity source and meter, and ASP.NET Core's own. Without it no exporter is registered at all.
/// </summary>
internal static class ServerTelemetry
{
    /// <summary>The activity sources and meters of every Apiary assembly (<c>Apiary.Core</c>, <c>Apiary.Sandbox</c>, ...).</summary>
    public const string ApiarySources = "Apiary.*";

    /// <summary>ASP.NET Core's activity source: one activity per HTTP request, without an instrumentation package.</summary>
    public const string AspNetCoreSource = "Microsoft.AspNetCore";

    /// <summary>ASP.NET Core's meters: request durations and active requests, Kestrel's connections.</summary>
    public static readonly string[] AspNetCoreMeters = ["Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel"];

    private static readonly string ServiceVersion =
        typeof(ServerTelemetry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>
    /// The server's logger factory: <paramref name="given"/>'s loggers (or a single-line console logger on standard error,
    /// warnings and up), plus an OTLP log exporter when <paramref name="telemetry"/> exports. The caller owns and disposes
    /// it; disposing it leaves <paramref name="given"/> alone.
    /// </summary>
    public static ILoggerFactory CreateLoggerFactory(ILoggerFactory? given, TelemetrySettings telemetry) => LoggerFactory.Create(logging =>
    {
        logging.SetMinimumLevel(LogLevel.Information);
        if (given is null)
        {
            logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
            logging.AddSimpleConsole(console => console.SingleLine = true);
            logging.AddFilter<ConsoleLoggerProvider>(null, LogLevel.Warning);
        }
        else
        {
            // The given factory's own filters decide what it keeps.
            logging.SetMinimumLevel(LogLevel.Trace);
            logging.AddProvider(new ForwardingLoggerProvider(given));
        }

        if (telemetry.Exports)
        {
            logging.AddOpenTelemetry(otel =>
            {
                otel.SetResourceBuilder(Resource(telemetry));
                otel.IncludeFormattedMessage = true;
                otel.AddOtlpExporter(exporter => Configure(exporter, telemetry, "v1/logs"));
            });
            logging.AddFilter<OpenTelemetryLoggerProvider>(null, LogLevel.Information);
        }
    });

    /// <summary>Registers tracing and metrics exported over OTLP, when <paramref name="telemetry"/> exports; nothing otherwise.</summary>
    public static void AddExport(IServiceCollection services, TelemetrySettings telemetry)
    {
        if (!telemetry.Exports)
        {
            return;
        }

        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(telemetry.ServiceName, serviceVersion: ServiceVersion))
            .WithTracing(tracing => tracing
                .AddSource(ApiarySources, AspNetCoreSource)
                .AddOtlpExporter(exporter => Configure(exporter, telemetry, "v1/traces")))
            .WithMetrics(metrics => metrics
                .AddMeter(ApiarySources)
                .AddMeter(AspNetCoreMeters)
                .AddOtlpExporter(exporter => Configure(exporter, telemetry, "v1/metrics")));
    }

    /// <summary>
    /// Points an exporter at the home's endpoint, and nowhere else: with gRPC the endpoint as given; with HTTP the
    /// signal's path under it (<c>/v1/traces</c>, ...), since an endpoint set in code is used as the whole URL.
    /// </summary>
    private static void Configure(OtlpExporterOptions exporter, TelemetrySettings telemetry, string signalPath)
    {
        var endpoint = telemetry.OtlpEndpoint!;
        if (telemetry.Protocol == TelemetryProtocol.Grpc)
        {
            exporter.Protocol = OtlpExportProtocol.Grpc;
            exporter.Endpoint = endpoint;
        }
        else
        {
            exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
            exporter.Endpoint = new Uri(endpoint.AbsoluteUri.TrimEnd('/') + "/" + signalPath);
        }
    }

    private static ResourceBuilder Resource(TelemetrySettings telemetry) =>
        ResourceBuilder.CreateDefault().AddService(telemetry.ServiceName, serviceVersion: ServiceVersion);
}
