using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;

namespace Apiary.Server.Tests;

/// <summary>A real server on a free loopback port over a fresh sample home, with real bubblewrap sandboxes.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private readonly TempDirectory _root;

    private TestServer(TempDirectory root, ApiaryServer server, string home)
    {
        _root = root;
        Server = server;
        Home = home;
        Http = Client(server.OperatorToken);
    }

    public ApiaryServer Server { get; }

    public string Home { get; }

    public HttpClient Http { get; }

    public ApiaryRuntime Runtime => Server.App.Services.GetRequiredService<ApiaryRuntime>();

    /// <summary>Starts a server on a new home made from the samples; <paramref name="prepare"/> may change the home's files first.</summary>
    public static async Task<TestServer> StartAsync(int streamClientBuffer = 4096, Func<string, Task>? prepare = null)
    {
        var root = new TempDirectory("apiary-server");
        var home = Path.Combine(root.Path, "home");
        if (prepare is not null)
        {
            await new Home.ApiaryHome(home, root.Path).InitializeAsync(TestContext.Current.CancellationToken);
            await prepare(home);
        }

        var server = await ApiaryServer.StartAsync(new ServerOptions { Home = home, Urls = "http://127.0.0.1:0", UserHome = root.Path, StreamClientBuffer = streamClientBuffer }, TestContext.Current.CancellationToken);
        return new TestServer(root, server, home);
    }

    /// <summary>Starts a server on a new sample home with the policy file <paramref name="file"/> added to it.</summary>
    public static Task<TestServer> StartWithPolicyAsync(string file, string yaml) =>
        StartAsync(prepare: home => File.WriteAllTextAsync(Path.Combine(home, "policies", file), yaml, TestContext.Current.CancellationToken));

    public HttpClient Client(string? token)
    {
        var client = new HttpClient { BaseAddress = new Uri(Server.Url), Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public Task<OpenSessionResponse> OpenSessionAsync(string agent = "coder") => Http.OpenSessionAsync(new OpenSessionRequest(agent));

    public async Task<ProposalDto> ProposeAsync(string session, ProposalRequest request, bool wait = true, HttpClient? client = null)
    {
        var response = await (client ?? Http).PostAsJsonAsync($"/api/sessions/{session}/proposals{(wait ? "?wait=true" : "")}", request, ApiJsonContext.Default.ProposalRequest, TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ProposalDto, TestContext.Current.CancellationToken))!;
    }

    public async Task<ProposalDto> GetProposalAsync(string id) =>
        (await Http.GetFromJsonAsync($"/api/proposals/{id}", ApiJsonContext.Default.ProposalDto, TestContext.Current.CancellationToken))!;

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        _root.Dispose();
    }
}
