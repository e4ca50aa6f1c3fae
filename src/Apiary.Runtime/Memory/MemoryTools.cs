using System.Text;

namespace Apiary.Runtime.Memory;

/// <summary>
/// The <c>remember</c> tool an agent run offers its model: it appends a fact to the agent's own <c>MEMORY.md</c>, which
/// later runs read in their prompt. Each call is governed like a <c>write_file</c> of <c>MEMORY.md</c> (see
/// docs/agents.md, "Memory"); the file is the run's own agent's, never another's.
/// </summary>
internal static class MemoryTools
{
    /// <summary>The file of the agent's folder the tool appends to.</summary>
    public const string MemoryFile = "MEMORY.md";

    /// <summary>The most characters one remembered text may have.</summary>
    public const int MaxTextChars = 4_000;

    /// <summary>The memory entry <paramref name="text"/> becomes: a list item with the UTC date, continuation lines indented under it.</summary>
    public static string Entry(string text, DateTimeOffset at)
    {
        var lines = text.Trim().ReplaceLineEndings("\n").Split('\n');
        var entry = new StringBuilder();
        entry.Append(CultureInfo.InvariantCulture, $"- [{at.UtcDateTime:yyyy-MM-dd}] ").Append(lines[0].TrimEnd()).Append('\n');
        foreach (var line in lines.Skip(1))
        {
            entry.Append(line.Length == 0 ? "" : "  ").Append(line.TrimEnd()).Append('\n');
        }

        return entry.ToString();
    }

    /// <summary>The instruction the model is given to compact a memory of <paramref name="chars"/> characters.</summary>
    public static string CompactionInstruction(int chars, int compactAt) =>
        "You maintain the long-term memory of an AI agent: a Markdown file that every later run of the agent reads in its prompt. " +
        string.Create(CultureInfo.InvariantCulture, $"It has grown to {chars} characters; rewrite it to well under {compactAt / 2} characters. ") +
        "Keep every durable fact (decisions, preferences, names, paths, commands, lessons learned); merge duplicates, drop what a later entry replaced, " +
        "and drop chatter. Keep it a Markdown list, newest facts last. Reply with the new file's content only: no preamble, no code fence.";
}

/// <summary>The <c>remember</c> tool: a fact appended to the run's own agent's MEMORY.md, which its later runs read.</summary>
internal sealed class RememberTool(MemoryService memory) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
        "remember",
        "Remember a fact",
        "Remember a durable fact for your later runs: the text is appended to your MEMORY.md, which every later run of yours reads in its prompt. " +
        "Keep it short and self-contained (what you learned, a decision, a preference). It is checked by governance policies like a write of MEMORY.md " +
        "and may be denied or wait for approval. When your memory grows long it is compacted: rewritten shorter by the model, the previous version kept.",
        [new("text", $"The fact to remember, at most {MemoryTools.MaxTextChars.ToString(CultureInfo.InvariantCulture)} characters.", Required: true, Minimum: 1, Maximum: MemoryTools.MaxTextChars)]);

    public async Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = call.Arguments(Descriptor).RequiredString("text");
        }
        catch (ArgumentException ex)
        {
            return new ToolOutcome($"error: {ex.Message}; nothing was written");
        }

        return new ToolOutcome(await memory.RememberAsync(call, text, cancellationToken).ConfigureAwait(false));
    }
}
