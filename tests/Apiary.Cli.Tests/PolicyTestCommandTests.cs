using System.Text.RegularExpressions;

namespace Apiary.Cli.Tests;

/// <summary><c>apiary policy test</c>: recorded proposals replayed against a candidate policy.</summary>
public sealed partial class PolicyTestCommandTests : IAsyncDisposable
{
    private const string DenyEcho =
        "rules:\n  - name: deny-echo\n    priority: 100000\n    match: { kind: exec, command: echo }\n    risk: low\n    tier: deny\n    message: no more echo\n";

    private readonly CliRunner _cli = new();

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

    [Fact]
    public async Task PolicyTest_CandidateDenyingEcho_ListsTheEchoAsAllowToDeny()
    {
        var echoId = await RecordExecsAsync();
        var candidate = CopyPolicies("candidate");
        await File.WriteAllTextAsync(Path.Combine(candidate, "zz-deny-echo.yaml"), DenyEcho, TestContext.Current.CancellationToken);

        var result = await _cli.RunAsync("policy", "test", candidate);

        Assert.True(result.ExitCode == 0, result.ToString());
        var line = Assert.Single(result.OutLines, l => l.StartsWith(echoId, StringComparison.Ordinal));
        Assert.Contains("echo hello", line, StringComparison.Ordinal);
        Assert.Contains("allow (allow-inspection) -> deny (deny-echo)", line, StringComparison.Ordinal);
        Assert.DoesNotContain("rm -rf", result.Out, StringComparison.Ordinal);
        Assert.Contains("2 proposals replayed, 1 would be decided differently", result.Out, StringComparison.Ordinal);
        Assert.Contains("evaluators are not replayed", result.Out, StringComparison.Ordinal);

        using var json = (await _cli.RunAsync("policy", "test", candidate, "--json")).Json();
        Assert.Equal(1, json.RootElement.GetProperty("different").GetInt32());
        Assert.False(json.RootElement.GetProperty("evaluators_replayed").GetBoolean());
        var difference = Assert.Single(json.RootElement.GetProperty("differences").EnumerateArray());
        Assert.Equal(echoId, difference.GetProperty("proposal").GetString());
        Assert.Equal("allow", difference.GetProperty("recorded_decision").GetString());
        Assert.Equal("deny", difference.GetProperty("new_decision").GetString());
        Assert.Equal("deny-echo", difference.GetProperty("new_rule").GetString());
    }

    [Fact]
    public async Task PolicyTest_UnchangedPolicies_NoDifferences()
    {
        await RecordExecsAsync();

        var result = await _cli.RunAsync("policy", "test", Path.Combine(_cli.HomeRoot, "policies"));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("2 proposals replayed, 0 would be decided differently", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PolicyTest_MalformedCandidate_Exits2WithFileAndLine()
    {
        await RecordExecsAsync();
        var file = Path.Combine(_cli.Scratch.CreateDirectory("bad"), "broken.yaml");
        await File.WriteAllTextAsync(
            file,
            "rules:\n  - name: oops\n    match: { comand: echo }\n    risk: low\n    tier: allow\n",
            TestContext.Current.CancellationToken);

        var result = await _cli.RunAsync("policy", "test", file);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("broken.yaml:3", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task PolicyTest_MissingCandidate_Exits2()
    {
        await _cli.InitAsync();
        var result = await _cli.RunAsync("policy", "test", Path.Combine(_cli.HomeRoot, "nope.yaml"));
        Assert.Equal(2, result.ExitCode);
    }

    [Fact]
    public async Task PolicyCheck_ABrokenFile_ReportsFileLineAndColumn_Exit1_AndThenLoads()
    {
        await _cli.InitAsync();
        var broken = Path.Combine(_cli.HomeRoot, "policies", "broken.yaml");
        await File.WriteAllTextAsync(broken, "rules:\n  - name: broken\n    match: { kind: exec\n    tier: allow\n", TestContext.Current.CancellationToken);

        var failing = await _cli.RunAsync("policy", "check");
        File.Delete(broken);
        var passing = await _cli.RunAsync("policy", "check");

        Assert.Equal(1, failing.ExitCode);
        Assert.StartsWith("policies/broken.yaml:4:16: error: malformed YAML", failing.Error, StringComparison.Ordinal);
        Assert.Contains("policies do not load", failing.Out, StringComparison.Ordinal);
        Assert.True(passing.ExitCode == 0, passing.ToString());
        Assert.Matches("^policies load: [0-9]+ rules from ", passing.Out);
    }

    [Fact]
    public async Task PolicyCheck_SamplePolicies_NoWarnings_Exit0EvenStrict()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("policy", "check", "--strict");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("", result.Error);
        Assert.Contains("; 0 warnings", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PolicyCheck_LintFindings_WarnAtFileLineColumn_Exit0_OrExit1WithStrict_AndInJson()
    {
        await _cli.InitAsync();
        await File.WriteAllTextAsync(
            Path.Combine(_cli.HomeRoot, "policies", "zz-lint.yaml"),
            """
            rules:
              - name: allow-python
                priority: 10
                match: { kind: exec, command: [jq, python3] }
                risk: low
                tier: allow
              - name: ls-again
                priority: 10
                match: { kind: exec, command: ls }
                risk: low
                tier: allow
              - name: worker-spawns
                priority: 10
                match: { kind: spawn_agent, role: worker }
                risk: low
                tier: approve
            """,
            TestContext.Current.CancellationToken);

        var plain = await _cli.RunAsync("policy", "check");
        var strict = await _cli.RunAsync("policy", "check", "--strict");
        using var json = (await _cli.RunAsync("policy", "check", "--json")).Json();

        Assert.True(plain.ExitCode == 0, plain.ToString());
        Assert.Contains("policies/zz-lint.yaml:2:5: warning: allow rule 'allow-python' allows a program that can run arbitrary code: python3", plain.Error, StringComparison.Ordinal);
        Assert.Contains("policies/zz-lint.yaml:7:5: warning: rule 'ls-again' never decides: rule 'allow-inspection' (policies/default.yaml:", plain.Error, StringComparison.Ordinal);
        Assert.Contains("policies/zz-lint.yaml:12:5: warning: rule 'worker-spawns' can never match", plain.Error, StringComparison.Ordinal);
        Assert.Contains("; 3 warnings", plain.Out, StringComparison.Ordinal);
        Assert.Equal(1, strict.ExitCode);
        Assert.Equal(3, json.RootElement.GetProperty("warnings").GetInt32());
        Assert.Equal(
            ["arbitrary-code", "shadowed", "unreachable"],
            json.RootElement.GetProperty("findings").EnumerateArray().Select(f => f.GetProperty("code").GetString()).Order());
        var first = json.RootElement.GetProperty("findings").EnumerateArray().First(f => f.GetProperty("rule").GetString() == "allow-python");
        Assert.Equal(("policies/zz-lint.yaml", 2, 5), (first.GetProperty("file").GetString(), first.GetProperty("line").GetInt32(), first.GetProperty("column").GetInt32()));
    }

    [Fact]
    public async Task PolicyTest_NoStore_Exits1()
    {
        await _cli.InitAsync();
        var result = await _cli.RunAsync("policy", "test", Path.Combine(_cli.HomeRoot, "policies"));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("events.db", result.Error, StringComparison.Ordinal);
    }

    // An allowed echo and a denied rm -rf /, recorded through the CLI and the home's server; returns the echo's proposal id.
    private async Task<string> RecordExecsAsync()
    {
        await _cli.InitAndStartServerAsync();
        var echo = await _cli.RunAsync("exec", "--", "echo", "hello");
        Assert.True(echo.ExitCode == 0, echo.ToString());
        var echoId = ProposalLine().Match(echo.Error).Groups["id"].Value;
        Assert.NotEqual("", echoId);

        var rm = await _cli.RunAsync("exec", "--", "rm", "-rf", "/");
        Assert.Equal(126, rm.ExitCode);
        Assert.Contains("deny-rm-root", rm.Error, StringComparison.Ordinal);
        return echoId;
    }

    private string CopyPolicies(string name)
    {
        var target = _cli.Scratch.CreateDirectory(name);
        foreach (var file in Directory.GetFiles(Path.Combine(_cli.HomeRoot, "policies"), "*.yaml"))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }

        return target;
    }

    [GeneratedRegex(@"proposal (?<id>[0-9a-f]{32})")]
    private static partial Regex ProposalLine();
}
