namespace Apiary.Server.Tests;

/// <summary>The drafts of agents a manager may ask to spawn, written into its workspace as it would write them.</summary>
internal static class AgentDrafts
{
    /// <summary>
    /// Writes the draft of a worker that helps the manager (<c>AGENTS.md</c> and <c>SOUL.md</c>) into the manager's
    /// workspace of <paramref name="home"/> at <paramref name="draft"/> (such as <c>drafts/helper</c>): with ten
    /// commands and <paramref name="budget"/> besides, on <paramref name="model"/> (null: the home's default).
    /// </summary>
    public static void WriteHelper(string home, string draft, string budget, string? model = null)
    {
        var folder = Path.Combine(home, "agents", "manager", "workspace", draft);
        Directory.CreateDirectory(folder);
        var modelLine = model is null ? "" : $"model: {model}\n";
        File.WriteAllText(Path.Combine(folder, "AGENTS.md"), $"""
            ---
            description: Helps the manager
            role: worker
            {modelLine}allowed_recipients: [manager, operator]
            budget:
              commands: 10
              {budget}
            ---
            # How the helper works

            Do the task you are given and answer.

            """);
        File.WriteAllText(Path.Combine(folder, "SOUL.md"), "You help.\n");
    }
}
