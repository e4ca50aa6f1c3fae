namespace Apiary.Cli.Tests;

/// <summary>
/// <c>apiary exec</c> runs real bubblewrap sandboxes. Every command goes through the home's governance first, so these
/// tests run in a home whose policies also allow any other command (see <see cref="GovernedExecTests"/> for governance).
/// </summary>
public sealed class ExecCommandTests : IDisposable, IAsyncLifetime
{
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    public async ValueTask InitializeAsync()
    {
        await _cli.InitAsync();
        await File.WriteAllTextAsync(
            Path.Combine(_cli.HomeRoot, "policies", "zz-tests.yaml"),
            "rules:\n  - name: tests-allow-any-exec\n    match: { kind: exec }\n    risk: low\n    tier: allow\n",
            TestContext.Current.CancellationToken);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Exec_Command_StreamsOutputAndExitsWithItsCode()
    {
        var result = await _cli.RunAsync("exec", "--", "sh", "-c", "echo out; echo err >&2; exit 7");
        Assert.Equal(7, result.ExitCode);
        Assert.Equal("out\n", result.Out);
        Assert.Contains("allowed by rule tests-allow-any-exec", result.Error, StringComparison.Ordinal);
        Assert.Contains("err", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_Timeout_Exits124()
    {
        var result = await _cli.RunAsync("exec", "--timeout", "1", "--", "sleep", "30");
        Assert.Equal(124, result.ExitCode);
        Assert.Contains("timed out", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_NoNetworkAndNoHostFiles()
    {
        var result = await _cli.RunAsync("exec", "--", "sh", "-c", "cat /etc/shadow || echo no-shadow; awk 'NR > 2 { print $1 }' /proc/net/dev");
        Assert.Contains("no-shadow", result.Out, StringComparison.Ordinal);
        Assert.Equal("lo:", result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);
    }

    [Fact]
    public async Task Exec_Workspace_MountedAndWritable()
    {
        var folder = _cli.Scratch.CreateDirectory("project");
        var result = await _cli.RunAsync("exec", "--workspace", folder, "--", "sh", "-c", "echo made > /workspace/out.txt; pwd");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("/workspace\n", result.Out);
        Assert.Equal("made\n", await File.ReadAllTextAsync(Path.Combine(folder, "out.txt"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Exec_WorkspaceInSystemDirectory_BadInput()
    {
        var result = await _cli.RunAsync("exec", "--workspace", "/etc", "--", "true");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("system directory", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_SecretFromStore_UsableAndScrubbed()
    {
        var set = await _cli.RunWithInputAsync("token-value-123\n", "secrets", "set", "API_TOKEN");
        Assert.Equal(0, set.ExitCode);

        var result = await _cli.RunAsync("exec", "--secret", "API_TOKEN", "--", "sh", "-c", "echo $API_TOKEN; [ ${#API_TOKEN} -eq 15 ] && echo length-ok");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("[secret:API_TOKEN]", result.Out, StringComparison.Ordinal);
        Assert.Contains("length-ok", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("token-value-123", result.Out + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_UnknownSecret_BadInput()
    {
        var result = await _cli.RunAsync("exec", "--secret", "MISSING", "--", "true");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("apiary secrets set MISSING", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--timeout", "soon")]
    [InlineData("--env", "NOEQUALS")]
    [InlineData("--template", "missing")]
    public async Task Exec_BadOption_BadInput(string option, string value)
    {
        var result = await _cli.RunAsync("exec", option, value, "--", "true");
        Assert.Equal(2, result.ExitCode);
    }

    [Fact]
    public async Task Exec_TemplateFromHome_Applied()
    {
        await File.WriteAllTextAsync(Path.Combine(_cli.HomeRoot, "templates", "tiny.yaml"), "resources:\n  output_limit: 100B\n", TestContext.Current.CancellationToken);
        var result = await _cli.RunAsync("exec", "--template", "tiny", "--", "sh", "-c", "yes");
        Assert.Equal(137, result.ExitCode);
        Assert.Equal(100, result.Out.Length);
        Assert.Contains("output limit", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_Unconfined_WarnsAndRuns()
    {
        var result = await _cli.RunAsync("exec", "--unconfined", "--", "sh", "-c", "echo plain");
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("plain\n", result.Out);
        Assert.Contains("WARNING: the unconfined backend", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_NoCommand_BadInput()
    {
        var result = await _cli.RunAsync("exec");
        Assert.Equal(2, result.ExitCode);
    }
}
