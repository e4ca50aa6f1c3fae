using System.Text;
using System.Text.Json;
using Apiary.Configuration;
using Apiary.Governance;
using Apiary.Governance.Pipeline;
using Apiary.Testing;

namespace Apiary.Tests.Governance.Pipeline;

/// <summary>Every decision names the version of the policy set that decided it, and a policy can be replaced while the pipeline runs.</summary>
public sealed class PolicyVersionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void VersionOf_SameFilesInAnyOrder_IsTheSameAndChangesWithAnyByte()
    {
        PolicySource a = new("policies/a.yaml", "rules: []\n"), b = new("policies/b.yaml", "rules: []\n");

        var version = PolicyLoader.VersionOf([a, b]);

        Assert.Equal(64, version.Length);
        Assert.Equal(version, PolicyLoader.VersionOf([b, a]));
        Assert.NotEqual(version, PolicyLoader.VersionOf([a, b with { Yaml = "rules: [] \n" }]));
        Assert.NotEqual(version, PolicyLoader.VersionOf([a, b with { File = "policies/c.yaml" }]));
        Assert.NotEqual(PolicyLoader.VersionOf([new("ab", "c")]), PolicyLoader.VersionOf([new("a", "bc")]));
    }

    [Fact]
    public void LoadDirectory_RealFiles_PolicyCarriesTheVersionOfItsFiles()
    {
        using var dir = new TempDirectory("apiary-policy-version");
        var policies = Directory.CreateDirectory(dir["policies"]).FullName;
        File.WriteAllText(Path.Combine(policies, "default.yaml"), PipelineFixture.Policy);
        File.WriteAllText(Path.Combine(policies, "notes.txt"), "not a policy");

        var loaded = PolicyLoader.LoadDirectory(policies);

        Assert.True(loaded.Succeeded);
        Assert.Equal(ContentHash.Of([("policies/default.yaml", PipelineFixture.Policy)]), loaded.Policy!.Version);
        Assert.Equal(PolicyLoader.VersionOf(PolicyLoader.ReadDirectory(policies)!), loaded.Policy.Version);
    }

    [Fact]
    public async Task SubmitAsync_DecisionRecord_CarriesThePolicyVersionAndChangesWhenThePolicyIsReplaced()
    {
        await using var f = await PipelineFixture.CreateAsync();
        var first = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct);
        var original = f.Pipeline.Engine.Policy.Version;

        var replaced = PolicyLoader.Parse("policies/default.yaml", GovernanceTestData.Rules(GovernanceTestData.Rule("deny-ls", 100, "{ kind: exec, command: ls }", tier: "deny"))).Policy!;
        f.Pipeline.Engine.Use(replaced);
        var second = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct);

        Assert.NotNull(original);
        Assert.True(first.IsAllowed);
        Assert.Equal(original, first.Decision.PolicyVersion);
        Assert.Equal(original, (await f.Pipeline.ExplainAsync(first.Decision.Explanation.Proposal.Id, Ct))!.PolicyVersion);
        Assert.Equal(DecisionKind.Deny, second.Decision.Kind);
        Assert.Equal("deny-ls", second.Decision.Rule);
        Assert.Equal(replaced.Version, (await f.Pipeline.ExplainAsync(second.Decision.Explanation.Proposal.Id, Ct))!.PolicyVersion);
        Assert.NotEqual(original, replaced.Version);
        var decided = (await f.StreamAsync("session-s-1")).Where(e => e.Type == PipelineEventTypes.ProposalDecided).ToList();
        Assert.Equal([original, replaced.Version], decided.Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("policy_version").GetString()));
    }

    [Fact]
    public async Task SubmitAsync_KillSwitchDecision_CarriesThePolicyInForce()
    {
        await using var f = await PipelineFixture.CreateAsync();
        f.KillSwitch.Engage(Apiary.Governance.KillSwitches.KillSwitchScope.Session("s-1"), "stop", "operator");

        var result = await f.Pipeline.SubmitAsync(PipelineFixture.Exec("s-1", "ls"), PipelineFixture.OneCommand, Ct);

        Assert.Equal(f.Pipeline.Engine.Policy.Version, (await f.Pipeline.ExplainAsync(result.Decision.Explanation.Proposal.Id, Ct))!.PolicyVersion);
    }

    [Fact]
    public void ReadDecision_RecordOfAnEarlierVersion_HasNoPolicyVersion()
    {
        // A proposal.decided written before decisions named their policy: every field but policy_version.
        const string old = """
            {"proposal_id":"0123456789abcdef0123456789abcdef","hash":"h","decision":"allow","stage":"policy","rule":"allow-ls","risk":"low",
             "source":"rule","decided_by":"allow-ls","inputs":{"kind":"exec","agent":"coder","role":"worker","session":"s-1","workspace":"/w",
             "args":[],"argument_line":"","recipients":[],"other":{},"now":"2025-01-15T10:30:00+00:00","session_proposal_count":0},"evaluators":[]}
            """;
        var e = new Apiary.Events.RecordedEvent(1, "session-s-1", 1, PipelineEventTypes.ProposalDecided, DateTimeOffset.UnixEpoch, Encoding.UTF8.GetBytes(old), null, new byte[32], new byte[32], new byte[32]);

        var record = PipelineRecords.ReadDecision(e);

        Assert.Equal("allow-ls", record.Rule);
        Assert.Null(record.PolicyVersion);
    }
}
