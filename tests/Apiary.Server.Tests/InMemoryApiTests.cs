using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Apiary.Server.Tests;

/// <summary>
/// The API served in memory (ASP.NET Core's TestServer, which WebApplicationFactory also runs on): no socket, the same
/// application, runtime, store and sandboxes as <c>apiary up</c>.
/// </summary>
public sealed class InMemoryApiTests : IAsyncLifetime
{
    private InMemoryServer _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ApiaryServer Server => _host.Server;

    public async ValueTask InitializeAsync() => _host = await InMemoryServer.StartAsync("apiary-inmemory");

    public async ValueTask DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Start_InMemory_ReadyWithEveryCheck()
    {
        using var http = Client(null);

        var response = await http.GetAsync("/readyz", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var ready = await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ReadinessDto, Ct);
        Assert.True(ready!.Ready);
        Assert.Contains(ready.Checks, c => c.Name == "store" && c.Ready);
    }

    [Fact]
    public async Task OpenApi_Served_DescribesTheRoutes()
    {
        using var http = Client(null);

        using var document = JsonDocument.Parse(await http.GetStringAsync("/openapi/v1.json", Ct));

        var paths = document.RootElement.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/api/sessions", out _));
        Assert.True(paths.TryGetProperty("/api/sessions/{id}/proposals", out _));
        Assert.True(paths.TryGetProperty("/api/events/stream", out _));
    }

    [Fact]
    public async Task Agents_OperatorToken_ListsTheSampleAgents()
    {
        using var http = Client(Server.OperatorToken);

        var agents = await http.GetFromJsonAsync("/api/agents", ApiJsonContext.Default.IReadOnlyListAgentDto, Ct);

        Assert.Contains(agents!, a => a.Name == "coder" && a.Role == "worker");
        Assert.Contains(agents!, a => a.Name == "manager" && a.Role == "manager");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-token")]
    public async Task Api_NoOrWrongToken_401ProblemThatSaysWhatToDo(string? token)
    {
        using var http = Client(token);

        var response = await http.GetAsync("/api/agents", Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Contains("token", problem.RootElement.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task ReadOnlyToken_ReadsButCannotOpenASession()
    {
        using var http = Client(Server.ReadOnlyToken);

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/agents", Ct)).StatusCode);
        var open = await http.PostAsJsonAsync("/api/sessions", new OpenSessionRequest("coder"), ApiJsonContext.Default.OpenSessionRequest, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, open.StatusCode);
    }

    [Fact]
    public async Task Sessions_UnknownAgent_404Problem()
    {
        using var http = Client(Server.OperatorToken);

        var response = await http.PostAsJsonAsync("/api/sessions", new OpenSessionRequest("nobody"), ApiJsonContext.Default.OpenSessionRequest, Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Sessions_MalformedJson_400ProblemAndServerStillServes()
    {
        using var http = Client(Server.OperatorToken);

        using var body = new StringContent("{\"agent\": ", Encoding.UTF8, "application/json");
        var response = await http.PostAsync("/api/sessions", body, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/agents", Ct)).StatusCode);
    }

    [Fact]
    public async Task Exec_Echo_AllowedRunsInTheSandboxAndIsRecorded()
    {
        using var http = Client(Server.OperatorToken);
        var opened = await (await http.PostAsJsonAsync("/api/sessions", new OpenSessionRequest("coder"), ApiJsonContext.Default.OpenSessionRequest, Ct))
            .Content.ReadFromJsonAsync(ApiJsonContext.Default.OpenSessionResponse, Ct);

        var response = await http.PostAsJsonAsync(
            $"/api/sessions/{opened!.Session.Id}/proposals?wait=true",
            new ProposalRequest("exec", Command: "echo", Args: ["in", "memory"]),
            ApiJsonContext.Default.ProposalRequest,
            Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var proposal = await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ProposalDto, Ct);
        Assert.Equal("completed", proposal!.Status);
        Assert.Equal("allow", proposal.Decision.Decision);
        Assert.Equal(0, proposal.Result!.ExitCode);
        Assert.Equal("in memory\n", proposal.Result.Stdout);
        var events = await http.GetFromJsonAsync($"/api/events?session={opened.Session.Id}", ApiJsonContext.Default.IReadOnlyListEventDto, Ct);
        Assert.Contains(events!, e => e.Type == "proposal.completed");
    }

    private HttpClient Client(string? token) => InMemoryServer.HttpClientOf(Server, token);
}
