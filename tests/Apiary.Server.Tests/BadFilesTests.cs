namespace Apiary.Server.Tests;

/// <summary>Files with errors are errors with their file, line and column, never a crash of the server.</summary>
public sealed class BadFilesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PolicyFileLeftUnclosed_TheServerStarts_RefusesEveryProposalNamingTheFileAndTheCommandThatShowsIt()
    {
        // This exact text made YamlDotNet throw an exception without a position, which ended 'apiary up' (exit 134).
        await using var t = await TestServer.StartWithPolicyAsync("broken.yaml", "rules:\n  - name: broken\n    match: { kind: exec\n    tier: allow\n");

        Assert.Contains("policies/broken.yaml:4:16: error: malformed YAML", t.Server.PolicyProblem, StringComparison.Ordinal);
        var session = await t.OpenSessionAsync();
        var refused = await t.Http.PostAsJsonAsync($"/api/sessions/{session.Session.Id}/proposals", new ProposalRequest("exec", Command: "echo"), ApiJsonContext.Default.ProposalRequest, Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        var detail = await refused.Content.ReadAsStringAsync(Ct);
        Assert.Contains("policies/broken.yaml:4:16", detail, StringComparison.Ordinal);
        Assert.Contains("apiary policy check", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AgentFileLeftUnclosed_HidesOnlyThatAgent_WhichSaysWhereItIsBroken()
    {
        await using var t = await TestServer.StartAsync(prepare: async home =>
        {
            Directory.CreateDirectory(Path.Combine(home, "agents", "broken"));
            await File.WriteAllTextAsync(Path.Combine(home, "agents", "broken", "AGENTS.md"), "---\nrole: worker\nbudget: { tokens: 10\n---\n# broken\n", Ct);
        });

        var agents = await t.Http.GetFromJsonAsync("/api/agents", ApiJsonContext.Default.IReadOnlyListAgentDto, Ct);
        var broken = await t.Http.PostAsJsonAsync("/api/sessions", new OpenSessionRequest("broken"), ApiJsonContext.Default.OpenSessionRequest, Ct);
        var coder = await t.OpenSessionAsync("coder");

        Assert.Contains(agents!, a => a.Name == "coder" && a.Status == "ok");
        Assert.Contains(agents!, a => a.Name == "broken" && a.Status != "ok");
        Assert.Equal(HttpStatusCode.Conflict, broken.StatusCode);
        var why = await broken.Content.ReadAsStringAsync(Ct);
        Assert.True(why.Contains("AGENTS.md:", StringComparison.Ordinal) && why.Contains("malformed YAML", StringComparison.Ordinal), why);
        Assert.Equal("coder", coder.Session.Agent);
    }

    [Fact]
    public async Task TemplateLeftUnclosed_OnlySessionsThatUseItAreRefused_NamingWhereItIsBroken()
    {
        await using var t = await TestServer.StartAsync(prepare: home =>
            File.WriteAllTextAsync(Path.Combine(home, "templates", "python.yaml"), "limits: {\n  cpus: [1\n", Ct));

        var broken = await t.Http.PostAsJsonAsync("/api/sessions", new OpenSessionRequest("coder", Template: "python"), ApiJsonContext.Default.OpenSessionRequest, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, broken.StatusCode);
        var why = await broken.Content.ReadAsStringAsync(Ct);
        Assert.True(why.Contains("python.yaml:", StringComparison.Ordinal) && why.Contains("malformed YAML", StringComparison.Ordinal), why);
        Assert.Equal("coder", (await t.OpenSessionAsync("coder")).Session.Agent);
    }

    [Fact]
    public async Task ModelsFileLeftUnclosed_TheServerServes_AndARunIsRefusedNamingWhereItIsBroken()
    {
        await using var t = await TestServer.StartAsync(prepare: home =>
            File.WriteAllTextAsync(Path.Combine(home, "models.yaml"), "models: {\n  x: [a\n", Ct));

        var refused = await t.Http.PostAsJsonAsync("/api/agents/coder/runs", new StartRunRequest("say hello"), ApiJsonContext.Default.StartRunRequest, Ct);
        Assert.False(refused.IsSuccessStatusCode);
        var why = await refused.Content.ReadAsStringAsync(Ct);
        Assert.True(why.Contains("models.yaml:3:1", StringComparison.Ordinal) && why.Contains("malformed YAML", StringComparison.Ordinal), why);
        Assert.Equal("completed", (await t.ProposeAsync((await t.OpenSessionAsync()).Session.Id, new ProposalRequest("exec", Command: "true"))).Status);
    }

    [Fact]
    public async Task HomeSettingsLeftUnclosed_ApiaryUpExits1_WithOneLineNamingWhereItIsBroken()
    {
        using var root = new TempDirectory("apiary-bad-settings");
        var home = new Home.ApiaryHome(root["home"], root.Path);
        await home.InitializeAsync(Ct);
        await File.WriteAllTextAsync(Path.Combine(home.Root, "apiary.yaml"), "server: {\n  allowed_hosts: [a\n", Ct);

        using var up = System.Diagnostics.Process.Start(UpProcess.StartInfo(home.Root, root.Path, "--urls", "http://127.0.0.1:0"))!;
        var error = up.StandardError.ReadToEndAsync(Ct);
        await up.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);

        Assert.Equal(1, up.ExitCode);
        Assert.Contains("apiary.yaml:3:1: error: malformed YAML", await error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", await error, StringComparison.Ordinal);
    }
}
