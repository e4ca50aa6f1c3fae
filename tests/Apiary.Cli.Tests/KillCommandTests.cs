using Apiary.Agents;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;
using Apiary.Governance.Pipeline;
using Apiary.Storage.Sqlite;

namespace Apiary.Cli.Tests;

/// <summary>
/// <c>apiary kill</c> through the server running on the home, seen by <c>apiary exec</c> in other invocations, and the
/// recovery the server runs on start.
/// </summary>
public sealed class KillCommandTests : IAsyncDisposable
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);

    private readonly CliRunner _cli = new();

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

    [Fact]
    public async Task Engage_Global_ExecRefusedUntilReleased()
    {
        await _cli.InitAndStartServerAsync();

        var engaged = await _cli.RunAsync("kill", "engage", "--reason", "incident 42");
        Assert.True(engaged.ExitCode == 0, engaged.ToString());
        Assert.Contains("engaged: kill switch global engaged by", engaged.Out, StringComparison.Ordinal);

        var refused = await _cli.RunAsync("exec", "--", "echo", "hi");
        Assert.Equal(126, refused.ExitCode);
        Assert.Contains("incident 42", refused.Error, StringComparison.Ordinal);
        Assert.Equal("", refused.Out);

        using (var status = (await _cli.RunAsync("kill", "status", "--json")).Json())
        {
            var only = Assert.Single(status.RootElement.GetProperty("engaged").EnumerateArray());
            Assert.Equal("global", only.GetProperty("level").GetString());
            Assert.Equal("incident 42", only.GetProperty("reason").GetString());
        }

        var released = await _cli.RunAsync("kill", "release");
        Assert.True(released.ExitCode == 0, released.ToString());
        var ran = await _cli.RunAsync("exec", "--", "echo", "hi");
        Assert.True(ran.ExitCode == 0, ran.ToString());
        Assert.Equal("hi\n", ran.Out);
        Assert.Equal("no kill switch is engaged\n", (await _cli.RunAsync("kill", "status")).Out);
    }

    [Fact]
    public async Task Engage_FromSecondInvocation_StopsRunningExecWith137()
    {
        await _cli.InitAndStartServerAsync();
        var running = new LineSignal("allowed by rule");
        var exec = _cli.RunWithErrorAsync(running, "", "exec", "--timeout", "120s", "--", "sleep", "60");
        await Task.WhenAny(running.Seen, exec).WaitAsync(WaitLimit, TestContext.Current.CancellationToken);
        Assert.False(exec.IsCompleted, running.ToString());

        var engaged = await _cli.RunAsync("kill", "engage", "--agent", "operator", "--reason", "stop the sleeper");
        Assert.True(engaged.ExitCode == 0, engaged.ToString());

        var result = await exec.WaitAsync(WaitLimit, TestContext.Current.CancellationToken);
        Assert.Equal(137, result.ExitCode);
        Assert.Contains("apiary: stopped by the kill switch: kill switch agent operator engaged by", result.Error, StringComparison.Ordinal);
        Assert.Contains("stop the sleeper", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Release_NothingEngaged_Exit1WithHint()
    {
        await _cli.InitAndStartServerAsync();

        var result = await _cli.RunAsync("kill", "release", "--session", "s-1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no kill switch is engaged for session s-1", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--agent", "Not A Name")]
    [InlineData("--session", " ")]
    public async Task Engage_BadScope_Exit2(string option, string value)
    {
        await _cli.InitAndStartServerAsync();

        var result = await _cli.RunAsync("kill", "engage", option, value, "--reason", "x");

        Assert.Equal(2, result.ExitCode);
    }

    [Fact]
    public async Task Engage_AgentAndSession_Exit2()
    {
        await _cli.InitAndStartServerAsync();

        var result = await _cli.RunAsync("kill", "engage", "--agent", "coder", "--session", "s", "--reason", "x");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("not both", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServerStart_AfterAProcessDiedMidCommand_RecoversItsReservationAndRecordsIt()
    {
        await _cli.InitAsync();
        string proposalId;

        // What an 'apiary exec' leaves when it dies between the allow and the completion: an admission in the log.
        await using (var store = await SqliteEventStore.OpenAsync(Path.Combine(_cli.HomeRoot, "events.db"), cancellationToken: TestContext.Current.CancellationToken))
        {
            var policy = PolicyLoader.LoadDirectory(Path.Combine(_cli.HomeRoot, "policies")).Policy!;
            var pipeline = new GovernancePipeline(store, new PolicyEngine(policy), new BudgetLedger(), new LockTable(), new KillSwitch());
            var proposal = Proposal.Exec(new Principal(AgentName.Parse("operator"), AgentRole.Manager, "exec-dead"), _cli.Scratch.CreateDirectory("w"), "ls");
            var result = await pipeline.SubmitAsync(proposal, new BudgetEstimate(1, TimeSpan.FromSeconds(1), 0, 0m), TestContext.Current.CancellationToken);
            Assert.True(result.IsAllowed);
            proposalId = proposal.Id.ToString();
        }

        await _cli.StartServerAsync();
        var exec = await _cli.RunAsync("exec", "--", "echo", "hi");

        Assert.True(exec.ExitCode == 0, exec.ToString());
        var abandoned = await AbandonedAsync();
        Assert.Contains(proposalId, Assert.Single(abandoned), StringComparison.Ordinal);

        // A second start finds nothing left to recover: it was recorded once.
        await _cli.StartServerAsync();
        Assert.Single(await AbandonedAsync());
        Assert.Equal(0, (await _cli.RunAsync("exec", "--", "echo", "hi")).ExitCode);
        Assert.Equal(0, (await _cli.RunAsync("audit", "verify")).ExitCode);
    }

    private async Task<List<string>> AbandonedAsync()
    {
        var events = await _cli.RunAsync("events", "--json");
        Assert.True(events.ExitCode == 0, events.ToString());
        return events.OutLines.Where(l => l.Contains("\"proposal.abandoned\"", StringComparison.Ordinal)).ToList();
    }
}
