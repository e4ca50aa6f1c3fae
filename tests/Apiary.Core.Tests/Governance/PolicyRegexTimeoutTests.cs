using Apiary.Governance;
using static Apiary.Tests.Governance.GovernanceTestData;

namespace Apiary.Tests.Governance;

/// <summary>Attacks on decisions through catastrophic regular expressions: none stalls a decision, none allows.</summary>
public sealed class PolicyRegexTimeoutTests
{
    // 42 'a' and a '!': exponential work for a backtracking engine on (a+)+ followed by something that fails.
    private static readonly string Catastrophic = new string('a', 42) + "!";

    // A lookbehind needs the backtracking engine, so this pattern runs there, bounded only by its timeout.
    private const string BacktrackingPolicy = """
        rules:
          - name: allow-echo-catastrophic
            priority: 10
            match: { kind: exec, command: echo, args: 're:^(a+)+$(?<=a)' }
            risk: low
            tier: allow
          - name: allow-reads
            priority: 5
            match: { kind: read_file, path: '**' }
            risk: low
            tier: allow
          - name: allow-cat
            priority: 20
            match: { kind: exec, command: cat }
            risk: low
            tier: allow
        """;

    [Fact]
    public void Decide_CatastrophicBacktrackingPattern_DeniesNamingTheRuleFileAndTimeout()
    {
        var engine = new PolicyEngine(Load(BacktrackingPolicy, "policies/evil.yaml"));

        var decision = engine.Decide(Exec("echo", Catastrophic), Context);

        Assert.Equal(DecisionKind.Deny, decision.Kind);
        Assert.Equal("allow-echo-catastrophic", decision.Rule);
        Assert.Contains("rule 'allow-echo-catastrophic' (policies/evil.yaml:2:5)", decision.Reason, StringComparison.Ordinal);
        Assert.Contains("timed out", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DecideAsync_CatastrophicBacktrackingPattern_DeniesAndNeverAllows()
    {
        var engine = new PolicyEngine(Load(BacktrackingPolicy, "policies/evil.yaml"), [new AllowingEvaluator()]);

        var decision = await engine.DecideAsync(Exec("echo", Catastrophic), Context, TestContext.Current.CancellationToken);

        Assert.Equal(DecisionKind.Deny, decision.Kind);
        Assert.Contains("timed out", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_CatastrophicPattern_OtherDecisionsAreNotBlocked()
    {
        var engine = new PolicyEngine(Load(BacktrackingPolicy, "policies/evil.yaml"));

        // Decided by a rule tried before the catastrophic one, and by one its kind keeps it from reaching.
        var cat = engine.Decide(Exec("cat", Catastrophic), Context);
        var read = engine.Decide(Read("src/a.txt"), Context);
        var echo = engine.Decide(Exec("echo", "aaaa"), Context);

        Assert.Equal((DecisionKind.Allow, "allow-cat"), (cat.Kind, cat.Rule));
        Assert.Equal((DecisionKind.Allow, "allow-reads"), (read.Kind, read.Rule));
        Assert.Equal((DecisionKind.Allow, "allow-echo-catastrophic"), (echo.Kind, echo.Rule));
    }

    [Fact]
    public async Task Decide_CatastrophicPatternOnOneThread_DecisionsOnAnotherComplete()
    {
        var engine = new PolicyEngine(Load(BacktrackingPolicy, "policies/evil.yaml"));

        var stalled = Task.Run(() => engine.Decide(Exec("echo", Catastrophic), Context), TestContext.Current.CancellationToken);
        var other = await Task.Run(() => engine.Decide(Read("src/a.txt"), Context), TestContext.Current.CancellationToken);

        Assert.Equal(DecisionKind.Allow, other.Kind);
        Assert.Equal(DecisionKind.Deny, (await stalled).Kind);
    }

    [Theory]
    [InlineData("'re:(a+)+$'", DecisionKind.Deny, Policy.DefaultDenyRule)]
    [InlineData("'re:^(a|a)*$'", DecisionKind.Deny, Policy.DefaultDenyRule)]
    [InlineData("'re:(.*a){20}'", DecisionKind.Allow, "allow-echo")]
    public void Decide_CatastrophicShapeTheLinearEngineRuns_DecidesByTheRules(string pattern, DecisionKind kind, string rule)
    {
        // Without backreferences or lookarounds the pattern runs on the non-backtracking engine: no blow-up, no timeout.
        var engine = new PolicyEngine(Load(Rules(Rule("allow-echo", 10, $"{{ kind: exec, command: echo, args: {pattern} }}"))));

        var decision = engine.Decide(Exec("echo", Catastrophic), Context);

        Assert.Equal((kind, rule), (decision.Kind, decision.Rule));
        Assert.DoesNotContain("timed out", decision.Reason ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListEvaluator_CatastrophicPattern_DeniesWithTheTimeout()
    {
        var allowAll = Load(Rules(Rule("all", 1, "{}")));
        var engine = new PolicyEngine(allowAll, [new ListEvaluator("programs", ListField.Program, allow: ["re:^(a+)+$(?<=a)"])]);

        var decision = await engine.DecideAsync(Exec(Catastrophic), Context, TestContext.Current.CancellationToken);

        Assert.Equal(DecisionKind.Deny, decision.Kind);
        Assert.Contains("timed out", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RegexEvaluator_LookaroundPattern_IsRefusedWhenBuilt()
    {
        // The evaluator runs only the linear engine: a pattern that needs backtracking is refused, not run unbounded.
        Assert.Throws<NotSupportedException>(() => new RegexEvaluator("r", ["(a+)+$(?<=a)"]));
        var engine = new PolicyEngine(Load(Rules(Rule("all", 1, "{}"))), [new RegexEvaluator("r", ["(a+)+$"])]);

        var decision = await engine.DecideAsync(Exec("echo", Catastrophic), Context, TestContext.Current.CancellationToken);

        Assert.Equal(DecisionKind.Allow, decision.Kind);
    }

    private sealed class AllowingEvaluator : IProposalEvaluator
    {
        public string Name => "allowing";

        public ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(EvaluatorVerdict.Pass);
    }
}
