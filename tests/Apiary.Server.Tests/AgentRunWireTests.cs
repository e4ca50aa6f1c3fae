using Apiary.Home;
using Apiary.Secrets;

namespace Apiary.Server.Tests;

/// <summary>
/// The turn loop end to end through the real SDKs: the server loads <c>models.yaml</c> itself (no fake catalog), and the
/// model is the scripted server speaking the OpenAI or Anthropic wire format over HTTP. What the model is told back is
/// asserted on the requests it received.
/// </summary>
public sealed class AgentRunWireTests : IAsyncLifetime
{
    private readonly TempDirectory _root = new("apiary-runs-wire");
    private ScriptedModelServer _model = null!;
    private InMemoryServer? _host;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string HomeRoot => _root["home"];

    public async ValueTask InitializeAsync()
    {
        _model = await ScriptedModelServer.StartAsync(Ct);
        await new ApiaryHome(HomeRoot, _root.Path).InitializeAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _model.DisposeAsync();
        _root.Dispose();
    }

    [Fact]
    public async Task Run_OpenAIEndpoint_ToolResultReachesTheModelAndAnswerComesBack()
    {
        await WriteModelsAsync($$"""
            default: local/qwen2.5-coder
            endpoints:
              local: { provider: openai, base_url: "{{_model.OpenAIBaseUri}}" }
            """);
        _model.EnqueueToolCalls(new ScriptedToolCall("exec", """{"command":"echo","args":["hello from the sandbox"]}""", "call_echo"))
            .EnqueueText("the sandbox said hello");
        var client = await StartAsync();

        var run = await client.StartRunAsync("coder", new StartRunRequest("say hello"), Ct);
        var end = await client.LastStepOfRunAsync(run.Id);

        Assert.True(end.Status == "finished", $"{end.Status}: {end.Error}");
        Assert.Equal("the sandbox said hello", end.Answer);
        Assert.Equal(2, _model.Requests.Count);
        var first = _model.Requests[0];
        Assert.Equal(("openai", "qwen2.5-coder"), (first.WireFormat, first.Model));
        Assert.Contains("exec", first.ToolNames);
        var result = Assert.Single(_model.Requests[1].Messages.SelectMany(m => m.ToolResults));
        Assert.Equal("call_echo", result.CallId);
        Assert.StartsWith("exit code 0", result.Content, StringComparison.Ordinal);
        Assert.Contains("hello from the sandbox", result.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OpenAIEndpoint_DeniedToolCallIsSeenByTheModel()
    {
        await WriteModelsAsync($$"""
            endpoints:
              local: { provider: openai, base_url: "{{_model.OpenAIBaseUri}}" }
            """);
        _model.EnqueueToolCalls(new ScriptedToolCall("exec", """{"command":"rm","args":["-rf","/"]}""", "call_rm"))
            .EnqueueText("I may not delete the root folder");
        var client = await StartAsync();

        var run = await client.StartRunAsync("coder", new StartRunRequest("clean up"), Ct);
        var end = await client.LastStepOfRunAsync(run.Id);

        Assert.True(end.Status == "finished", $"{end.Status}: {end.Error}");
        Assert.Equal("I may not delete the root folder", end.Answer);
        var told = Assert.Single(_model.Requests[1].Messages.SelectMany(m => m.ToolResults));
        Assert.Equal("call_rm", told.CallId);
        Assert.StartsWith("denied by rule 'deny-rm-root'", told.Content, StringComparison.Ordinal);
        Assert.Contains("It did not run.", told.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_AnthropicEndpointWithSecretKey_ToolResultReachesTheModelAndAnswerComesBack()
    {
        var home = new ApiaryHome(HomeRoot, _root.Path);
        await new FileSecretStore(home).SetAsync("ANTHROPIC_API_KEY", "sk-ant-wire-test-key", Ct);
        await WriteModelsAsync($$"""
            endpoints:
              claude: { provider: anthropic, base_url: "{{_model.BaseUri}}", api_key_secret: ANTHROPIC_API_KEY }
            prices:
              claude/claude-sonnet-4-5: { input: 3.00, output: 15.00 }
            """);
        _model.EnqueueToolCalls(new ScriptedToolCall("exec", """{"command":"echo","args":["hi claude"]}""", "toolu_echo"))
            .EnqueueText("the sandbox said hi");
        var client = await StartAsync();

        var run = await client.StartRunAsync("coder", new StartRunRequest("say hi", Model: "claude/claude-sonnet-4-5"), Ct);
        var end = await client.LastStepOfRunAsync(run.Id);

        Assert.True(end.Status == "finished", $"{end.Status}: {end.Error}");
        Assert.Equal("the sandbox said hi", end.Answer);
        Assert.Equal(2, _model.Requests.Count);
        Assert.All(_model.Requests, r =>
        {
            Assert.Equal(("anthropic", "claude-sonnet-4-5"), (r.WireFormat, r.Model));
            Assert.True(r.Header("x-api-key") == "sk-ant-wire-test-key" || r.Header("Authorization") == "Bearer sk-ant-wire-test-key", "the key from the secret store is sent");
        });
        Assert.Contains(PromptComposerMarker, _model.Requests[0].System, StringComparison.Ordinal);
        var result = Assert.Single(_model.Requests[1].Messages.SelectMany(m => m.ToolResults));
        Assert.Equal("toolu_echo", result.CallId);
        Assert.Contains("hi claude", result.Content, StringComparison.Ordinal);
        var events = await client.ReadEventsAsync(filter: new Apiary.Client.EventFilter(Stream: "session-" + run.Session), cancellationToken: Ct);
        Assert.Equal(2, events.Count(e => e.Type == "model.called"));
        Assert.All(events.Where(e => e.Type == "model.called"), e => Assert.Equal("claude/claude-sonnet-4-5", e.Data.GetProperty("model").GetString()));
    }

    [Fact]
    public async Task Run_PendingApprovalThenServerRestart_ResumesAfterApprovalAndFinishes()
    {
        await WriteModelsAsync($$"""
            endpoints:
              local: { provider: openai, base_url: "{{_model.OpenAIBaseUri}}" }
            """);
        _model.EnqueueToolCalls(new ScriptedToolCall("exec", """{"command":"curl","args":["--version"]}""", "call_curl"))
            .EnqueueText("curl answered");
        var client = await StartAsync();
        var run = await client.StartRunAsync("coder", new StartRunRequest("which curl is there?", Model: "local/qwen2.5-coder"), Ct);
        string? ticket = null;
        await foreach (var step in client.StreamRunProgressAsync(run.Id, Ct))
        {
            if (step is { Type: "decision", Decision: "pending" })
            {
                ticket = step.TicketId;
                break;
            }
        }

        Assert.NotNull(ticket);
        Assert.Equal("waiting_approval", (await client.GetRunAsync(run.Id, Ct)).Status);
        await StopAsync();

        client = await StartAsync();
        Assert.Equal("waiting_approval", (await client.GetRunAsync(run.Id, Ct)).Status);
        Assert.Single(_model.Requests);
        Assert.Equal("granted", (await client.ApproveAsync(ticket!, cancellationToken: Ct)).State);
        var end = await client.LastStepOfRunAsync(run.Id);

        Assert.True(end.Status == "finished", $"{end.Status}: {end.Error}");
        Assert.Equal("curl answered", end.Answer);
        Assert.Equal(2, _model.Requests.Count);
        var second = _model.Requests[1];
        Assert.Equal("which curl is there?", second.Messages.First(m => m.Role == "user").Text);
        var result = Assert.Single(second.Messages.SelectMany(m => m.ToolResults));
        Assert.Equal("call_curl", result.CallId);
        Assert.StartsWith("exit code", result.Content, StringComparison.Ordinal);
        var events = await client.ReadEventsAsync(filter: new Apiary.Client.EventFilter(Stream: "session-" + run.Session), cancellationToken: Ct);
        var types = events.Select(e => e.Type).ToList();
        Assert.Equal(1, types.Count(t => t == "run.started"));
        Assert.Contains("run.waiting", types);
        Assert.Contains("run.resumed", types);
        Assert.True(types.IndexOf("run.resumed") < types.IndexOf("tool.called"), string.Join(", ", types));
        Assert.Equal(2, types.Count(t => t == "model.called"));
        Assert.Equal(2, events.Count(e => e.Type == "proposal.decided" && e.Data.GetProperty("inputs").GetProperty("kind").GetString() == "model_call"));
        Assert.Equal("run.ended", types[^2]);
        Assert.Equal("session.closed", types[^1]);
    }

    private static string PromptComposerMarker => Apiary.Agents.PromptComposer.SectionMarker("SOUL.md");

    private Task WriteModelsAsync(string yaml) => File.WriteAllTextAsync(Path.Combine(HomeRoot, "models.yaml"), yaml, Ct);

    private async Task<ApiaryClient> StartAsync()
    {
        _host = await InMemoryServer.StartAsync(_root);
        return _host.Client;
    }

    private async Task StopAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}
