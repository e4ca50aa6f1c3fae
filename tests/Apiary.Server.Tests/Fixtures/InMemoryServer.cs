using Apiary.Models;
using Apiary.Runtime.Supervision;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Apiary.Server.Tests;

/// <summary>
/// A real server for the home <c>home</c> of a test's folder, served in memory (no socket), with real sandboxes and the
/// models the test gives (or, given none, those of the home's <c>models.yaml</c>), and an API client with the operator
/// token. Test classes whose tests each want one derive from <see cref="InMemoryServerTest"/>.
/// </summary>
internal sealed class InMemoryServer : IAsyncDisposable
{
    private TempDirectory? _ownRoot;

    private InMemoryServer(ApiaryServer server)
    {
        Server = server;
        Http = HttpClientOf(server);
        Client = new ApiaryClient(Http, server.OperatorToken);
    }

    public ApiaryServer Server { get; }

    public HttpClient Http { get; }

    public ApiaryClient Client { get; }

    public ApiaryRuntime Runtime => Server.App.Services.GetRequiredService<ApiaryRuntime>();

    /// <summary>
    /// A server for the home <c>home</c> of <paramref name="root"/> (made from the samples unless it is there already),
    /// with <paramref name="models"/> (null: the home's own <c>models.yaml</c>).
    /// </summary>
    public static async Task<InMemoryServer> StartAsync(
        TempDirectory root, IModelCatalog? models = null, SupervisorOptions? supervisor = null, TimeProvider? supervisorClock = null, TimeProvider? rejectionClock = null, IReadOnlyList<IAgentTool>? tools = null) =>
        new(await ApiaryServer.StartAsync(
            new ServerOptions
            {
                Home = root["home"],
                UserHome = root.Path,
                ConfigureWebHost = web => web.UseTestServer(),
                Models = models,
                Supervisor = supervisor ?? new SupervisorOptions(),
                SupervisorClock = supervisorClock,
                RejectionClock = rejectionClock,
                Tools = tools ?? [],
            },
            TestContext.Current.CancellationToken));

    /// <summary>A server with options of the test's own, which must serve in memory (<c>ConfigureWebHost = web => web.UseTestServer()</c>).</summary>
    public static async Task<InMemoryServer> StartAsync(ServerOptions options) =>
        new(await ApiaryServer.StartAsync(options, TestContext.Current.CancellationToken));

    /// <summary>A server for the sample home in a new temporary folder of its own, removed when the server is disposed.</summary>
    public static async Task<InMemoryServer> StartAsync(string name, IModelCatalog? models = null, TimeProvider? rejectionClock = null)
    {
        var root = new TempDirectory(name);
        try
        {
            var host = await StartAsync(root, models, rejectionClock: rejectionClock);
            host._ownRoot = root;
            return host;
        }
        catch
        {
            root.Dispose();
            throw;
        }
    }

    /// <summary>
    /// An HTTP client of <paramref name="server"/>, served in memory, sending <paramref name="token"/> (if any) as its
    /// bearer token. Its requests name the server's own address in their Host header, as a real client's do (the server
    /// refuses any other host).
    /// </summary>
    public static HttpClient HttpClientOf(ApiaryServer server, string? token = null)
    {
        var http = server.App.GetTestClient();
        http.BaseAddress = new Uri(server.Url + "/");
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Http.Dispose();
        await Server.DisposeAsync();
        _ownRoot?.Dispose();
    }
}
