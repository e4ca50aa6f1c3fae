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
}
