using System.Text.Json;
using System.Text.RegularExpressions;

namespace Apiary.Cli.Tests;

/// <summary>
/// <c>apiary exec</c> through the governance pipeline of a server running on the home <c>apiary init</c> writes (the
/// sample <c>policies/default.yaml</c>), with approvals answered by a second, concurrent <c>apiary</c> invocation.
/// </summary>
public sealed partial class GovernedExecTests : IAsyncDisposable
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);

    private readonly CliRunner _cli = new();

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

    [Fact]
    public async Task Exec_AnUnknownOptionBeforeTheDoubleDash_IsBadInput_NothingProposed()
    {
        await _cli.InitAndStartServerAsync();

        var result = await _cli.RunAsync("exec", "--json", "--", "ls");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("exec has no option '--json'", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("denied", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_AllowedEcho_RunsAndExplainShowsItsRule()
    {
        await _cli.InitAndStartServerAsync();

        var result = await _cli.RunAsync("exec", "--", "echo", "hello");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("hello\n", result.Out);
        var match = AllowedLine().Match(result.Error);
        Assert.True(match.Success, result.ToString());
        Assert.Equal("allow-inspection", match.Groups["rule"].Value);

        var explained = await _cli.RunAsync("explain", match.Groups["id"].Value);
        Assert.True(explained.ExitCode == 0, explained.ToString());
        Assert.Contains("decision    allow (stage policy)", explained.Out, StringComparison.Ordinal);
        Assert.Contains("rule        allow-inspection", explained.Out, StringComparison.Ordinal);
        Assert.Contains("agent       operator (manager)", explained.Out, StringComparison.Ordinal);
        Assert.Contains("arguments   hello", explained.Out, StringComparison.Ordinal);
        var policyVersion = Apiary.Governance.PolicyLoader.VersionOf(Apiary.Governance.PolicyLoader.ReadDirectory(Path.Combine(_cli.HomeRoot, "policies"))!);
        Assert.Contains($"policy      version {policyVersion}", explained.Out, StringComparison.Ordinal);

        using var json = (await _cli.RunAsync("explain", match.Groups["id"].Value, "--json")).Json();
        Assert.Equal("allow-inspection", json.RootElement.GetProperty("rule").GetString());
        Assert.Equal("echo", json.RootElement.GetProperty("inputs").GetProperty("program_name").GetString());
        Assert.Equal(policyVersion, json.RootElement.GetProperty("policy_version").GetString());
    }

    [Fact]
    public async Task Exec_RmRfRoot_DeniedWith126AndNeverRuns()
    {
        await _cli.InitAndStartServerAsync();
        var workspace = _cli.Scratch.CreateDirectory("project");
        var victim = Path.Combine(workspace, "victim.txt");
        await File.WriteAllTextAsync(victim, "still here", TestContext.Current.CancellationToken);

        // rm refuses '/' without --no-preserve-root but would still delete the other operand: proof that it ran.
        var result = await _cli.RunAsync("exec", "--workspace", workspace, "--", "rm", "-rf", "/", "/workspace/victim.txt");

        Assert.Equal(126, result.ExitCode);
        Assert.Contains("apiary: denied by rule 'deny-rm-root': deleting the root or home folder is never allowed", result.Error, StringComparison.Ordinal);
        Assert.True(File.Exists(victim), "the denied command ran");
    }

    [Fact]
    public async Task Exec_UnmatchedShell_DefaultDenyAndMarkerNeverCreated()
    {
        await _cli.InitAndStartServerAsync();
        var workspace = _cli.Scratch.CreateDirectory("project");

        var result = await _cli.RunAsync("exec", "--workspace", workspace, "--", "sh", "-c", "touch /workspace/marker");

        Assert.Equal(126, result.ExitCode);
        Assert.Contains("apiary: denied by rule 'default-deny'", result.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(workspace, "marker")), "the denied command ran");
    }

    [Fact]
    public async Task Exec_Sudo_Steered126()
    {
        await _cli.InitAndStartServerAsync();

        var result = await _cli.RunAsync("exec", "--", "sudo", "true");

        Assert.Equal(126, result.ExitCode);
        Assert.Contains("apiary: steered by rule 'steer-sudo': there is no root in the sandbox", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_PendingCurl_ApprovedFromSecondInvocation_Runs()
    {
        await _cli.InitAndStartServerAsync();
        var waiting = new LineSignal("waiting for approval");
        var exec = _cli.RunWithErrorAsync(waiting, "", "exec", "--", "curl", "--version");

        var ticket = await WaitForTicketAsync(waiting, exec);
        using (var list = (await _cli.RunAsync("approvals", "list", "--json")).Json())
        {
            var open = Assert.Single(list.RootElement.GetProperty("tickets").EnumerateArray());
            Assert.Equal(ticket, open.GetProperty("ticket").GetString());
            Assert.Equal("operator", open.GetProperty("agent").GetString());
            Assert.Equal("exec", open.GetProperty("kind").GetString());
            Assert.Equal("/usr/bin/curl --version", open.GetProperty("command_line").GetString());
            Assert.Equal("high", open.GetProperty("risk").GetString());
            Assert.Equal("approve-network-tools", open.GetProperty("rule").GetString());
        }

        var text = await _cli.RunAsync("approvals", "list");
        Assert.Contains("curl --version", text.Row(ticket), StringComparison.Ordinal);

        var approve = await _cli.RunAsync("approvals", "approve", ticket);
        Assert.True(approve.ExitCode == 0, approve.ToString());

        var result = await exec.WaitAsync(WaitLimit, TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith("curl ", result.Out, StringComparison.Ordinal);
        Assert.Contains("allowed by rule approve-network-tools", result.Error, StringComparison.Ordinal);
        Assert.Equal("No approval tickets are open.", (await _cli.RunAsync("approvals", "list")).OutLines[0]);
    }

    [Fact]
    public async Task Exec_PendingCurl_Interrupted_Exits130AndClosesTheTicket()
    {
        await _cli.InitAndStartServerAsync();
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var waiting = new LineSignal("waiting for approval");
        var exec = _cli.RunWithErrorAsync(waiting, "", interrupt.Token, "exec", "--", "curl", "--version");
        var ticket = await WaitForTicketAsync(waiting, exec);

        await interrupt.CancelAsync();
        var result = await exec.WaitAsync(WaitLimit, TestContext.Current.CancellationToken);

        Assert.Equal(130, result.ExitCode);
        Assert.Equal("No approval tickets are open.", (await _cli.RunAsync("approvals", "list")).OutLines[0]);
        var late = await _cli.RunAsync("approvals", "approve", ticket);
        Assert.Equal(1, late.ExitCode);
    }

    [Fact]
    public async Task Exec_PendingCurl_DeniedWithReason_Exits126WithTheReason()
    {
        await _cli.InitAndStartServerAsync();
        var waiting = new LineSignal("waiting for approval");
        var exec = _cli.RunWithErrorAsync(waiting, "", "exec", "--", "curl", "--version");
        var ticket = await WaitForTicketAsync(waiting, exec);

        var deny = await _cli.RunAsync("approvals", "deny", ticket, "--reason", "no network today");
        Assert.True(deny.ExitCode == 0, deny.ToString());

        var result = await exec.WaitAsync(WaitLimit, TestContext.Current.CancellationToken);
        Assert.Equal(126, result.ExitCode);
        Assert.Contains("no network today", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);

        var again = await _cli.RunAsync("approvals", "approve", ticket);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already denied", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_PendingWithZeroApprovalTimeout_Exits126AndClosesTheTicket()
    {
        await _cli.InitAndStartServerAsync();

        var result = await _cli.RunAsync("exec", "--approval-timeout", "0s", "--", "curl", "--version");

        Assert.Equal(126, result.ExitCode);
        Assert.Contains("nobody answered", result.Error, StringComparison.Ordinal);
        Assert.Equal("No approval tickets are open.", (await _cli.RunAsync("approvals", "list")).OutLines[0]);
    }

    [Fact]
    public async Task ApprovalsDeny_WithoutReason_BadInput()
    {
        await _cli.InitAndStartServerAsync();
        var result = await _cli.RunAsync("approvals", "deny", Guid.NewGuid().ToString("N"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--reason", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApprovalsApprove_UnknownTicket_BadInput()
    {
        await _cli.InitAndStartServerAsync();
        var result = await _cli.RunAsync("approvals", "approve", Guid.NewGuid().ToString("N"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no approval ticket", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0123456789abcdef0123456789abcdef")]
    [InlineData("not-an-id")]
    public async Task Explain_UnknownId_BadInput(string id)
    {
        await _cli.InitAndStartServerAsync();
        var result = await _cli.RunAsync("explain", id);
        Assert.Equal(2, result.ExitCode);
    }

    [Fact]
    public async Task Exec_BrokenPolicy_Exits2WithDiagnosticsAndNeverRuns()
    {
        await _cli.InitAsync();
        await File.WriteAllTextAsync(
            Path.Combine(_cli.HomeRoot, "policies", "broken.yaml"),
            "rules:\n  - name: oops\n    match: { comand: echo }\n    risk: low\n    tier: allow\n",
            TestContext.Current.CancellationToken);
        await _cli.StartServerAsync();

        var result = await _cli.RunAsync("exec", "--", "echo", "hello");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("broken.yaml:3", result.Error, StringComparison.Ordinal);
        Assert.Contains("comand", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Theory]
    [InlineData("args[1] holds a NUL character", "exec", "--", "printf", "%s", "a\0b")]
    [InlineData("command holds a NUL character", "exec", "--", "ls\0--bind")]
    [InlineData("env X holds a NUL character", "exec", "--env", "X=a\0--bind", "--", "ls")]
    [InlineData("env name holds a NUL character", "exec", "--env", "A\0B=v", "--", "ls")]
    [InlineData("workdir holds a NUL character", "exec", "--workdir", "src\0", "--", "ls")]
    [InlineData("agent holds a NUL character", "exec", "--agent", "co\0der", "--", "ls")]
    [InlineData("template holds a NUL character", "exec", "--template", "default\0", "--", "ls")]
    [InlineData("workspace holds a NUL character", "exec", "--workspace", "/tmp\0/etc", "--", "ls")]
    public async Task Exec_NulInAnyValue_Exits2NamingTheField_NothingProposed(string said, params string[] args)
    {
        // A NUL cannot come from a shell's argv, but it can from a response file or a program that runs apiary.
        await _cli.InitAndStartServerAsync();

        var result = await _cli.RunAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(said, result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
        var events = await _cli.RunAsync("events", "--json");
        Assert.DoesNotContain("proposal.decided", events.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_NoHome_Exits1WithoutRunning()
    {
        var result = await _cli.RunAsync("exec", "--", "echo", "hello");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"there is no Apiary home at {_cli.HomeRoot}", result.Error, StringComparison.Ordinal);
        Assert.Contains("apiary init", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Exec_AsAgent_DecidedForThatAgent()
    {
        await _cli.InitAndStartServerAsync();
        var create = await _cli.RunAsync("agents", "new", "helper");
        Assert.True(create.ExitCode == 0, create.ToString());

        var result = await _cli.RunAsync("exec", "--agent", "helper", "--", "echo", "hi");

        Assert.True(result.ExitCode == 0, result.ToString());
        var id = AllowedLine().Match(result.Error).Groups["id"].Value;
        using var json = (await _cli.RunAsync("explain", id, "--json")).Json();
        Assert.Equal("helper", json.RootElement.GetProperty("inputs").GetProperty("agent").GetString());
        Assert.Equal("worker", json.RootElement.GetProperty("inputs").GetProperty("role").GetString());
    }

    // Waits for exec's "waiting for approval" line (or for exec to end, which fails the test) and returns the ticket.
    private static async Task<string> WaitForTicketAsync(LineSignal waiting, Task<CliResult> exec)
    {
        var first = await Task.WhenAny(waiting.Seen, exec).WaitAsync(WaitLimit, TestContext.Current.CancellationToken);
        Assert.True(first == waiting.Seen, first == exec ? $"exec ended without waiting: {exec.Result}" : "no waiting line");
        var match = WaitingLine().Match(waiting.Seen.Result);
        Assert.True(match.Success, waiting.Seen.Result);
        return match.Groups["ticket"].Value;
    }

    [GeneratedRegex(@"apiary: proposal (?<id>[0-9a-f]{32}) allowed by rule (?<rule>\S+)")]
    private static partial Regex AllowedLine();

    [GeneratedRegex(@"approve it with: apiary approvals approve (?<ticket>[0-9a-f]{32}) \[--for-session\]  or deny it with: apiary approvals deny \k<ticket> --reason ""\.\.\.""")]
    private static partial Regex WaitingLine();
}
