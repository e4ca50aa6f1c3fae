using Apiary.Governance;
using static Apiary.Tests.Governance.GovernanceTestData;

namespace Apiary.Tests.Governance;

public sealed class PolicyEngineTests
{
    [Fact]
    public void Decide_NoRuleMatches_DeniesByDefaultDeny()
    {
        var decision = Engine(Rules(Rule("ls", 1, "{ command: ls }"))).Decide(Exec("rm", "x"), Context);

        Assert.Equal(DecisionKind.Deny, decision.Kind);
        Assert.Equal(Policy.DefaultDenyRule, decision.Rule);
        Assert.Contains("no policy rule matches", decision.Reason, StringComparison.Ordinal);
        Assert.Equal(Policy.DefaultDenyRule, decision.Explanation.DecidedBy);
    }

    [Fact]
    public void Decide_EmptyPolicy_DeniesEverything() =>
        Assert.Equal(DecisionKind.Deny, new PolicyEngine(Policy.Empty).Decide(Read("a"), Context).Kind);

    [Fact]
    public void Decide_HigherPriorityWins_WhateverTheFileOrder()
    {
        var policy = Load(Rules(
            Rule("low-allow", 10, "{ command: rm }"),
            Rule("high-deny", 20, "{ command: rm }", "deny")));

        var decision = new PolicyEngine(policy).Decide(Exec("rm", "x"), Context);

        Assert.Equal(["high-deny", "low-allow"], policy.RuleNames);
        Assert.Equal((DecisionKind.Deny, "high-deny", "because high-deny"), (decision.Kind, decision.Rule, decision.Reason));
    }

    [Fact]
    public void Decide_EqualPriorities_FileNameThenOrderInFile()
    {
        var result = PolicyLoader.Parse(
        [
            new PolicySource("policies/b.yaml", Rules(Rule("b-first", 5, "{}"), Rule("b-second", 5, "{}"))),
            new PolicySource("policies/a.yaml", Rules(Rule("a-second", 5, "{}", "deny"), Rule("a-first-by-order", 5, "{}"))),
        ]);

        Assert.Equal(["a-second", "a-first-by-order", "b-first", "b-second"], result.Policy!.RuleNames);
        Assert.Equal("a-second", new PolicyEngine(result.Policy).Decide(Read("a"), Context).Rule);
    }

    [Theory]
    [InlineData("allow", DecisionKind.Allow)]
    [InlineData("approve", DecisionKind.Pending)]
    [InlineData("deny", DecisionKind.Deny)]
    [InlineData("steer", DecisionKind.Steer)]
    public void Decide_TierBecomesDecision(string tier, DecisionKind kind)
    {
        var decision = Engine(Rules(Rule("r", 1, "{}", tier))).Decide(Read("a"), Context);

        Assert.Equal(kind, decision.Kind);
        Assert.Equal("r", decision.Rule);
        Assert.Equal(DecisionSource.Rule, decision.Explanation.Source);
        Assert.Equal(kind == DecisionKind.Allow ? null : "because r", decision.Reason);
    }

    [Fact]
    public void Decide_Steer_CarriesTheMessageAndRisk()
    {
        var engine = Engine("""
            rules:
              - name: no-sudo
                priority: 1
                match: { command: sudo }
                risk: high
                tier: steer
                message: run it without sudo
            """);

        var decision = engine.Decide(Exec("sudo", "ls"), Context);

        Assert.Equal((DecisionKind.Steer, "run it without sudo", RiskLevel.High), (decision.Kind, decision.Reason, decision.Risk));
    }

    [Fact]
    public void Decide_Explanation_ShowsTheInputsSeen()
    {
        var proposal = Read("../../etc/x");
        var decision = Engine(Rules(Rule("r", 1, "{ path: '**' }"))).Decide(proposal, Context);

        Assert.Same(proposal, decision.Explanation.Proposal);
        Assert.Same(Context, decision.Explanation.Context);
        Assert.Equal("/home/op/agents/etc/x", decision.Explanation.Proposal.FullPath);
        Assert.Null(decision.Explanation.Proposal.WorkspacePath);
    }

    [Fact]
    public void When_RuleAppliesOnlyIfTheConditionHolds()
    {
        var engine = Engine(Rules(
            Rule("office-hours", 10, "{ command: deploy }", extra: "when: { hours: \"09:00-17:00\", weekdays: [mon, tue, wed, thu, fri] }"),
            Rule("otherwise", 1, "{ command: deploy }", "deny")));

        Assert.Equal("office-hours", engine.Decide(Exec("deploy"), Context).Rule);
        Assert.Equal("otherwise", engine.Decide(Exec("deploy"), Context with { Now = Context.Now.AddHours(8) }).Rule);
        Assert.Equal("otherwise", engine.Decide(Exec("deploy"), Context with { Now = Context.Now.AddDays(3) }).Rule);
    }

    [Theory]
    [InlineData(23, true)]
    [InlineData(3, true)]
    [InlineData(6, false)]
    [InlineData(12, false)]
    public void When_HoursAcrossMidnight_Wrap(int hour, bool holds)
    {
        var engine = Engine(Rules(Rule("night", 1, "{}", extra: "when: { hours: \"22:00-06:00\" }")));
        var context = Context with { Now = new DateTimeOffset(2025, 1, 15, hour, 0, 0, TimeSpan.FromHours(2)) };

        Assert.Equal(holds ? "night" : Policy.DefaultDenyRule, engine.Decide(Read("a"), context).Rule);
    }

    [Fact]
    public void When_AllAnyNot_Combine()
    {
        var engine = Engine(Rules(Rule("tree", 1, "{ command: tool }", extra: """
            when:
              all:
                - session_count: { max: 10 }
                - any:
                    - arg: --dry-run
                    - arg_count: { max: 0 }
                - not: { arg: 're:^--force' }
            """)));

        Assert.Equal("tree", engine.Decide(Exec("tool"), Context).Rule);
        Assert.Equal("tree", engine.Decide(Exec("tool", "x", "--dry-run"), Context).Rule);
        Assert.Equal(Policy.DefaultDenyRule, engine.Decide(Exec("tool", "x"), Context).Rule);
        Assert.Equal(Policy.DefaultDenyRule, engine.Decide(Exec("tool", "--dry-run", "--force-all"), Context).Rule);
        Assert.Equal(Policy.DefaultDenyRule, engine.Decide(Exec("tool"), Context with { SessionProposalCount = 11 }).Rule);
    }

    [Fact]
    public void AutoApprove_TurnsApproveIntoAllow_WhenItHolds()
    {
        var engine = Engine(Rules(Rule("writes", 1, "{ kind: write_file, path: '**' }", "approve", "auto_approve: { path: 'src/**' }")));

        var inSrc = engine.Decide(Proposal.WriteFile(Coder, Workspace, "src/a.cs"), Context);
        var elsewhere = engine.Decide(Proposal.WriteFile(Coder, Workspace, "Makefile"), Context);

        Assert.Equal((DecisionKind.Allow, DecisionSource.Condition, "writes.auto_approve"), (inSrc.Kind, inSrc.Explanation.Source, inSrc.Explanation.DecidedBy));
        Assert.Equal("path src/**", inSrc.Explanation.Detail);
        Assert.Equal((DecisionKind.Pending, DecisionSource.Rule), (elsewhere.Kind, elsewhere.Explanation.Source));
    }

    [Fact]
    public void Escalate_TurnsAllowIntoPending_WhenItHolds()
    {
        var engine = Engine(Rules(Rule("find", 1, "{ command: find }", extra: "escalate: { any: [ { arg: -delete }, { session_count: { min: 100 } } ] }")));

        Assert.Equal(DecisionKind.Allow, engine.Decide(Exec("find", ".", "-name", "x"), Context).Kind);
        var delete = engine.Decide(Exec("find", ".", "-delete"), Context);
        Assert.Equal((DecisionKind.Pending, "find.escalate"), (delete.Kind, delete.Explanation.DecidedBy));
        Assert.Equal(DecisionKind.Pending, engine.Decide(Exec("find", "."), Context with { SessionProposalCount = 100 }).Kind);
    }
}
