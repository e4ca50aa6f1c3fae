using Apiary.Agents;
using Apiary.Home;
using Apiary.Testing;
using Apiary.Configuration;

namespace Apiary.Tests.Agents;

public sealed class AgentCatalogTests : IDisposable
{
    private readonly TestHome _home = new();

    public void Dispose() => _home.Dispose();

    private AgentCatalog Catalog(HomeConfig? config = null) => new(_home.Home, config ?? HomeConfig.Empty);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task List_ValidAgents_SortedByNameWithSettings()
    {
        _home.WriteAgentFile("zeta", "AGENTS.md", "---\nrole: worker\nmodel: local/a\n---\nzeta body");
        _home.WriteAgentFile("alpha", "AGENTS.md", "---\nrole: manager\n---\nalpha body");

        var listing = await Catalog().ListAsync(Ct);

        Assert.Equal(["alpha", "zeta"], listing.Agents.Select(a => a.Name.Value));
        Assert.All(listing.Agents, a => Assert.True(a.IsUsable));
        Assert.Equal(AgentRole.Manager, listing.Agents[0].Definition!.Settings.Role.Value);
        Assert.Equal("local/a", listing.Agents[1].Definition!.Settings.Model.Value);
        Assert.Empty(listing.Diagnostics);
    }

    [Fact]
    public async Task List_InvalidFolderNames_SkippedWithWarningsNamingThem()
    {
        _home.WriteAgentFile("good", "AGENTS.md", "body");
        _home.WriteAgentFile("bad.name", "AGENTS.md", "body");
        _home.WriteAgentFile(".hidden", "AGENTS.md", "body");
        _home.WriteAgentFile("has space", "AGENTS.md", "body");
        _home.Scratch.Write("user/.apiary/agents/notes.txt", "a file, not an agent");

        var listing = await Catalog().ListAsync(Ct);

        Assert.Equal(["good"], listing.Agents.Select(a => a.Name.Value));
        Assert.Equal(3, listing.Diagnostics.Count);
        Assert.All(listing.Diagnostics, d => Assert.Equal(DiagnosticSeverity.Warning, d.Severity));
        foreach (var bad in new[] { "bad.name", ".hidden", "has space" })
        {
            Assert.Contains(listing.Diagnostics, d => d.File!.EndsWith("/" + bad, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task List_OneBrokenAgent_OthersStillLoad()
    {
        _home.WriteAgentFile("a-ok", "AGENTS.md", "---\nrole: worker\n---\nfine");
        var broken = _home.WriteAgentFile("b-broken", "AGENTS.md", "---\nrole: worker\nbudget: {commands: [\n---\nbody");
        _home.WriteAgentFile("c-ok", "AGENTS.md", "fine too");
        _home.Scratch.CreateDirectory("user/.apiary/agents/d-empty");

        var listing = await Catalog().ListAsync(Ct);

        Assert.Equal(4, listing.Agents.Count);
        Assert.True(listing.Agents[0].IsUsable);
        Assert.True(listing.Agents[2].IsUsable);
        var error = Assert.Single(listing.Agents[1].Errors);
        Assert.Equal(broken, error.File);
        Assert.NotNull(error.Line);
        Assert.Null(listing.Agents[1].Definition);
        Assert.Contains("no AGENTS.md", Assert.Single(listing.Agents[3].Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_SymlinkedAgentFolder_LoadsFromItsTarget()
    {
        var elsewhere = _home.Scratch.CreateDirectory("shared-agents/reviewer");
        File.WriteAllText(Path.Combine(elsewhere, "AGENTS.md"), "---\nrole: worker\ndescription: reviews\n---\nReview code.");
        File.WriteAllText(Path.Combine(elsewhere, "SOUL.md"), "linked soul");
        Directory.CreateSymbolicLink(Path.Combine(_home.Home.AgentsDirectory, "reviewer"), elsewhere);

        var catalog = Catalog();
        var entry = Assert.Single((await catalog.ListAsync(Ct)).Agents);
        Assert.True(entry.IsUsable);
        Assert.Equal("reviews", entry.Definition!.Manifest.Description);
        var prompt = await catalog.ComposePromptAsync(entry.Definition, cancellationToken: Ct);
        Assert.Contains("linked soul", prompt.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_NoAgentsFolder_ErrorSuggestsInit()
    {
        Directory.Delete(_home.Home.AgentsDirectory);
        var listing = await Catalog().ListAsync(Ct);
        Assert.Empty(listing.Agents);
        Assert.Contains("apiary init", Assert.Single(listing.Diagnostics).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_UnknownAgent_Null() =>
        Assert.Null(await Catalog().LoadAsync(AgentName.Parse("ghost"), cancellationToken: Ct));

    [Fact]
    public async Task Load_AgentsMdOverOneMebibyte_Error()
    {
        _home.WriteAgentFile("big", "AGENTS.md", new string('x', (1024 * 1024) + 1));
        var entry = await Catalog().LoadAsync(AgentName.Parse("big"), cancellationToken: Ct);
        Assert.Contains("over the limit", Assert.Single(entry!.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_OversizedOtherFile_WarnsButLoads()
    {
        _home.WriteAgentFile("memo", "AGENTS.md", "body");
        _home.WriteAgentFile("memo", "MEMORY.md", new string('m', (1024 * 1024) + 10));
        var entry = await Catalog().LoadAsync(AgentName.Parse("memo"), cancellationToken: Ct);
        Assert.True(entry!.IsUsable);
        Assert.Contains(entry.Warnings, w => w.File!.EndsWith("MEMORY.md", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Load_MissingTemplate_Warns_AndTheRetiredPoliciesFieldWarnsAtItsLine()
    {
        _home.WriteAgentFile("x", "AGENTS.md", "---\ntemplate: gpu\npolicies: [strict]\n---\n");
        var entry = await Catalog().LoadAsync(AgentName.Parse("x"), cancellationToken: Ct);
        Assert.True(entry!.IsUsable);
        Assert.Contains(entry.Warnings, w => w.Message.Contains("templates/gpu.yaml", StringComparison.Ordinal));
        Assert.Contains(entry.Warnings, w => w.Line == 3 && w.Message.Contains("field 'policies' is no longer used", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Load_ConfiguredWorkspaceIntoEtc_AgentUnusable()
    {
        var link = Path.Combine(_home.Scratch.Path, "looks-safe");
        Directory.CreateSymbolicLink(link, "/etc");
        _home.WriteAgentFile("x", "AGENTS.md", $"---\nworkspace: {link}\n---\n");

        var entry = await Catalog().LoadAsync(AgentName.Parse("x"), cancellationToken: Ct);

        Assert.False(entry!.IsUsable);
        var error = Assert.Single(entry.Errors);
        Assert.Contains("/etc", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("AGENTS.md", error.File, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_ConfiguredWorkspaceWithTilde_Canonicalized()
    {
        var project = _home.Scratch.CreateDirectory("user/projects/app");
        _home.WriteAgentFile("x", "AGENTS.md", "---\nworkspace: ~/projects/app\n---\n");
        var entry = await Catalog().LoadAsync(AgentName.Parse("x"), cancellationToken: Ct);
        Assert.Equal(project, entry!.Definition!.Workspace.Path);
        Assert.False(entry.Definition.Workspace.IsDefault);
        Assert.Equal(SettingSource.Frontmatter, entry.Definition.Workspace.Source);
    }

    [Fact]
    public async Task Load_DefaultWorkspace_ReportedNotCreated()
    {
        _home.WriteAgentFile("x", "AGENTS.md", "body");
        var entry = await Catalog().LoadAsync(AgentName.Parse("x"), cancellationToken: Ct);
        var workspace = entry!.Definition!.Workspace;
        Assert.True(workspace.IsDefault);
        Assert.False(workspace.Exists);
        Assert.False(Directory.Exists(workspace.Path));
    }

    [Fact]
    public async Task Precedence_CommandLineThenFrontmatterThenHomeThenDefault()
    {
        _home.WriteAgentFile("x", "AGENTS.md", "---\nmodel: own/model\nbudget: { tokens: 7 }\n---\n");
        var config = new HomeConfig
        {
            Defaults = AgentManifest.Empty with
            {
                Model = "home/model",
                Template = "home-template",
                Budget = new AgentBudget(Commands: 11, Tokens: 999),
            },
        };
        var catalog = Catalog(config);

        var plain = (await catalog.LoadAsync(AgentName.Parse("x"), cancellationToken: Ct))!.Definition!.Settings;
        Assert.Equal(new Setting<string?>("own/model", SettingSource.Frontmatter), plain.Model);
        Assert.Equal(new Setting<string>("home-template", SettingSource.HomeConfig), plain.Template);
        Assert.Equal(new Setting<string>(AgentSettings.DefaultToolProfile, SettingSource.Default), plain.ToolProfile);
        Assert.Equal(new Setting<long>(7, SettingSource.Frontmatter), plain.Tokens);
        Assert.Equal(new Setting<int>(11, SettingSource.HomeConfig), plain.Commands);
        Assert.Equal(new Setting<TimeSpan>(TimeSpan.FromMinutes(30), SettingSource.Default), plain.WallTime);
        Assert.Equal(new Setting<AgentRole>(AgentRole.Worker, SettingSource.Default), plain.Role);

        var overrides = new AgentOverrides { Model = "cli/model", Template = "cli-template", Budget = new AgentBudget(Tokens: 1) };
        var overridden = (await catalog.LoadAsync(AgentName.Parse("x"), overrides, Ct))!.Definition!.Settings;
        Assert.Equal(new Setting<string?>("cli/model", SettingSource.CommandLine), overridden.Model);
        Assert.Equal(new Setting<string>("cli-template", SettingSource.CommandLine), overridden.Template);
        Assert.Equal(new Setting<long>(1, SettingSource.CommandLine), overridden.Tokens);
        Assert.Equal(new Setting<int>(11, SettingSource.HomeConfig), overridden.Commands);
    }

    [Fact]
    public async Task Bootstrap_MarkedConsumed_SurvivesARestart()
    {
        _home.WriteAgentFile("x", "AGENTS.md", "body");
        _home.WriteAgentFile("x", "BOOTSTRAP.md", "first-run instructions");
        var before = await Catalog().LoadAsync(AgentName.Parse("x"), cancellationToken: Ct);
        Assert.Contains("first-run instructions", (await Catalog().ComposePromptAsync(before!.Definition!, cancellationToken: Ct)).Text, StringComparison.Ordinal);

        var at = new DateTimeOffset(2026, 11, 20, 12, 0, 0, TimeSpan.Zero);
        await BootstrapRecord.MarkAsync(before.Directory, "session-1", at, Ct);

        // A new catalog reads only the disk, as a restarted process would.
        var restarted = Catalog();
        var after = (await restarted.LoadAsync(AgentName.Parse("x"), cancellationToken: Ct))!.Definition!;
        Assert.Equal(new BootstrapRecord("session-1", at), after.Bootstrap);
        var prompt = await restarted.ComposePromptAsync(after, cancellationToken: Ct);
        Assert.DoesNotContain("first-run instructions", prompt.Text, StringComparison.Ordinal);
        Assert.Contains("session-1", prompt.Sections.Single(s => s.File == "BOOTSTRAP.md").Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bootstrap_MarkedTwice_KeepsTheFirstSession()
    {
        var dir = _home.Scratch.CreateDirectory("agent");
        var first = await BootstrapRecord.MarkAsync(dir, "s-1", DateTimeOffset.UnixEpoch, Ct);
        var second = await BootstrapRecord.MarkAsync(dir, "s-2", DateTimeOffset.UnixEpoch.AddDays(1), Ct);
        Assert.Equal(first, second);
        Assert.True(BootstrapRecord.Reset(dir));
        Assert.Null(await BootstrapRecord.ReadAsync(dir, Ct));
    }

    [Fact]
    public async Task Bootstrap_Marked_WritesAnIndentedSnakeCaseFile()
    {
        var dir = _home.Scratch.CreateDirectory("agent");
        await BootstrapRecord.MarkAsync(dir, "s-1", DateTimeOffset.UnixEpoch, Ct);
        Assert.Equal(
            "{\n  \"session_id\": \"s-1\",\n  \"completed_at\": \"1970-01-01T00:00:00+00:00\"\n}",
            await File.ReadAllTextAsync(Path.Combine(dir, BootstrapRecord.RelativePath), Ct));
    }

    [Fact]
    public async Task Bootstrap_CorruptRecord_AgentUnusableNotSilentlyReset()
    {
        _home.WriteAgentFile("x", "AGENTS.md", "body");
        _home.WriteAgentFile("x", BootstrapRecord.RelativePath, "{ not json");
        var entry = await Catalog().LoadAsync(AgentName.Parse("x"), cancellationToken: Ct);
        Assert.False(entry!.IsUsable);
        Assert.Contains("corrupt", Assert.Single(entry.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_NewAgent_FilesAndOwnerOnlyWorkspace()
    {
        var catalog = Catalog();
        var entry = await catalog.CreateAsync(AgentName.Parse("helper"), AgentRole.Manager, "Helps out", Ct);

        Assert.True(entry.IsUsable, string.Join("; ", entry.Diagnostics));
        Assert.Empty(entry.Diagnostics);
        Assert.Equal(AgentRole.Manager, entry.Definition!.Settings.Role.Value);
        Assert.Equal("Helps out", entry.Definition.Manifest.Description);
        Assert.True(File.Exists(Path.Combine(entry.Directory, "SOUL.md")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(entry.Definition.Workspace.Path));
        var prompt = await catalog.ComposePromptAsync(entry.Definition, cancellationToken: Ct);
        Assert.Contains("=== AGENTS ===\n# helper", prompt.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("role: manager", prompt.Text, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateDirectories(_home.Home.AgentsDirectory, ".new-*"));
    }

    [Fact]
    public async Task Create_ExistingName_ThrowsAndLeavesItAlone()
    {
        var agents = _home.WriteAgentFile("taken", "AGENTS.md", "original");
        await Assert.ThrowsAsync<AgentExistsException>(() => Catalog().CreateAsync(AgentName.Parse("taken"), AgentRole.Worker, cancellationToken: Ct));
        Assert.Equal("original", await File.ReadAllTextAsync(agents, Ct));
    }
}
