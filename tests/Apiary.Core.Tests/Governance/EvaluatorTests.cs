using Apiary.Governance;
using static Apiary.Tests.Governance.GovernanceTestData;
using Apiary.Testing;

namespace Apiary.Tests.Governance;

public sealed class EvaluatorTests
{
    private static readonly Policy AllowAll = Load(Rules(Rule("everything", 1, "{}")));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RegexEvaluator_MatchingArgument_Denies()
    {
        var engine = new PolicyEngine(AllowAll, [new RegexEvaluator("no-tokens", [@"ghp_[A-Za-z0-9]{8,}"])]);

        var denied = await engine.DecideAsync(Exec("echo", "ghp_abcdefgh1234"), Context, Ct);
        var passed = await engine.DecideAsync(Exec("echo", "hello"), Context, Ct);

        Assert.Equal((DecisionKind.Deny, DecisionSource.Evaluator, "no-tokens"), (denied.Kind, denied.Explanation.Source, denied.Explanation.DecidedBy));
        Assert.Contains("argument 1 matches", denied.Reason, StringComparison.Ordinal);
        Assert.Equal(DecisionKind.Allow, passed.Kind);
        Assert.Equal(EvaluatorVerdictKind.Pass, Assert.Single(passed.Explanation.Evaluators).Verdict.Kind);
    }

    [Fact]
    public async Task RegexEvaluator_CanEscalateInstead()
    {
        var engine = new PolicyEngine(AllowAll, [new RegexEvaluator("prod", ["prod"], EvaluatorVerdictKind.Escalate)]);

        Assert.Equal(DecisionKind.Pending, (await engine.DecideAsync(Read("prod/config"), Context, Ct)).Kind);
    }

    [Fact]
    public async Task ListEvaluator_DenyListAndAllowList()
    {
        var engine = new PolicyEngine(AllowAll,
        [
            new ListEvaluator("programs", ListField.Program, allow: ["ls", "git", "rm"], deny: ["rm"]),
            new ListEvaluator("recipients", ListField.Recipient, allow: ["coder", "tester-*"]),
        ]);

        Assert.Equal(DecisionKind.Allow, (await engine.DecideAsync(Exec("/usr/bin/ls"), Context, Ct)).Kind);
        var rm = await engine.DecideAsync(Exec("rm", "x"), Context, Ct);
        Assert.Equal("evaluator 'programs': program 'rm' is on the deny list", rm.Reason);
        Assert.Contains("not on the allow list", (await engine.DecideAsync(Exec("curl"), Context, Ct)).Reason, StringComparison.Ordinal);
        Assert.Equal(DecisionKind.Allow, (await engine.DecideAsync(Proposal.SendMessage(Manager, Workspace, "coder", "tester-2"), Context, Ct)).Kind);
        Assert.Equal(DecisionKind.Deny, (await engine.DecideAsync(Proposal.SendMessage(Manager, Workspace, "coder", "operator"), Context, Ct)).Kind);
    }

    [Fact]
    public async Task SecretLeakEvaluator_SecretInAnyArgument_DeniesWithoutNamingTheValue()
    {
        const string Secret = "sk-live-0123456789";
        var engine = new PolicyEngine(AllowAll, [new SecretLeakEvaluator(["", Secret])]);

        var inArg = await engine.DecideAsync(Exec("curl", "-H", $"Authorization: Bearer {Secret}"), Context, Ct);
        var inOther = await engine.DecideAsync(
            Proposal.Create(Coder, ProposalKind.HttpRequest, Workspace, new ProposalArguments { Other = new Dictionary<string, string> { ["url"] = $"https://x/?k={Secret}" } }),
            Context,
            Ct);
        var encoded = await engine.DecideAsync(Exec("echo", Convert.ToHexStringLower(System.Text.Encoding.UTF8.GetBytes(Secret))), Context, Ct);
        var clean = await engine.DecideAsync(Exec("curl", "https://example.com"), Context, Ct);

        Assert.Equal(DecisionKind.Deny, inArg.Kind);
        Assert.Equal("evaluator 'secret-leak': argument 2 contains the value of secret secret-1 (or an encoding of it); a command is given a secret by name, never its value", inArg.Reason);
        Assert.DoesNotContain(Secret, inArg.Reason, StringComparison.Ordinal);
        Assert.Equal(DecisionKind.Deny, inOther.Kind);
        Assert.Equal(DecisionKind.Deny, encoded.Kind);
        Assert.Equal(DecisionKind.Allow, clean.Kind);
    }

    [Fact]
    public async Task Evaluator_ThatThrows_Denies()
    {
        var engine = new PolicyEngine(AllowAll, [new Throwing(), new Passing()]);

        var decision = await engine.DecideAsync(Read("a"), Context, Ct);

        Assert.Equal(DecisionKind.Deny, decision.Kind);
        Assert.Equal("evaluator 'boom': evaluator 'boom' failed: InvalidOperationException: broken", decision.Reason);
        Assert.Equal(2, decision.Explanation.Evaluators.Count);
    }

    [Fact]
    public async Task Evaluator_ThatMissesTheDeadline_Denies_EvenIfItIgnoresCancellation()
    {
        var time = new ManualClock(Context.Now);
        var never = new TaskCompletionSource<EvaluatorVerdict>();
        var engine = new PolicyEngine(AllowAll, [new Stuck(never.Task), new Passing()], TimeSpan.FromMilliseconds(250), time);

        var pending = engine.DecideAsync(Read("a"), Context, Ct);
        Assert.False(pending.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(250));
        var decision = await pending;

        Assert.Equal(DecisionKind.Deny, decision.Kind);
        Assert.Equal("evaluator 'stuck': evaluator 'stuck' missed its deadline of 250 ms", decision.Reason);
        Assert.Equal("stuck", decision.Explanation.Evaluators[0].Evaluator);
    }

    [Fact]
    public async Task Evaluators_DoNotRun_WhenTheRulesDeny()
    {
        var engine = new PolicyEngine(Policy.Empty, [new Throwing()]);

        var decision = await engine.DecideAsync(Read("a"), Context, Ct);

        Assert.Equal(Policy.DefaultDenyRule, decision.Explanation.DecidedBy);
        Assert.Empty(decision.Explanation.Evaluators);
    }

    [Fact]
    public async Task DecideAsync_CallerCancels_Throws()
    {
        using var cancel = new CancellationTokenSource();
        var engine = new PolicyEngine(AllowAll, [new Stuck(new TaskCompletionSource<EvaluatorVerdict>().Task)]);

        var pending = engine.DecideAsync(Read("a"), Context, cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
    }

    private sealed class Throwing : IProposalEvaluator
    {
        public string Name => "boom";

        public ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("broken");
    }

    private sealed class Passing : IProposalEvaluator
    {
        public string Name => "pass";

        public ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(EvaluatorVerdict.Pass);
    }

    // Ignores its token on purpose: the engine must stop waiting anyway.
    private sealed class Stuck(Task<EvaluatorVerdict> verdict) : IProposalEvaluator
    {
        public string Name => "stuck";

        public ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default) => new(verdict);
    }
}
