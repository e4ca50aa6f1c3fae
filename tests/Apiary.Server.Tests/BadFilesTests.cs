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
}
