namespace Apiary.Cli.Tests;

public sealed class InitCommandTests : IAsyncDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly CliRunner _cli = new();

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

    [Fact]
    public async Task Init_NewHome_CreatesFoldersConfigAndSampleAgents()
    {
        var home = _cli.Scratch["chosen-home"];

        var result = await _cli.RunAsync("init", "--home", home);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Error);
        foreach (var folder in new[] { "agents", "templates", "policies" })
        {
            Assert.True(Directory.Exists(Path.Combine(home, folder)), $"{folder}/ is missing");
        }

        Assert.True(File.Exists(Path.Combine(home, "apiary.yaml")));
        Assert.True(File.Exists(Path.Combine(home, "templates", "default.yaml")));
        foreach (var agent in new[] { "manager", "coder" })
        {
            Assert.True(File.Exists(Path.Combine(home, "agents", agent, "AGENTS.md")), $"{agent}/AGENTS.md is missing");
            Assert.True(File.Exists(Path.Combine(home, "agents", agent, "SOUL.md")), $"{agent}/SOUL.md is missing");
        }

        Assert.Contains($"Created an Apiary home at {home}", result.Out, StringComparison.Ordinal);
        Assert.Contains("created  agents/coder/AGENTS.md", result.Out, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_cli.HomeRoot), "--home was given, so $APIARY_HOME must not be touched");
    }

    [Fact]
    public async Task Init_NextHint_StartsWithTheServerAndEveryCommandItOffersWithoutOneWorks()
    {
        var home = _cli.Scratch["hinted-home"];

        var result = await _cli.RunAsync("init", "--home", home);

        // Right after init no server runs, so the hint's first command must be the one that starts it, and what it
        // offers "without a server" must work as it stands (it once offered 'agents list', which needs a server).
        var next = result.Out.Split('\n').Single(l => l.StartsWith("Next: ", StringComparison.Ordinal));
        var commands = System.Text.RegularExpressions.Regex.Matches(next, "'apiary ([^']*)'").Select(m => m.Groups[1].Value).ToList();
        Assert.True(commands.Count >= 2, next);
        Assert.Equal($"up --home {home}", commands[0]);
        var withoutServer = next[next.IndexOf("without a server", StringComparison.Ordinal)..];
        foreach (var command in commands.Where(c => withoutServer.Contains($"'apiary {c}'", StringComparison.Ordinal)))
        {
            var run = await _cli.RunAsync(command.Split(' '));
            Assert.True(run.ExitCode == 0, $"apiary {command}: {run}");
        }

        var list = await _cli.RunAsync(commands[1].Split(' '));
        Assert.True(list.ExitCode == 1 && list.Error.Contains("no Apiary server is running", StringComparison.Ordinal), $"'apiary {commands[1]}' is offered only after the server: {list}");
    }

    [Fact]
    public async Task Init_NewHome_CreatesOwnerOnlyWorkspacesAndHome()
    {
        var home = _cli.Scratch["chosen-home"];

        await _cli.RunAsync("init", "--home", home);

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(home));
        foreach (var agent in new[] { "manager", "coder" })
        {
            var workspace = Path.Combine(home, "agents", agent, "workspace");
            Assert.True(Directory.Exists(workspace), $"{workspace} is missing");
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(workspace));
        }

        // And every other file and folder it made: files 0600, folders 0700.
        Apiary.Testing.OwnerOnlyTree.AssertOwnerOnly(home);
    }

    [Fact]
    public async Task Init_Twice_KeepsEditedFileAndSaysSo()
    {
        await _cli.InitAsync();
        var soul = Path.Combine(_cli.AgentDirectory("coder"), "SOUL.md");
        const string Edited = "# Soul\n\nMy own words, not the sample's.\n";
        await File.WriteAllTextAsync(soul, Edited, TestContext.Current.CancellationToken);

        var again = await _cli.RunAsync("init");

        Assert.Equal(0, again.ExitCode);
        Assert.Equal(Edited, await File.ReadAllTextAsync(soul, TestContext.Current.CancellationToken));
        Assert.Contains("already set up", again.Out, StringComparison.Ordinal);
        Assert.Matches(@"kept\s+\d+ existing file\(s\) unchanged", again.Out);
        Assert.DoesNotContain("created  ", again.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Init_DeletedSampleFile_RestoresOnlyThatFile()
    {
        await _cli.InitAsync();
        var tools = Path.Combine(_cli.AgentDirectory("coder"), "TOOLS.md");
        var soul = Path.Combine(_cli.AgentDirectory("coder"), "SOUL.md");
        File.Delete(tools);
        await File.WriteAllTextAsync(soul, "edited", TestContext.Current.CancellationToken);

        var again = await _cli.RunAsync("init", "--json");

        Assert.Equal(0, again.ExitCode);
        using var json = again.Json();
        var created = json.RootElement.GetProperty("created").EnumerateArray().Select(e => e.GetString()).ToList();
        var kept = json.RootElement.GetProperty("kept").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal("agents/coder/TOOLS.md", Assert.Single(created));
        Assert.Contains("agents/coder/SOUL.md", kept);
        Assert.True(File.Exists(tools));
        Assert.Equal("edited", await File.ReadAllTextAsync(soul, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Init_Json_ReportsHomeCreatedAndKept()
    {
        var first = await _cli.RunAsync("init", "--json");
        var second = await _cli.RunAsync("init", "--json");

        Assert.Equal(0, first.ExitCode);
        Assert.Equal(0, second.ExitCode);
        using var firstJson = first.Json();
        using var secondJson = second.Json();
        Assert.Equal(_cli.HomeRoot, firstJson.RootElement.GetProperty("home").GetString());
        var created = firstJson.RootElement.GetProperty("created").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains("apiary.yaml", created);
        Assert.Contains("agents/manager/AGENTS.md", created);
        Assert.Contains("agents/coder/AGENTS.md", created);
        Assert.Empty(firstJson.RootElement.GetProperty("kept").EnumerateArray());

        Assert.Empty(secondJson.RootElement.GetProperty("created").EnumerateArray());
        var kept = secondJson.RootElement.GetProperty("kept").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Equal(created, kept);
    }

    [Fact]
    public async Task Init_WorkspaceWithLooseMode_MakesItOwnerOnlyAgain()
    {
        await _cli.InitAsync();
        var workspace = Path.Combine(_cli.AgentDirectory("coder"), "workspace");
        File.SetUnixFileMode(workspace, OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        Directory.Delete(Path.Combine(_cli.AgentDirectory("manager"), "workspace"));

        await _cli.InitAsync();

        Assert.Equal(OwnerOnly, File.GetUnixFileMode(workspace));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(Path.Combine(_cli.AgentDirectory("manager"), "workspace")));
    }

    [Fact]
    public async Task Init_ThenAgentsList_SampleAgentsAreUsable()
    {
        await _cli.InitAsync();

        var list = await _cli.RunAgentsAsync("agents", "list", "--json");

        Assert.Equal(0, list.ExitCode);
        using var json = list.Json();
        var statuses = json.RootElement.GetProperty("agents").EnumerateArray()
            .ToDictionary(a => a.GetProperty("name").GetString()!, a => a.GetProperty("status").GetString());
        Assert.Equal("ok", statuses["manager"]);
        Assert.Equal("ok", statuses["coder"]);
        Assert.Equal("", list.Error);
    }
}
