using Apiary.Home;
using Apiary.Server.Dashboard;
using Apiary.Server.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Apiary.Server;

/// <summary>
/// How a web host serves Apiary: <c>services.AddApiary(runtime, options).WithDashboard().WithTelemetry(settings)</c>
/// registers the API over a runtime (and, each <c>With...</c>, what else is served), and <c>app.MapApiary()</c> puts the
/// request pipeline and the routes in place. <see cref="ApiaryServer"/> composes a host this way; so can a test or
/// another host.
/// </summary>
internal static class ApiaryHostBuilder
{
    /// <summary>Registers the API over <paramref name="runtime"/>: its JSON, problems, OpenAPI document, host guard and authentication.</summary>
    public static ApiaryServices AddApiary(this IServiceCollection services, ApiaryRuntime runtime, ServerOptions options, AuthRejections rejections)
    {
        services.AddSingleton(runtime);
        services.AddSingleton(options);
        services.AddSingleton(rejections);
        services.AddSingleton(new HostGuard([.. runtime.Config.AllowedHosts, .. options.AllowedHosts.Select(ParseHost)]));
        services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
            json.SerializerOptions.TypeInfoResolverChain.Insert(1, ServerJsonContext.Default);
        });
        services.AddProblemDetails();
        services.AddOpenApi("v1");
        return new ApiaryServices(services, runtime);
    }

    /// <summary>
    /// The request pipeline and routes: first the host guard (a request for a host this server does not serve meets
    /// nothing else), then problems, authentication, the OpenAPI document, the API under <c>/api</c>, and the dashboard
    /// when <see cref="ApiaryServices.WithDashboard"/> registered it.
    /// </summary>
    public static WebApplication MapApiary(this WebApplication app)
    {
        app.Use(app.Services.GetRequiredService<HostGuard>().InvokeAsync);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.Use(ApiMiddleware.HandleProblemsAsync);
        app.Use(ApiMiddleware.AuthenticateAsync);
        app.MapOpenApi("/openapi/{documentName}.json");
        ApiEndpoints.Map(app);
        if (app.Services.GetService<DashboardMarker>() is not null)
        {
            app.MapDashboard();
        }

        return app;
    }

    // Validated with the other options when the server starts.
    private static AllowedHost ParseHost(string text) =>
        AllowedHost.TryParse(text, out var host, out var error) ? host : throw new ArgumentException(error, nameof(text));

    /// <summary>Says the dashboard was registered, so <see cref="MapApiary"/> maps it.</summary>
    internal sealed class DashboardMarker;
}

/// <summary>What <see cref="ApiaryHostBuilder.AddApiary"/> registered, and what else to serve with it.</summary>
internal sealed class ApiaryServices(IServiceCollection services, ApiaryRuntime runtime)
{
    public IServiceCollection Services { get; } = services;

    /// <summary>Serves the dashboard (its pages, sign-in and live updates) beside the API.</summary>
    public ApiaryServices WithDashboard()
    {
        Services.AddDashboard(runtime);
        Services.AddSingleton<ApiaryHostBuilder.DashboardMarker>();
        return this;
    }

    /// <summary>Exports traces, metrics and logs over OTLP as <paramref name="telemetry"/> says (nothing when it is off).</summary>
    public ApiaryServices WithTelemetry(TelemetrySettings telemetry)
    {
        ServerTelemetry.AddExport(Services, telemetry);
        return this;
    }

    /// <summary>Registers more tools for the runs to offer their models, beside the built-in ones.</summary>
    public ApiaryServices WithTools(params IEnumerable<IAgentTool> tools)
    {
        foreach (var tool in tools)
        {
            runtime.Tools.Register(tool);
        }

        return this;
    }
}
