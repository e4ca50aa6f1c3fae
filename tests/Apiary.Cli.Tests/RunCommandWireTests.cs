using Apiary.Testing;

namespace Apiary.Cli.Tests;

/// <summary>
/// <c>apiary run coder "..."</c> with an OpenAI-compatible endpoint in <c>models.yaml</c> and nothing faked inside the
/// server: the official OpenAI SDK path talks HTTP to the scripted model server.
/// </summary>
public sealed class RunCommandWireTests : IAsyncLifetime
{
    private readonly CliRunner _cli = new();
    private ScriptedModelServer _model = null!;

    public async ValueTask InitializeAsync() => _model = await ScriptedModelServer.StartAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _cli.DisposeAsync();
        await _model.DisposeAsync();
    }

    [Fact]
    public async Task Run_OpenAICompatibleEndpoint_WorksEndToEnd()
    {
        await _cli.InitAsync();
        await File.WriteAllTextAsync(Path.Combine(_cli.HomeRoot, "models.yaml"), $$"""
            default: local/qwen2.5-coder
            endpoints:
              local: { provider: openai, base_url: "{{_model.OpenAIBaseUri}}" }
            """, TestContext.Current.CancellationToken);
        _model.EnqueueToolCalls(new ScriptedToolCall("exec", """{"command":"echo","args":["hello"]}""", "call_1"))
            .EnqueueToolCalls(new ScriptedToolCall("exec", """{"command":"rm","args":["-rf","/"]}""", "call_2"))
            .EnqueueText("echoed hello; deleting the root is not allowed");
        await _cli.StartServerAsync();

        var result = await _cli.RunAsync("run", "coder", "say hello, then clean up");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("echoed hello; deleting the root is not allowed\n", result.Out);
        Assert.Contains("[1] model local/qwen2.5-coder: 10 in, 5 out", result.Error, StringComparison.Ordinal);
        Assert.Contains("[1] allowed by rule allow-inspection", result.Error, StringComparison.Ordinal);
        Assert.Contains("[2] denied by rule deny-rm-root", result.Error, StringComparison.Ordinal);
        Assert.Equal(3, _model.Requests.Count);
        var echoed = Assert.Single(_model.Requests[1].Messages.SelectMany(m => m.ToolResults));
        Assert.Equal("call_1", echoed.CallId);
        Assert.Contains("hello", echoed.Content, StringComparison.Ordinal);
        var denied = _model.Requests[2].Messages.SelectMany(m => m.ToolResults).ToList();
        Assert.Equal(["call_1", "call_2"], denied.Select(r => r.CallId));
        Assert.StartsWith("denied by rule 'deny-rm-root'", denied[1].Content, StringComparison.Ordinal);
    }
}
