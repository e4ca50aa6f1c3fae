using Apiary.Agents;

namespace Apiary.Cli.Tests;

public sealed class AgentsShowCommandTests : IAsyncDisposable
{
    private readonly CliRunner _cli = new();

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

    [Fact]
    public async Task Show_SampleAgent_ShowsFrontmatterSettingsWithSource()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "show", "coder");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^name\s+coder\s*$", result.Row("name"));
        Assert.Matches(@"^role\s+worker\s+\(frontmatter\)\s*$", result.Row("role"));
        Assert.Matches(@"^model\s+local/qwen2\.5-coder\s+\(frontmatter\)\s*$", result.Row("model"));
        Assert.Matches(@"^budget\.commands\s+200\s+\(frontmatter\)\s*$", result.Row("budget.commands"));
        Assert.Matches(@"^budget\.wall_time\s+30m\s+\(frontmatter\)\s*$", result.Row("budget.wall_time"));
        Assert.Matches($@"^workspace\s+{Escape(Path.Combine(_cli.AgentDirectory("coder"), "workspace"))}\s+\(default\)\s*$", result.Row("workspace"));
        Assert.Matches(@"^USER\.md\s+missing\s*$", result.Row("USER.md"));
        Assert.Matches(@"^SOUL\.md\s+\d+ bytes\s*$", result.Row("SOUL.md"));
    }

    [Fact]
    public async Task Show_SettingLeftOutOfFrontmatter_ComesFromHomeConfig()
    {
        await _cli.InitAsync();
        _cli.WriteAgentFile("plain", "AGENTS.md", "---\nrole: worker\n---\n# Plain\n");

        var result = await _cli.RunAgentsAsync("agents", "show", "plain");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^role\s+worker\s+\(frontmatter\)\s*$", result.Row("role"));
        Assert.Matches(@"^model\s+local/llama3\.2\s+\(apiary\.yaml\)\s*$", result.Row("model"));
        Assert.Matches(@"^budget\.wall_time\s+1h\s+\(apiary\.yaml\)\s*$", result.Row("budget.wall_time"));
        Assert.Matches(@"^workspace\s+.*\(created on first use\)\s+\(default\)\s*$", result.Row("workspace"));
    }

    [Fact]
    public async Task Show_NoHomeConfigAndNoFrontmatter_UsesDefaults()
    {
        await _cli.InitAsync();
        File.Delete(Path.Combine(_cli.HomeRoot, "apiary.yaml"));
        _cli.WriteAgentFile("plain", "AGENTS.md", "# Plain, no frontmatter\n");

        var result = await _cli.RunAgentsAsync("agents", "show", "plain");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^role\s+worker\s+\(default\)\s*$", result.Row("role"));
        Assert.Matches(@"^model\s+\(not set\)\s+\(default\)\s*$", result.Row("model"));
    }

    [Fact]
    public async Task Show_ModelOption_OverridesWithCommandLineSource()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "show", "coder", "--model", "x/y");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^model\s+x/y\s+\(command line\)\s*$", result.Row("model"));
        Assert.Matches(@"^role\s+worker\s+\(frontmatter\)\s*$", result.Row("role"));
    }

    [Fact]
    public async Task Show_Json_HasValueAndSourceForEachSetting()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "show", "coder", "--model", "x/y", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        var root = json.RootElement;
        Assert.Equal("coder", root.GetProperty("name").GetString());
        Assert.Equal("ok", root.GetProperty("status").GetString());
        Assert.Equal("x/y", root.GetProperty("model").GetProperty("value").GetString());
        Assert.Equal("command_line", root.GetProperty("model").GetProperty("source").GetString());
        Assert.Equal("worker", root.GetProperty("role").GetProperty("value").GetString());
        Assert.Equal("frontmatter", root.GetProperty("role").GetProperty("source").GetString());
        Assert.Equal("coding", root.GetProperty("tool_profile").GetProperty("value").GetString());
        Assert.Equal(200, root.GetProperty("budget").GetProperty("commands").GetProperty("value").GetInt32());
        Assert.Equal("30m", root.GetProperty("budget").GetProperty("wall_time").GetProperty("value").GetString());
        Assert.True(root.GetProperty("workspace").GetProperty("is_default").GetBoolean());
        Assert.Equal("default", root.GetProperty("workspace").GetProperty("source").GetString());
        Assert.False(root.GetProperty("bootstrap").GetProperty("consumed").GetBoolean());
        Assert.Equal(7, root.GetProperty("files").GetArrayLength());
    }

    [Fact]
    public async Task Show_JsonSettingFromHomeConfig_SourceIsHomeConfig()
    {
        await _cli.InitAsync();
        _cli.WriteAgentFile("plain", "AGENTS.md", "---\nrole: manager\n---\n# Plain\n");

        var result = await _cli.RunAgentsAsync("agents", "show", "plain", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        Assert.Equal("local/llama3.2", json.RootElement.GetProperty("model").GetProperty("value").GetString());
        Assert.Equal("home_config", json.RootElement.GetProperty("model").GetProperty("source").GetString());
        Assert.Equal("manager", json.RootElement.GetProperty("role").GetProperty("value").GetString());
    }

    [Fact]
    public async Task Show_NonexistentAgent_IsBadInput()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "show", "nobody");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no agent named 'nobody'", result.Error, StringComparison.Ordinal);
        Assert.Contains("apiary agents new nobody", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Theory]
    [InlineData("../etc", "must not start with a dot")]
    [InlineData("a/b", "may use only letters")]
    [InlineData("bad.name", "may use only letters")]
    [InlineData(".hidden", "must not start with a dot")]
    [InlineData("", "must not be empty")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "at most 64 characters")]
    public async Task Show_InvalidName_IsBadInputNamingTheRule(string name, string rule)
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "show", name);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("is not a valid agent name", result.Error, StringComparison.Ordinal);
        Assert.Contains(rule, result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Show_WorkspaceSymlinkToEtc_IsRefused()
    {
        await _cli.InitAsync();
        var link = Path.Combine(_cli.Scratch.Path, "innocent-looking");
        Directory.CreateSymbolicLink(link, "/etc");

        var result = await _cli.RunAgentsAsync("agents", "show", "coder", "--workspace", link);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--workspace: error:", result.Error, StringComparison.Ordinal);
        Assert.Contains("system directory /etc", result.Error, StringComparison.Ordinal);
        Assert.Contains("cannot be used", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("/etc", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_FrontmatterWorkspaceInsideEtc_IsRefused()
    {
        await _cli.InitAsync();
        var manifest = _cli.WriteAgentFile("escaper", "AGENTS.md", "---\nworkspace: /etc\n---\n# Escaper\n");

        var result = await _cli.RunAgentsAsync("agents", "show", "escaper");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"{manifest}: error:", result.Error, StringComparison.Ordinal);
        Assert.Contains("system directory /etc", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_DefaultWorkspaceIsSymlink_IsRefused()
    {
        await _cli.InitAsync();
        var workspace = Path.Combine(_cli.AgentDirectory("coder"), "workspace");
        Directory.Delete(workspace);
        Directory.CreateSymbolicLink(workspace, "/etc");

        var result = await _cli.RunAgentsAsync("agents", "show", "coder");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("symbolic link", result.Error, StringComparison.Ordinal);
        Assert.Contains(workspace, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_WorkspaceOptionToOwnFolder_IsAcceptedFromCommandLine()
    {
        await _cli.InitAsync();
        var project = _cli.Scratch.CreateDirectory("user/projects/repo");

        var result = await _cli.RunAgentsAsync("agents", "show", "coder", "--workspace", "~/projects/repo", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        var workspace = json.RootElement.GetProperty("workspace");
        Assert.Equal(project, workspace.GetProperty("path").GetString());
        Assert.False(workspace.GetProperty("is_default").GetBoolean());
        Assert.Equal("command_line", workspace.GetProperty("source").GetString());
    }

    [Fact]
    public async Task Show_WorkspaceOptionInsideApiaryHome_IsRefused()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "show", "coder", "--workspace", Path.Combine(_cli.HomeRoot, "policies"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("inside the Apiary home", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_FrontmatterTemplateOutsideTemplates_IsRefused()
    {
        await _cli.InitAsync();
        var manifest = _cli.WriteAgentFile("sneaky", "AGENTS.md", "---\nrole: worker\ntemplate: ../policies/coder\n---\n# Sneaky\n");

        var result = await _cli.RunAgentsAsync("agents", "show", "sneaky");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"{manifest}:3:11: error: 'template' must be a name", result.Error, StringComparison.Ordinal);
    }

    // Command-line overrides follow the same rules as frontmatter: a template name cannot escape templates/.
    [Fact]
    public async Task Show_TemplateOptionOutsideTemplates_IsBadInput()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "show", "coder", "--template", "../policies/coder");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("template", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("")]
    [InlineData("local/")]
    public async Task Show_ModelOptionNotEndpointSlashModel_IsBadInput(string model)
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "show", "coder", "--model", model);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("endpoint/model", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_FrontmatterModelNotEndpointSlashModel_IsRefused()
    {
        await _cli.InitAsync();
        var manifest = _cli.WriteAgentFile("vague", "AGENTS.md", "---\nmodel: garbage\n---\n# Vague\n");

        var result = await _cli.RunAgentsAsync("agents", "show", "vague");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"{manifest}:2:8: error: 'model' must be 'endpoint/model'", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_BrokenAgent_FailsWithFileLineColumn()
    {
        await _cli.InitAsync();
        var manifest = _cli.WriteAgentFile("coder", "AGENTS.md", AgentsListCommandTests.MalformedManifest);

        var result = await _cli.RunAgentsAsync("agents", "show", "coder");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"{manifest}:3:9: error:", result.Error, StringComparison.Ordinal);
        Assert.Contains("agent 'coder' cannot be used", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_BrokenAgentJson_StatusErrorAndFails()
    {
        await _cli.InitAsync();
        _cli.WriteAgentFile("coder", "AGENTS.md", "---\nrole: boss\n---\n# Boss\n");

        var result = await _cli.RunAgentsAsync("agents", "show", "coder", "--json");

        Assert.Equal(1, result.ExitCode);
        using var json = result.Json();
        Assert.Equal("error", json.RootElement.GetProperty("status").GetString());
        var diagnostic = Assert.Single(json.RootElement.GetProperty("diagnostics").EnumerateArray());
        Assert.Equal(2, diagnostic.GetProperty("line").GetInt32());
        Assert.Contains("'boss'", diagnostic.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_AfterBootstrapRecorded_ReportsConsumedSession()
    {
        await _cli.InitAsync();
        var completed = new DateTimeOffset(2025, 3, 4, 5, 6, 7, TimeSpan.Zero);
        await BootstrapRecord.MarkAsync(_cli.AgentDirectory("coder"), "s-1", completed, TestContext.Current.CancellationToken);

        var text = await _cli.RunAgentsAsync("agents", "show", "coder");
        var json = await _cli.RunAgentsAsync("agents", "show", "coder", "--json");

        Assert.Equal(0, text.ExitCode);
        Assert.Contains("consumed by session s-1", text.Row("bootstrap"), StringComparison.Ordinal);
        using var document = json.Json();
        var bootstrap = document.RootElement.GetProperty("bootstrap");
        Assert.True(bootstrap.GetProperty("consumed").GetBoolean());
        Assert.Equal("s-1", bootstrap.GetProperty("session_id").GetString());
        Assert.Equal(completed, bootstrap.GetProperty("completed_at").GetDateTimeOffset());
    }

    private static string Escape(string text) => System.Text.RegularExpressions.Regex.Escape(text);
}
