using Apiary.Governance;
using static Apiary.Tests.Governance.GovernanceTestData;

namespace Apiary.Tests.Governance;

/// <summary>
/// The control plane's own proposals and checks: the control-plane kinds (a model call; starting, stopping, restarting
/// or updating an agent) are matched only by rules that name them and otherwise allowed by the built-in rule
/// <c>control-plane</c>; a worker acting as a manager is refused by the built-in rule <c>manager-role</c> whatever the
/// policies say; a control-plane check runs before the rules and its deny is final.
/// </summary>
public sealed class ControlPlaneGovernanceTests
{
    [Theory]
    [InlineData(ProposalKind.ModelCall, "model_call")]
    [InlineData(ProposalKind.StartAgent, "start_agent")]
    [InlineData(ProposalKind.StopAgent, "stop_agent")]
    [InlineData(ProposalKind.RestartAgent, "restart_agent")]
    [InlineData(ProposalKind.UpdateAgent, "update_agent")]
    public void ControlPlaneKinds_HaveTheirPolicyNames_AndParseBack(ProposalKind kind, string name)
    {
        Assert.Equal(name, kind.Name());
        Assert.True(ProposalKinds.TryParse(name, out var parsed));
        Assert.Equal(kind, parsed);
        Assert.True(kind.IsControlPlane());
        Assert.False(ProposalKind.SendMessage.IsControlPlane());
    }

    [Fact]
    public void ModelCall_NoRuleNamesIt_AllowedByTheBuiltInRule_EvenUnderACatchAllDeny()
    {
        var engine = Engine(Rules(Rule("deny-the-rest", 1, "{}", "deny")));

        var model = engine.Decide(Control(Manager, ProposalKind.ModelCall, "model", "local/qwen"), Context);
        var read = engine.Decide(Read("a"), Context);

        Assert.Equal((DecisionKind.Allow, Policy.ControlPlaneRule), (model.Kind, model.Rule));
        Assert.Equal(Policy.ControlPlaneRule, model.Explanation.DecidedBy);
        Assert.Equal((DecisionKind.Deny, "deny-the-rest"), (read.Kind, read.Rule));
    }

    [Fact]
    public void ModelCall_ARuleNamingItsKind_DecidesIt()
    {
        var engine = Engine(Rules(Rule("models-need-a-person", 5, "{ kind: model_call }", "approve")));

        var decision = engine.Decide(Control(Coder, ProposalKind.ModelCall, "model", "hosted/big"), Context);

        Assert.Equal((DecisionKind.Pending, "models-need-a-person"), (decision.Kind, decision.Rule));
    }

    [Theory]
    [InlineData(ProposalKind.SpawnAgent)]
    [InlineData(ProposalKind.StartAgent)]
    [InlineData(ProposalKind.StopAgent)]
    [InlineData(ProposalKind.RestartAgent)]
    [InlineData(ProposalKind.UpdateAgent)]
    public void WorkerActingAsAManager_DeniedByManagerRole_EvenWhenARuleAllowsIt(ProposalKind kind)
    {
        var engine = Engine(Rules(Rule("allow-everything", 100, $"{{ kind: {kind.Name()} }}")));

        var worker = engine.Decide(Control(Coder, kind, "agent", "tester"), Context);
        var manager = engine.Decide(Control(Manager, kind, "agent", "tester"), Context);

        Assert.Equal((DecisionKind.Deny, PolicyEngine.ManagerRoleRule), (worker.Kind, worker.Rule));
        Assert.Contains("is a manager's action and agent 'coder' is a worker", worker.Reason, StringComparison.Ordinal);
        Assert.Equal(PolicyEngine.ManagerRoleRule, worker.Explanation.DecidedBy);
        Assert.Equal((DecisionKind.Allow, "allow-everything"), (manager.Kind, manager.Rule));
    }

    [Fact]
    public async Task ControlPlaneCheck_DeniesBeforeARuleThatWouldAllow_AndIsExplained()
    {
        var engine = new PolicyEngine(Load(Rules(Rule("messages", 5, "{ kind: send_message }"))), [new OnlyTo("manager")]);

        var refused = await engine.DecideAsync(Proposal.SendMessage(Coder, Workspace, "tester"), Context, TestContext.Current.CancellationToken);
        var allowed = await engine.DecideAsync(Proposal.SendMessage(Coder, Workspace, "manager"), Context, TestContext.Current.CancellationToken);

        Assert.Equal((DecisionKind.Deny, "only-to", "coder may message only manager"), (refused.Kind, refused.Rule, refused.Reason));
        Assert.Equal((DecisionSource.Evaluator, "only-to"), (refused.Explanation.Source, refused.Explanation.DecidedBy));
        Assert.Equal((DecisionKind.Allow, "messages"), (allowed.Kind, allowed.Rule));
    }

    [Fact]
    public async Task ControlPlaneCheck_DeniesEvenWhenTheRulesWouldDenyAnyway_SoTheRecordNamesTheCheck()
    {
        var engine = new PolicyEngine(Load(Rules(Rule("no-messages", 5, "{ kind: send_message }", "deny"))), [new OnlyTo("manager")]);

        var refused = await engine.DecideAsync(Proposal.SendMessage(Coder, Workspace, "tester"), Context, TestContext.Current.CancellationToken);

        Assert.Equal("only-to", refused.Explanation.DecidedBy);
    }

    private static Proposal Control(Principal principal, ProposalKind kind, string key, string value) =>
        Proposal.Create(principal, kind, Workspace, new ProposalArguments { Other = new Dictionary<string, string>(StringComparer.Ordinal) { [key] = value } });

    /// <summary>A check that lets an agent message only <paramref name="recipient"/>.</summary>
    private sealed class OnlyTo(string recipient) : IControlPlaneCheck
    {
        public string Name => "only-to";

        public ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(proposal.Arguments.Recipients.All(r => r == recipient)
                ? EvaluatorVerdict.Pass
                : EvaluatorVerdict.Deny($"{proposal.Principal.Agent} may message only {recipient}"));
    }
}
