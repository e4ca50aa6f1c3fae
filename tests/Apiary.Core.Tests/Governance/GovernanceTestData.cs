using Apiary.Agents;
using Apiary.Governance;

namespace Apiary.Tests.Governance;

internal static class GovernanceTestData
{
    public const string Workspace = "/home/op/agents/coder/workspace";

    public static readonly Principal Coder = new(AgentName.Parse("coder"), AgentRole.Worker, "s-1");

    public static readonly Principal Manager = new(AgentName.Parse("manager"), AgentRole.Manager, "s-2");

    // A Wednesday, 10:30 UTC.
    public static readonly PolicyContext Context = new(new DateTimeOffset(2025, 1, 15, 10, 30, 0, TimeSpan.Zero), 0);

    public static Proposal Exec(string command, params string[] args) => Proposal.Exec(Coder, Workspace, command, args);

    public static Proposal Read(string path) => Proposal.ReadFile(Coder, Workspace, path);

    public static Policy Load(string yaml, string file = "policies/test.yaml")
    {
        var result = PolicyLoader.Parse(file, yaml);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return result.Policy!;
    }

    public static PolicyEngine Engine(string yaml) => new(Load(yaml));

    /// <summary>One rule with the given match, tier and optional extra fields.</summary>
    public static string Rule(string name, int priority, string match, string tier = "allow", string extra = "") =>
        $"""
          - name: {name}
            priority: {priority}
            match: {match}
            risk: low
            tier: {tier}
            message: because {name}
        {Indent(extra)}
        """;

    public static string Rules(params string[] rules) => "rules:\n" + string.Join("\n", rules) + "\n";

    private static string Indent(string extra) =>
        string.Join("\n", extra.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "    " + l));
}
