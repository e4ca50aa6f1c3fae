using System.Text;
using Apiary.Contracts;
using Apiary.Home;
using Apiary.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Apiary.Server.Tests;

/// <summary>
/// OTLP export is off unless the home's apiary.yaml turns it on: then a proposal run through the real server reaches a
/// collector (here a stand-in speaking OTLP/HTTP protobuf) as traces and metrics, sent when the server stops.
/// </summary>
public sealed class TelemetryExportTests : IDisposable
{
    private readonly TempDirectory _root = new("apiary-telemetry");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task Start_NoTelemetrySection_NoExporterRegistered()
    {
        await InitializeAsync("");
        using var logging = CapturingLoggerProvider.CreateFactory(out var logs);
        await using var host = await StartAsync(logging);

        Assert.Null(host.Server.App.Services.GetService<TracerProvider>());
        Assert.Null(host.Server.App.Services.GetService<MeterProvider>());
        Assert.DoesNotContain(logs.Entries, e => e.EventId.Name == "ExportingTelemetry");
    }

    [Fact]
    public async Task ProposalRun_TelemetryConfigured_TracesAndMetricsReachTheCollectorOverOtlpHttp()
    {
        await using var collector = await OtlpReceiver.StartAsync(Ct);
        await InitializeAsync($"\ntelemetry:\n  otlp_endpoint: {collector.BaseUri}\n  protocol: http/protobuf\n  service_name: apiary-test\n");
        using var logging = CapturingLoggerProvider.CreateFactory(out var logs);
        var host = await StartAsync(logging);
        try
        {
            Assert.NotNull(host.Server.App.Services.GetService<TracerProvider>());
            Assert.NotNull(host.Server.App.Services.GetService<MeterProvider>());
            var exporting = Assert.Single(logs.Entries, e => e.EventId.Name == "ExportingTelemetry");
            Assert.Contains($"over OTLP (http/protobuf) to {collector.BaseUri}", exporting.Message, StringComparison.Ordinal);

            var opened = await host.Client.OpenSessionAsync("coder", Ct);
            var denied = await host.Client.ProposeAsync(opened.Session.Id, new ProposalRequest("exec", Command: "rm", Args: ["-rf", "/"]), cancellationToken: Ct);
            Assert.Equal("deny", denied.Decision.Decision);
        }
        finally
        {
            // Stopping flushes what the exporters hold: no waiting on a clock.
            await host.DisposeAsync();
        }

        var exports = collector.Exports;
        Assert.All(exports, e => Assert.Equal("application/x-protobuf", e.ContentType));
        var traces = exports.Where(e => e.Path == "/v1/traces").ToList();
        Assert.NotEmpty(traces);
        Assert.Contains(traces, e => Contains(e.Body, "proposal.decide") && Contains(e.Body, "apiary.decision.outcome") && Contains(e.Body, "apiary-test"));
        Assert.Contains(exports, e => e.Path == "/v1/metrics" && Contains(e.Body, "apiary.proposals.decided"));
    }

    private async Task InitializeAsync(string telemetry)
    {
        var home = new ApiaryHome(_root["home"], _root.Path);
        await home.InitializeAsync(Ct);
        await File.AppendAllTextAsync(home.ConfigFile, telemetry, Ct);
    }

    private Task<InMemoryServer> StartAsync(ILoggerFactory logging) =>
        InMemoryServer.StartAsync(new ServerOptions
        {
            Home = _root["home"],
            UserHome = _root.Path,
            ConfigureWebHost = web => web.UseTestServer(),
            Models = new ScriptedModelCatalog(new ScriptedChatClient()),
            LoggerFactory = logging,
        });

    // Protobuf carries names and string values as plain UTF-8 bytes.
    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;
}
