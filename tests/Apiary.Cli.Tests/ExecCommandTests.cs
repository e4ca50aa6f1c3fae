namespace Apiary.Cli.Tests;

/// <summary>
/// <c>apiary exec</c> through a server running on the home, which runs real bubblewrap sandboxes. Every command goes
/// through the home's governance first, so these tests run in a home whose policies also allow any other command (see
/// <see cref="GovernedExecTests"/> for governance).
/// </summary>
public sealed partial class ExecCommandTests : IAsyncLifetime
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);

    private readonly CliRunner _cli = new();

    public async ValueTask InitializeAsync()
    {
        await _cli.InitAsync();
        await File.WriteAllTextAsync(
            Path.Combine(_cli.HomeRoot, "policies", "zz-tests.yaml"),
            "rules:\n  - name: tests-allow-any-exec\n    match: { kind: exec }\n    risk: low\n    tier: allow\n",
            TestContext.Current.CancellationToken);
        await _cli.StartServerAsync();
    }

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

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
        await File.WriteAllTextAsync(Path.Combine(_cli.HomeRoot, "templates", "keyed.yaml"), "secrets: [API_TOKEN]\n", TestContext.Current.CancellationToken);

        var result = await _cli.RunAsync("exec", "--template", "keyed", "--secret", "API_TOKEN", "--", "sh", "-c", "echo $API_TOKEN; [ ${#API_TOKEN} -eq 15 ] && echo length-ok");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("[secret:API_TOKEN]", result.Out, StringComparison.Ordinal);
        Assert.Contains("length-ok", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("token-value-123", result.Out + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_UnknownSecret_BadInput()
    {
        await File.WriteAllTextAsync(Path.Combine(_cli.HomeRoot, "templates", "keyed.yaml"), "secrets: [MISSING]\n", TestContext.Current.CancellationToken);
        var result = await _cli.RunAsync("exec", "--template", "keyed", "--secret", "MISSING", "--", "true");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("apiary secrets set MISSING", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attack_SecretTheTemplateDoesNotDeclare_Refused()
    {
        var set = await _cli.RunWithInputAsync("token-value-123\n", "secrets", "set", "API_TOKEN");
        Assert.Equal(0, set.ExitCode);

        var result = await _cli.RunAsync("exec", "--secret", "API_TOKEN", "--", "printenv", "API_TOKEN");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("not declared", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("token-value-123", result.Out + result.Error, StringComparison.Ordinal);
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
    public async Task Exec_UnconfinedServer_WarnsAndRuns()
    {
        await _cli.StartServerAsync(unconfined: true);

        var result = await _cli.RunAsync("exec", "--unconfined", "--", "sh", "-c", "echo plain");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("plain\n", result.Out);
        Assert.Contains("WARNING: the server of this home runs commands unconfined", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_UnconfinedAgainstSandboxingServer_BadInputAndNeverRuns()
    {
        var folder = _cli.Scratch.CreateDirectory("project");

        var result = await _cli.RunAsync("exec", "--unconfined", "--workspace", folder, "--", "sh", "-c", "touch /workspace/marker");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("apiary up --unconfined", result.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(folder, "marker")), "the command ran");
    }

    [Fact]
    public async Task Exec_OutputStreamsLive_FirstLineArrivesWhileTheCommandStillRuns()
    {
        // The command prints, then waits until the test has seen that line, then prints again.
        var folder = _cli.Scratch.CreateDirectory("project");
        using var output = new LineSignal("first");
        using var error = new StringWriter();
        var exec = _cli.RunWithWritersAsync(output, error, "", TestContext.Current.CancellationToken,
            "exec", "--workspace", folder, "--", "sh", "-c", "echo first; while [ ! -e /workspace/go ]; do sleep 0.05; done; echo second");

        var first = await Task.WhenAny(output.Seen, exec).WaitAsync(WaitLimit, TestContext.Current.CancellationToken);
        Assert.True(first == output.Seen, $"exec ended before its first line was seen: {error}");
        Assert.Equal("first", await output.Seen);
        Assert.False(exec.IsCompleted);

        await File.WriteAllTextAsync(Path.Combine(folder, "go"), "", TestContext.Current.CancellationToken);
        var result = await exec.WaitAsync(WaitLimit, TestContext.Current.CancellationToken);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("first\nsecond\n", result.Out);
    }

    [Fact]
    public async Task Exec_InterruptedWhileRunning_Exits130AndTheProposalIsRecordedCancelled()
    {
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        using var output = new LineSignal("started");
        using var error = new StringWriter();
        var exec = _cli.RunWithWritersAsync(output, error, "", interrupt.Token, "exec", "--", "sh", "-c", "echo started; sleep 60");
        var first = await Task.WhenAny(output.Seen, exec).WaitAsync(WaitLimit, TestContext.Current.CancellationToken);
        Assert.True(first == output.Seen, $"exec ended before it started: {error}");

        await interrupt.CancelAsync();
        var result = await exec.WaitAsync(WaitLimit, TestContext.Current.CancellationToken);

        Assert.Equal(130, result.ExitCode);
        var id = AllowedLine().Match(result.Error).Groups["id"].Value;
        Assert.NotEmpty(id);
        using var client = await Apiary.Client.ApiaryClient.ConnectAsync(_cli.Server.Home, TestContext.Current.CancellationToken);
        var proposal = await client.GetProposalAsync(id, TestContext.Current.CancellationToken);
        Assert.Equal("completed", proposal.Status);
        Assert.Equal("cancelled", proposal.Result?.Reason);
        var completed = new List<Apiary.Contracts.EventDto>();
        await foreach (var e in client.ReadAllEventsAsync(cancellationToken: TestContext.Current.CancellationToken))
        {
            if (e.Type == "proposal.completed" && e.Data.GetRawText().Contains(id, StringComparison.Ordinal))
            {
                completed.Add(e);
            }
        }

        Assert.Contains("cancelled", Assert.Single(completed).Data.GetRawText(), StringComparison.Ordinal);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"apiary: proposal (?<id>[0-9a-f]{32}) allowed by rule (?<rule>\S+)")]
    private static partial System.Text.RegularExpressions.Regex AllowedLine();

    [Fact]
    public async Task Exec_NoCommand_BadInput()
    {
        var result = await _cli.RunAsync("exec");
        Assert.Equal(2, result.ExitCode);
    }
}
