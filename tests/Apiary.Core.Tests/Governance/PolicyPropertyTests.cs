using System.Text;
using Apiary.Governance;
using FsCheck;
using FsCheck.Fluent;
using static Apiary.Tests.Governance.GovernanceTestData;

namespace Apiary.Tests.Governance;

/// <summary>Random rule sets against random proposals, checked against a small model of the documented semantics.</summary>
public sealed class PolicyPropertyTests
{
    private static readonly string[] TierNames = ["allow", "approve", "deny", "steer"];

    private static readonly Gen<RuleSpec> Rule =
        from kinds in Gen.Elements<string[]?>(null, ["exec"], ["read_file"], ["exec", "read_file"], ["write_file"])
        from command in Gen.Elements<string?>(null, null, "a", "b", "c")
        from argsPrefix in Gen.Elements<string?>(null, null, "x", "y", "-")
        from tier in Gen.Choose(0, 3)
        from priority in Gen.Choose(0, 4)
        from file in Gen.Elements("a.yaml", "b.yaml")
        select new RuleSpec(kinds, command, argsPrefix, (PolicyTier)tier, priority, file);

    private static readonly Gen<Proposal> Proposals = Gen.OneOf(
        from command in Gen.Elements("a", "b", "c", "d", "/usr/bin/a")
        from args in Gen.ArrayOf(Gen.Elements("x1", "y", "-f", "", "a b"))
        select Exec(command, args),
        from path in Gen.Elements("f", "../g", "/etc/h")
        select Read(path));

    private static readonly Gen<(RuleSpec[] Rules, Proposal Proposal)> Cases =
        from count in Gen.Choose(0, 12)
        from rules in Gen.ArrayOf(Rule, count)
        from proposal in Proposals
        select (rules, proposal);

    [Fact]
    public void Decide_DenyAboveEveryMatchingAllow_NeverAllows()
    {
        Prop.ForAll(Cases.ToArbitrary(), c =>
        {
            var decision = new PolicyEngine(Compile(c.Rules)).Decide(c.Proposal, Context);
            var matching = c.Rules.Where(r => r.Matches(c.Proposal)).ToArray();
            var topAllow = matching.Where(r => r.Tier == PolicyTier.Allow).Select(r => (int?)r.Priority).Max();
            var denyAbove = matching.Any(r => r.Tier == PolicyTier.Deny && (topAllow is null || r.Priority > topAllow));
            return !denyAbove || decision.Kind != DecisionKind.Allow;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Decide_NoMatchingRule_AlwaysDenies()
    {
        Prop.ForAll(Cases.ToArbitrary(), c =>
        {
            var decision = new PolicyEngine(Compile(c.Rules)).Decide(c.Proposal, Context);
            return c.Rules.Any(r => r.Matches(c.Proposal))
                || (decision.Kind == DecisionKind.Deny && decision.Rule == Policy.DefaultDenyRule);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Decide_IsTheFirstMatchByPriorityThenFileThenOrder()
    {
        Prop.ForAll(Cases.ToArbitrary(), c =>
        {
            var decision = new PolicyEngine(Compile(c.Rules)).Decide(c.Proposal, Context);
            var first = c.Rules
                .Select((r, i) => (Rule: r, Index: i))
                .Where(x => x.Rule.Matches(c.Proposal))
                .OrderByDescending(x => x.Rule.Priority)
                .ThenBy(x => x.Rule.File, StringComparer.Ordinal)
                .ThenBy(x => x.Index)
                .Select(x => (int?)x.Index)
                .FirstOrDefault();
            var expectedKind = first is { } index ? Expected(c.Rules[index].Tier) : DecisionKind.Deny;
            return decision.Rule == (first is { } i ? NameOf(i) : Policy.DefaultDenyRule) && decision.Kind == expectedKind;
        }).QuickCheckThrowOnFailure();
    }

    private static DecisionKind Expected(PolicyTier tier) => tier switch
    {
        PolicyTier.Allow => DecisionKind.Allow,
        PolicyTier.Approve => DecisionKind.Pending,
        PolicyTier.Deny => DecisionKind.Deny,
        _ => DecisionKind.Steer,
    };

    private static string NameOf(int index) => $"r{index}";

    private static Policy Compile(RuleSpec[] rules)
    {
        var files = new Dictionary<string, StringBuilder>(StringComparer.Ordinal);
        for (var i = 0; i < rules.Length; i++)
        {
            var rule = rules[i];
            var text = files.TryGetValue(rule.File, out var existing) ? existing : files[rule.File] = new StringBuilder("rules:\n");
            var match = new List<string>();
            if (rule.Kinds is { } kinds)
            {
                match.Add($"kind: [{string.Join(", ", kinds)}]");
            }

            if (rule.Command is { } command)
            {
                match.Add($"command: {command}");
            }

            if (rule.ArgsPrefix is { } prefix)
            {
                match.Add($"args: '{prefix}*'");
            }

            text.Append(GovernanceTestData.Rule(NameOf(i), rule.Priority, "{ " + string.Join(", ", match) + " }", TierNames[(int)rule.Tier])).Append('\n');
        }

        var result = PolicyLoader.Parse(files.Select(f => new PolicySource(f.Key, f.Value.ToString())));
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return result.Policy!;
    }

    internal sealed record RuleSpec(string[]? Kinds, string? Command, string? ArgsPrefix, PolicyTier Tier, int Priority, string File)
    {
        // The documented semantics, written independently of the engine.
        public bool Matches(Proposal proposal)
        {
            var kind = proposal.Kind == ProposalKind.Exec ? "exec" : "read_file";
            var program = proposal.Arguments.Command?.Replace("/usr/bin/", "", StringComparison.Ordinal);
            return (Kinds is null || Kinds.Contains(kind))
                && (Command is null || program == Command)
                && (ArgsPrefix is null || (kind == "exec" && proposal.ArgumentLine.StartsWith(ArgsPrefix, StringComparison.Ordinal)));
        }
    }
}
