using Microsoft.AspNetCore.TestHost;

namespace Apiary.Server.Tests;

/// <summary>
/// The tool registry through the API: <c>GET /api/tools</c> lists every registered tool with its schema; the external
/// ones are exactly what <c>apiary mcp</c> describes; and a tool a host registers with <c>WithTools</c> is offered to
/// runs and dispatched by the turn loop like the built-in ones.
/// </summary>
public sealed class ToolRegistryTests : IAsyncLifetime
{
    private readonly TempDirectory _root = new("apiary-tools");
    private readonly ScriptedChatClient _model = new();
    private InMemoryServer _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() =>
        _host = await InMemoryServer.StartAsync(new ServerOptions
        {
            Home = _root["home"],
            UserHome = _root.Path,
            ConfigureWebHost = web => web.UseTestServer(),
            Models = new ScriptedModelCatalog(_model),
            Tools = [new ClockTool()],
        });

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        _root.Dispose();
    }

    [Fact]
    public async Task ListTools_EveryRegisteredTool_WithItsSchema_TheExternalOnesAsApiaryMcpDescribesThem()
    {
        var tools = await _host.Client.ListToolsAsync(Ct);

        Assert.Equal(
            ["exec", "read_file", "write_file", "list_dir", "send", "recv", "ask", "answer", "request_spawn", "start", "stop", "restart", "update", "remember", "clock"],
            tools.Select(t => t.Name));
        Assert.All(tools, t => Assert.Equal("object", t.InputSchema.GetProperty("type").GetString()));
        var external = tools.Where(t => t.External).ToList();
        var mcp = Apiary.Cli.Mcp.McpTools.Definitions;
        Assert.Equal(mcp.Select(t => (t.Name, t.Description ?? "", Compact(t.InputSchema))), external.Select(t => (t.Name, t.Description, Compact(t.InputSchema))));
        Assert.DoesNotContain(external, t => t.Description.Contains("sh', with args ['-c'", StringComparison.Ordinal));
        Assert.Equal(["to", "body"], tools.Single(t => t.Name == "send").InputSchema.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task ARegisteredTool_IsDeclaredToTheModel_AndItsCallsAreDispatchedToIt()
    {
        _model.CallTool("clock", new Dictionary<string, object?>()).Answer("it is late");

        var run = await _host.Client.StartRunAsync("coder", new StartRunRequest("what time is it?"), Ct);
        var steps = await _host.Client.ReadRunToEndAsync(run.Id);

        Assert.Equal(("finished", "it is late"), (steps[^1].Status, steps[^1].Answer));
        Assert.Equal("the clock says noon", Assert.Single(_model.ToolResults()));
    }

    /// <summary>A JSON value without the whitespace its source had, to compare schemas as values.</summary>
    private static string Compact(System.Text.Json.JsonElement value)
    {
        using var buffer = new MemoryStream();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            value.WriteTo(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>A tool of the test's own, registered by the host like a later capability's would be.</summary>
    private sealed class ClockTool : IAgentTool
    {
        public ToolDescriptor Descriptor { get; } = AgentTools.Describe("clock", "Read the clock", "Says what time it is.", []);

        public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => Task.FromResult(new ToolOutcome("the clock says noon"));
    }
}
