using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Apiary.Testing;

/// <summary>One export an <see cref="OtlpReceiver"/> received.</summary>
/// <param name="Path">The signal's path: <c>/v1/traces</c>, <c>/v1/metrics</c> or <c>/v1/logs</c>.</param>
/// <param name="ContentType">The request's content type (<c>application/x-protobuf</c> from an OTLP/HTTP exporter).</param>
/// <param name="Body">The request's protobuf body, as received.</param>
public sealed record OtlpExport(string Path, string? ContentType, byte[] Body);

/// <summary>
/// A stand-in for an OpenTelemetry collector speaking OTLP/HTTP with protobuf bodies, on a real loopback socket: it
/// accepts <c>POST /v1/traces</c>, <c>/v1/metrics</c> and <c>/v1/logs</c>, keeps what arrived, and answers each with an
/// empty export response (which is the empty protobuf message).
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<OtlpExport> _exports = new();

    private OtlpReceiver(WebApplication app) => _app = app;

    /// <summary>The collector's base address (<c>http://127.0.0.1:PORT</c>), to which the signals' paths are added.</summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary>Every export received so far, in order.</summary>
    public IReadOnlyList<OtlpExport> Exports => [.. _exports];

    public static async Task<OtlpReceiver> StartAsync(CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddRoutingCore();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.UseRouting();
        foreach (var path in (string[])["/v1/traces", "/v1/metrics", "/v1/logs"])
        {
            app.MapPost(path, receiver.ReceiveAsync);
        }

        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.BaseUri = new Uri(address.TrimEnd('/'));
        return receiver;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync().ConfigureAwait(false);

    private async Task ReceiveAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
        _exports.Enqueue(new OtlpExport(context.Request.Path, context.Request.ContentType, body.ToArray()));
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/x-protobuf";
    }
}
