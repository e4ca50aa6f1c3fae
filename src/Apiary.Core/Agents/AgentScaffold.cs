namespace Apiary.Agents;

/// <summary>The starter files of a new agent, written by <c>apiary agents new</c>.</summary>
internal static class AgentScaffold
{
    public static IEnumerable<(string File, string Text)> Files(AgentName name, AgentRole role, string? description)
    {
        var roleText = role == AgentRole.Manager ? "manager" : "worker";
        var what = string.IsNullOrWhiteSpace(description)
            ? role == AgentRole.Manager ? "Splits work among workers and checks their results" : "Does the tasks it is given"
            : description.Trim();
        yield return ("AGENTS.md", $$"""
            ---
            # Settings of this agent. Fields left out take the home's defaults (apiary.yaml), then Apiary's.
            description: "{{what.Replace("\"", "'", StringComparison.Ordinal)}}"
            role: {{roleText}}
            # model: local/llama3.2            # endpoint/model, as named in models.yaml
            # tool_profile: coding
            # template: default                # a sandbox template in templates/
            # workspace: ~/projects/{{name}}   # default: agents/{{name}}/workspace
            # allowed_recipients: [operator]   # who it may message
            # budget: { commands: 100, wall_time: 30m, tokens: 200000, cost_usd: 1.00 }
            ---
            # {{name}}

            Describe here how {{name}} works: what it is responsible for, how it reports back, and what it must not do.
            This text (not the settings above) becomes the AGENTS section of its system prompt.

            """);
        yield return ("SOUL.md", $"""
            # Soul

            You are {name}, an agent run by Apiary. Be direct, careful and honest about what you did and did not do.

            """);
        yield return ("BOOTSTRAP.md", """
            # First run

            This is your first session. Look around your workspace and tell the operator, in a few lines, what
            you found and how you plan to work. This file is no longer shown to you once the session completes.

            """);
    }
}
