using Apiary.Governance;
using Apiary.Testing;
using static Apiary.Tests.Governance.GovernanceTestData;

namespace Apiary.Tests.Governance;

/// <summary><see cref="PolicyLint"/>: shadowed rules, unreachable rules, allow rules that let arbitrary code run.</summary>
public sealed class PolicyLintTests
{
    private static IReadOnlyList<PolicyLintFinding> Lint(string yaml) => PolicyLint.Check(Load(yaml, "policies/lint.yaml"));

    [Fact]
    public void Check_SameMatchAtLowerPriority_IsShadowedAtItsFileLineAndColumn()
    {
        var findings = Lint(Rules(
            Rule("deny-git", 20, "{ kind: exec, command: git }", "deny"),
            Rule("allow-git-status", 10, "{ kind: exec, command: git, args: 'status*' }", "approve")));

        var finding = Assert.Single(findings);
        Assert.Equal((PolicyLintKind.Shadowed, "allow-git-status", "shadowed"), (finding.Kind, finding.Rule, finding.Code));
        Assert.StartsWith("policies/lint.yaml:9:5: warning: rule 'allow-git-status' never decides: rule 'deny-git' (policies/lint.yaml:2:5)", finding.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ kind: exec, command: git, args: 'status*' }", "{ kind: exec, command: git }")] // narrower first
    [InlineData("{ kind: exec, command: git }", "{ kind: [exec, read_file], command: git }")] // the later one has more kinds
    [InlineData("{ kind: exec, command: 'g*' }", "{ kind: exec, command: 'h*' }")] // disjoint
    [InlineData("{ kind: exec, command: git, agent: coder }", "{ kind: exec, command: git }")] // the earlier names one agent
    public void Check_EarlierRuleNarrowerOrDifferent_NoShadow(string first, string second) =>
        Assert.DoesNotContain(Lint(Rules(Rule("first", 20, first, "deny"), Rule("second", 10, second, "deny"))), f => f.Kind == PolicyLintKind.Shadowed);

    [Fact]
    public void Check_EarlierRuleWithWhen_DoesNotShadow()
    {
        var findings = Lint(Rules(
            Rule("office-hours", 20, "{ kind: exec, command: git }", "deny", "when: { hours: \"09:00-18:00\" }"),
            Rule("git", 10, "{ kind: exec, command: git }", "deny")));

        Assert.Empty(findings);
    }

    [Fact]
    public void Check_GlobsAndFolders_CoverNarrowerOnes()
    {
        var findings = Lint(Rules(
            Rule("src", 20, "{ kind: write_file, path: 'src/**' }", "deny"),
            Rule("src-lib", 10, "{ kind: write_file, path: ['src/lib/**', 'src/a.txt'] }", "deny"),
            Rule("git-any", 20, "{ kind: exec, command: 'git*' }", "deny"),
            Rule("git-lfs", 10, "{ kind: exec, command: 'git-lfs*' }", "deny")));

        Assert.Equal(["git-lfs", "src-lib"], findings.Where(f => f.Kind == PolicyLintKind.Shadowed).Select(f => f.Rule).Order());
    }

    [Fact]
    public void Check_RecipientsOfARestrictingRule_DoNotCoverAnAllowAcrossTiers()
    {
        // A deny of one recipient catches a message to it and others; an allow naming the same must not look shadowed
        // the other way round: an allow of [a, b] does not match a message to a and c, which a deny of [a] does.
        var findings = Lint(Rules(
            Rule("allow-a-b", 20, "{ kind: send_message, recipients: [a, b] }"),
            Rule("deny-a", 10, "{ kind: send_message, recipients: [a] }", "deny")));

        Assert.Empty(findings);
    }

    [Fact]
    public void Check_RuleAfterACatchAll_IsUnreachable()
    {
        var findings = Lint(Rules(
            Rule("deny-all", 100, "{}", "deny"),
            Rule("read", 10, "{ kind: read_file, path: '**' }"),
            Rule("models", 10, "{ kind: model_call }", "approve")));

        var finding = Assert.Single(findings);
        Assert.Equal((PolicyLintKind.Unreachable, "read"), (finding.Kind, finding.Rule));
        Assert.Contains("the catch-all rule 'deny-all'", finding.Diagnostic.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ kind: read_file, command: cat }", "match.command holds only for an exec")]
    [InlineData("{ kind: [read_file, list_dir], args: '-l' }", "match.args holds only for an exec")]
    [InlineData("{ kind: write_file, workdir: src }", "match.workdir holds only for an exec")]
    [InlineData("{ kind: exec, recipients: operator }", "match.recipients holds only for a send_message")]
    [InlineData("{ kind: [spawn_agent, start_agent], role: worker }", "'manager-role' denies them to a worker")]
    public void Check_FieldsThatCannotHoldForTheKinds_AreUnreachable(string match, string why)
    {
        var finding = Assert.Single(Lint(Rules(Rule("r", 1, match, "deny"))));

        Assert.Equal(PolicyLintKind.Unreachable, finding.Kind);
        Assert.Contains(why, finding.Diagnostic.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ kind: exec, command: cat }")]
    [InlineData("{ kind: [exec, read_file], command: cat }")]
    [InlineData("{ kind: send_message, recipients: operator }")]
    [InlineData("{ kind: spawn_agent, role: manager }")]
    [InlineData("{ kind: [spawn_agent, exec], role: worker, command: ls }")]
    public void Check_FieldsThatCanHold_NotUnreachable(string match) =>
        Assert.Empty(Lint(Rules(Rule("r", 1, match, "deny"))));

    [Theory]
    [InlineData("{ kind: exec, command: [ls, python3] }", "python3")]
    [InlineData("{ kind: exec, command: bash, args: '-c *' }", "bash -c id")]
    [InlineData("{ kind: exec, command: /usr/bin/env }", "env")]
    [InlineData("{ kind: exec, command: xargs }", "xargs")]
    [InlineData("{ kind: exec, command: find }", "find . -exec id ;")]
    [InlineData("{ kind: exec, command: git, args: 'status*' }", "git status")]
    [InlineData("{ kind: exec, command: sed }", "sed 1e id file")]
    [InlineData("{ kind: exec, command: 'python*' }", "python")]
    public void Check_AllowOfAProgramThatRunsCode_IsAFinding(string match, string named)
    {
        var finding = Assert.Single(Lint(Rules(Rule("allow-it", 1, match))));

        Assert.Equal(PolicyLintKind.ArbitraryCode, finding.Kind);
        Assert.Contains(named, finding.Diagnostic.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ kind: exec }")]
    [InlineData("{ kind: exec, command: '*' }")]
    [InlineData("{}")]
    public void Check_AllowOfAnyProgram_IsAFinding(string match)
    {
        var finding = Assert.Single(Lint(Rules(Rule("allow-all", 1, match))));

        Assert.Equal(PolicyLintKind.ArbitraryCode, finding.Kind);
        Assert.Contains("allows any program", finding.Diagnostic.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ kind: exec, command: [ls, cat, grep, jq] }", "allow", "")]
    [InlineData("{ kind: exec, command: python3 }", "approve", "")]
    [InlineData("{ kind: exec, command: python3 }", "deny", "")]
    [InlineData("{ kind: exec, command: python3, args: --version }", "allow", "")]
    [InlineData("{ kind: read_file, path: '**' }", "allow", "")]
    [InlineData("{ kind: exec, command: find }", "allow", "escalate: { arg: [-exec, -execdir, -ok, -okdir] }")]
    public void Check_AllowWithoutArbitraryCode_NoFinding(string match, string tier, string extra) =>
        Assert.DoesNotContain(Lint(Rules(Rule("r", 1, match, tier, extra))), f => f.Kind == PolicyLintKind.ArbitraryCode);

    [Fact]
    public void Check_EscalateThatDependsOnTheTime_StillAFinding()
    {
        // At other hours the rule allows bash outright.
        var finding = Assert.Single(Lint(Rules(Rule("bash", 1, "{ kind: exec, command: bash }", "allow", "escalate: { hours: \"09:00-18:00\" }"))));

        Assert.Equal(PolicyLintKind.ArbitraryCode, finding.Kind);
    }

    [Fact]
    public async Task Check_TheSamplePolicies_NoFindings()
    {
        using var home = new TestHome();
        await home.Home.InitializeAsync(TestContext.Current.CancellationToken);
        var loaded = PolicyLoader.LoadDirectory(home.Home.PoliciesDirectory);

        Assert.Empty(PolicyLint.Check(loaded.Policy!));
    }

    [Fact]
    public void Load_PatternThatNeedsBacktracking_WarnsAtItsPosition()
    {
        var result = PolicyLoader.Parse("policies/bt.yaml", Rules(Rule("r", 1, "{ kind: exec, args: 're:(a)\\1' }", "deny")));

        Assert.True(result.Succeeded);
        var warning = Assert.Single(result.Diagnostics);
        Assert.StartsWith("policies/bt.yaml:4:32: warning:", warning.ToString(), StringComparison.Ordinal);
        Assert.Contains("backtracking engine", warning.Message, StringComparison.Ordinal);
    }
}
