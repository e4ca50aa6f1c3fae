using Apiary.Server.Tests;
using Apiary.Runtime;

namespace Apiary.Cli.Tests;

/// <summary>
/// <c>apiary run</c> against a server on the home with a scripted model: the answer on stdout, progress on stderr, and
/// an exit code for each way a run ends.
/// </summary>
public sealed class RunCommandTests : IAsyncDisposable
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);

    private readonly CliRunner _cli = new();
    private readonly ScriptedChatClient _model = new();

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

    [Fact]
    public async Task Run_ToolCallThenAnswer_AnswerOnStdoutProgressOnStderrExit0()
    {
        await StartAsync();
        _model.Exec("echo", "hello").Answer("the sandbox said hello");

        var result = await _cli.RunAsync("run", "coder", "say hello");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("the sandbox said hello\n", result.Out);
        Assert.Contains("[1] model scripted/qwen2.5-coder: 100 in, 10 out", result.Error, StringComparison.Ordinal);
        Assert.Contains("[1] tool exec {\"command\":\"echo\",\"args\":[\"hello\"]}", result.Error, StringComparison.Ordinal);
        Assert.Contains("[1] allowed by rule allow-inspection", result.Error, StringComparison.Ordinal);
        Assert.Contains("[1] result: exit code 0", result.Error, StringComparison.Ordinal);
        Assert.Contains("finished after 2 model calls", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_DeniedToolCall_ProgressShowsTheRuleAndTheAgentFinishes()
    {
        await StartAsync();
        _model.Exec("rm", "-rf", "/").Answer("not allowed, so I stopped");

        var result = await _cli.RunAsync("run", "coder", "clean up");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("not allowed, so I stopped\n", result.Out);
        Assert.Contains("[1] denied by rule deny-rm-root: deleting the root or home folder is never allowed", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_PendingApproval_ApprovedFromSecondInvocationThenFinishes()
    {
        await StartAsync();
        _model.CallTool("write_file", new Dictionary<string, object?> { ["path"] = "NOTES.md", ["content"] = "note" }).Answer("wrote it");
        var waiting = new LineSignal("waiting for approval");

        var run = _cli.RunWithErrorAsync(waiting, "", "run", "coder", "write a note");
        await Task.WhenAny(waiting.Seen, run).WaitAsync(WaitLimit, TestContext.Current.CancellationToken);
        Assert.False(run.IsCompleted, waiting.ToString());
        var ticket = (await waiting.Seen).Split(' ')[^1];
        var approved = await _cli.RunAsync("approvals", "approve", ticket);
        Assert.True(approved.ExitCode == 0, approved.ToString());
        var result = await run.WaitAsync(WaitLimit, TestContext.Current.CancellationToken);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("wrote it\n", result.Out);
        Assert.Equal("note", await File.ReadAllTextAsync(Path.Combine(_cli.AgentDirectory("coder"), "workspace", "NOTES.md"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Run_BudgetExhausted_Exit4()
    {
        await StartAsync();
        _model.CallTool("exec", new Dictionary<string, object?> { ["command"] = "echo" }, inputTokens: 299_500, outputTokens: 500).Answer("never reached");

        var result = await _cli.RunAsync("run", "coder", "spend it all");

        Assert.Equal(ExitCodes.BudgetExhausted, result.ExitCode);
        Assert.Equal("", result.Out);
        Assert.Contains("apiary: budget exhausted:", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_KillSwitchEngagedMidRun_Exit137()
    {
        await StartAsync();
        _model.Exec("echo", "one").Block();

        var run = _cli.RunAsync("run", "coder", "work forever");
        await Task.WhenAny(_model.Blocked, run).WaitAsync(WaitLimit, TestContext.Current.CancellationToken);
        Assert.False(run.IsCompleted, run.IsCompleted ? (await run).ToString() : "");
        var engaged = await _cli.RunAsync("kill", "engage", "--agent", "coder", "--reason", "runaway");
        Assert.True(engaged.ExitCode == 0, engaged.ToString());
        var result = await run.WaitAsync(WaitLimit, TestContext.Current.CancellationToken);

        Assert.Equal(ExitCodes.Killed, result.ExitCode);
        Assert.Equal("", result.Out);
        Assert.Contains("apiary: killed: stopped by the kill switch", result.Error, StringComparison.Ordinal);
        Assert.Contains("runaway", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_TurnCap_Exit3()
    {
        await StartAsync();
        _model.Exec("echo", "1").Exec("echo", "2");

        var result = await _cli.RunAsync("run", "coder", "loop", "--max-turns", "1");

        Assert.Equal(ExitCodes.RunFailed, result.ExitCode);
        Assert.Contains("apiary: the run failed: turn cap", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_NoModelsConfigured_SaysWhatToConfigureExit1()
    {
        await _cli.InitAsync();
        await _cli.StartServerAsync();

        var result = await _cli.RunAsync("run", "coder", "anything");

        Assert.Equal(ExitCodes.Failure, result.ExitCode);
        Assert.StartsWith("apiary: no models are configured: ", result.Error, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(_cli.HomeRoot, "models.yaml"), result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Run_UnknownAgent_Exit2()
    {
        await StartAsync();

        var result = await _cli.RunAsync("run", "nobody", "anything");

        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Contains("there is no agent named 'nobody'", result.Error, StringComparison.Ordinal);
    }

    private async Task StartAsync()
    {
        await _cli.InitAsync();
        await _cli.StartServerAsync(models: new ScriptedModelCatalog(_model));
    }
}
