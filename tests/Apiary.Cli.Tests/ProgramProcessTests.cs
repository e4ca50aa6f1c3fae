using Apiary.Agents;
using Apiary.Testing;
using Apiary.Runtime;

namespace Apiary.Cli.Tests;

/// <summary>The real <c>apiary</c> program, run as a separate process, as a user would run it.</summary>
public sealed class ProgramProcessTests : IDisposable
{
    private readonly TempDirectory _root = new("apiary-process");
    private readonly string _userHome;
    private readonly string _work;
    private readonly string _home;

    public ProgramProcessTests()
    {
        _userHome = _root.CreateDirectory("user");
        _work = _root.CreateDirectory("work");
        _home = _root["home"];
    }

    public void Dispose() => _root.Dispose();

    [Fact]
    public void Program_IsBesideTheTests()
    {
        Assert.True(File.Exists(ProgramProcess.ProgramPath), $"{ProgramProcess.ProgramPath} is missing");
    }

    [Fact]
    public async Task Program_InitThenAgentsList_ListsSampleAgents()
    {
        var init = await ProgramProcess.RunAsync(_work, _userHome, _home, "init");
        await using var server = await StartServerAsync(_home);
        var list = await ProgramProcess.RunAsync(_work, _userHome, _home, "agents", "list");

        Assert.True(init.ExitCode == 0, init.ToString());
        Assert.Contains($"Created an Apiary home at {_home}", init.Out, StringComparison.Ordinal);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Matches(@"^coder\s+worker\s+stopped\s+local/qwen2\.5-coder\s", list.Row("coder"));
        Assert.Matches(@"^manager\s+manager\s+stopped\s+claude/claude-sonnet-4-5\s", list.Row("manager"));
    }

    [Fact]
    public async Task Program_NoApiaryHome_UsesHomeEnvironmentVariable()
    {
        var init = await ProgramProcess.RunAsync(_work, _userHome, apiaryHome: null, "init", "--json");

        Assert.True(init.ExitCode == 0, init.ToString());
        using var json = init.Json();
        Assert.Equal(Path.Combine(_userHome, ".apiary"), json.RootElement.GetProperty("home").GetString());
        Assert.True(Directory.Exists(Path.Combine(_userHome, ".apiary", "agents", "coder")));
    }

    [Fact]
    public async Task Program_LocalHomeInWorkingDirectory_IsFound()
    {
        var local = Path.Combine(_work, ".apiary");
        var init = await ProgramProcess.RunAsync(_work, _userHome, apiaryHome: null, "init", "--home", local);
        await using var server = await StartServerAsync(local);
        var list = await ProgramProcess.RunAsync(_work, _userHome, apiaryHome: null, "agents", "list", "--json");

        Assert.True(init.ExitCode == 0, init.ToString());
        Assert.True(list.ExitCode == 0, list.ToString());
        using var json = list.Json();
        Assert.Equal(local, json.RootElement.GetProperty("home").GetString());
    }

    [Fact]
    public async Task Program_UnknownOption_ExitsTwoWithHint()
    {
        var result = await ProgramProcess.RunAsync(_work, _userHome, _home, "agents", "list", "--frob");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("'--frob'", result.Error, StringComparison.Ordinal);
        Assert.Contains("apiary agents list --help", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Program_MissingHome_ExitsOneSuggestingInit()
    {
        var result = await ProgramProcess.RunAsync(_work, _userHome, _home, "agents", "list");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("apiary init", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Program_HelpOnAgentsPrompt_PrintsUsage()
    {
        var result = await ProgramProcess.RunAsync(_work, _userHome, _home, "agents", "prompt", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Usage:", result.Out, StringComparison.Ordinal);
        Assert.Contains("apiary agents prompt <name> [options]", result.Out, StringComparison.Ordinal);
        Assert.Contains("--section-chars", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Program_BootstrapMarkedBetweenRuns_LaterRunLeavesItOut()
    {
        var init = await ProgramProcess.RunAsync(_work, _userHome, _home, "init");
        Assert.True(init.ExitCode == 0, init.ToString());
        var before = await ProgramProcess.RunAsync(_work, _userHome, _home, "agents", "prompt", "manager");

        await BootstrapRecord.MarkAsync(Path.Combine(_home, "agents", "manager"), "s-1", DateTimeOffset.UnixEpoch, TestContext.Current.CancellationToken);
        var after = await ProgramProcess.RunAsync(_work, _userHome, _home, "agents", "prompt", "manager");

        Assert.True(before.ExitCode == 0, before.ToString());
        Assert.Contains("=== BOOTSTRAP ===", before.Out, StringComparison.Ordinal);
        Assert.True(after.ExitCode == 0, after.ToString());
        Assert.DoesNotContain("=== BOOTSTRAP ===", after.Out, StringComparison.Ordinal);
        Assert.Contains("=== TOOLS ===", after.Out, StringComparison.Ordinal);
        Assert.Contains("BOOTSTRAP.md: skipped: consumed", after.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Program_InvalidAgentName_ExitsTwo()
    {
        await ProgramProcess.RunAsync(_work, _userHome, _home, "init");

        var result = await ProgramProcess.RunAsync(_work, _userHome, _home, "agents", "show", "../etc");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("must not start with a dot", result.Error, StringComparison.Ordinal);
    }

    // The home's server, as 'apiary up' in another terminal would run it, for the commands that are its clients.
    private async Task<Apiary.Server.ApiaryServer> StartServerAsync(string home) =>
        await Apiary.Server.ApiaryServer.StartAsync(
            new Apiary.Server.ServerOptions { Home = home, Urls = "http://127.0.0.1:0", UserHome = _userHome, LoggerFactory = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance },
            TestContext.Current.CancellationToken);
}
