namespace Apiary.Cli.Tests;

public sealed class AgentsNewCommandTests : IAsyncDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly CliRunner _cli = new();

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

    [Fact]
    public async Task New_Name_CreatesStarterFilesAndOwnerOnlyWorkspace()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "new", "reviewer");

        Assert.Equal(0, result.ExitCode);
        var folder = _cli.AgentDirectory("reviewer");
        Assert.Contains($"Created agent 'reviewer' (worker) in {folder}", result.Out, StringComparison.Ordinal);
        var manifest = await File.ReadAllTextAsync(Path.Combine(folder, "AGENTS.md"), TestContext.Current.CancellationToken);
        Assert.StartsWith("---\n", manifest, StringComparison.Ordinal);
        Assert.Contains("\nrole: worker\n", manifest, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(folder, "SOUL.md")));
        Assert.True(File.Exists(Path.Combine(folder, "BOOTSTRAP.md")));
        var workspace = Path.Combine(folder, "workspace");
        Assert.True(Directory.Exists(workspace));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(workspace));
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(Path.Combine(_cli.HomeRoot, "agents")), e => Path.GetFileName(e).StartsWith(".new-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task New_RoleManagerAndDescription_WritesThemToFrontmatter()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "new", "lead", "--role", "manager", "--description", "Runs the \"night\" shift");

        Assert.Equal(0, result.ExitCode);
        var show = await _cli.RunAgentsAsync("agents", "show", "lead", "--json");
        Assert.Equal(0, show.ExitCode);
        using var json = show.Json();
        Assert.Equal("manager", json.RootElement.GetProperty("role").GetProperty("value").GetString());
        Assert.Equal("frontmatter", json.RootElement.GetProperty("role").GetProperty("source").GetString());
        Assert.Equal("Runs the 'night' shift", json.RootElement.GetProperty("description").GetString());
        Assert.Contains("\nrole: manager\n", await File.ReadAllTextAsync(Path.Combine(_cli.AgentDirectory("lead"), "AGENTS.md"), TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task New_Agent_ShowsUpInListAsOk()
    {
        await _cli.InitAsync();

        await _cli.RunAgentsAsync("agents", "new", "reviewer", "--role", "manager");
        var list = await _cli.RunAgentsAsync("agents", "list");

        Assert.Equal(0, list.ExitCode);
        Assert.Matches(@"^reviewer\s+manager\s+stopped\s+local/llama3\.2\s+default\s+3/7\s.*\sok\s*$", list.Row("reviewer"));
        Assert.Matches(@"^coder\s", list.Row("coder"));
    }

    [Fact]
    public async Task New_Agent_PromptHasItsSoulAndBootstrap()
    {
        await _cli.InitAsync();
        await _cli.RunAgentsAsync("agents", "new", "reviewer");

        var prompt = await _cli.RunAsync("agents", "prompt", "reviewer");

        Assert.Equal(0, prompt.ExitCode);
        Assert.Contains("=== SOUL ===\n# Soul\n\nYou are reviewer", prompt.Out, StringComparison.Ordinal);
        Assert.Contains("=== AGENTS ===\n# reviewer", prompt.Out, StringComparison.Ordinal);
        Assert.Contains("=== BOOTSTRAP ===", prompt.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("role: worker", prompt.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task New_Json_DescribesTheNewAgent()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "new", "reviewer", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        Assert.Equal("reviewer", json.RootElement.GetProperty("name").GetString());
        Assert.Equal("ok", json.RootElement.GetProperty("status").GetString());
        Assert.Equal(_cli.AgentDirectory("reviewer"), json.RootElement.GetProperty("directory").GetString());
        Assert.Equal("worker", json.RootElement.GetProperty("role").GetProperty("value").GetString());
    }

    [Fact]
    public async Task New_ExistingAgent_IsBadInputAndKeepsIt()
    {
        await _cli.InitAsync();
        var manifest = Path.Combine(_cli.AgentDirectory("coder"), "AGENTS.md");
        var before = await File.ReadAllTextAsync(manifest, TestContext.Current.CancellationToken);

        var result = await _cli.RunAgentsAsync("agents", "new", "coder", "--role", "manager");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("already exists", result.Error, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllTextAsync(manifest, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task New_Twice_SecondIsBadInput()
    {
        await _cli.InitAsync();

        var first = await _cli.RunAgentsAsync("agents", "new", "reviewer");
        var second = await _cli.RunAgentsAsync("agents", "new", "reviewer");

        Assert.Equal(0, first.ExitCode);
        Assert.Equal(2, second.ExitCode);
        Assert.Contains("'reviewer' already exists", second.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task New_UnknownRole_IsBadInputAndCreatesNothing()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "new", "reviewer", "--role", "boss");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("boss", result.Error, StringComparison.Ordinal);
        Assert.Contains("'manager'", result.Error, StringComparison.Ordinal);
        Assert.Contains("--help", result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_cli.AgentDirectory("reviewer")));
    }

    [Theory]
    [InlineData("../escape", "must not start with a dot")]
    [InlineData("has space", "may use only letters")]
    [InlineData("bad.name", "may use only letters")]
    public async Task New_InvalidName_IsBadInputAndCreatesNothing(string name, string rule)
    {
        await _cli.InitAndStartServerAsync();
        var before = Directory.EnumerateFileSystemEntries(_cli.Scratch.Path, "*", SearchOption.AllDirectories).Count();

        var result = await _cli.RunAgentsAsync("agents", "new", name);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(rule, result.Error, StringComparison.Ordinal);
        Assert.Equal(before, Directory.EnumerateFileSystemEntries(_cli.Scratch.Path, "*", SearchOption.AllDirectories).Count());
    }

    [Fact]
    public async Task New_MissingName_IsBadInput()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "new", "--role", "manager");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("apiary agents new --help", result.Error, StringComparison.Ordinal);
    }
}
