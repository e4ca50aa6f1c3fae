namespace Apiary.Server.Tests;

/// <summary>
/// Attack: a policy pattern that backtracks catastrophically, fed the argument that triggers it through the API. Its
/// proposal is denied (never allowed) naming the rule and the timeout, and a proposal of another session sent at the
/// same time is decided as usual: one pattern cannot stall the decisions of others.
/// </summary>
public sealed class RegexStallAttackTests
{
    [Fact]
    public async Task Attack_CatastrophicPolicyPattern_ItsProposalIsDenied_AndAnotherSessionsIsDecidedMeanwhile()
    {
        await using var t = await TestServer.StartWithPolicyAsync("stall.yaml", AttackPolicies.CatastrophicRegex);
        var attacker = (await t.OpenSessionAsync()).Session.Id;
        var bystander = (await t.OpenSessionAsync()).Session.Id;

        var attack = t.ProposeAsync(attacker, new ProposalRequest("exec", Command: "echo", Args: [AttackPolicies.CatastrophicArgument]));
        var other = t.ProposeAsync(bystander, new ProposalRequest("exec", Command: "echo", Args: ["still decided"]));
        var (denied, decided) = (await attack, await other);

        Assert.Equal("denied", denied.Status);
        Assert.Contains("rule 'allow-echo-catastrophic'", denied.Decision.Reason, StringComparison.Ordinal);
        Assert.Contains("timed out", denied.Decision.Reason, StringComparison.Ordinal);
        Assert.Equal("completed", decided.Status);
        Assert.Equal("still decided\n", decided.Result!.Stdout);
    }
}
