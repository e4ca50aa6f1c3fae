using System.Globalization;
using Apiary.Contracts;

namespace Apiary.Runtime.Memory;

/// <summary>The <c>remember</c> tool: a fact appended to the run's own agent's MEMORY.md, which its later runs read.</summary>
internal sealed class RememberTool(MemoryService memory) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
            MemoryTools.Remember,
            "Remember a fact",
            "Remember a durable fact for your later runs: the text is appended to your MEMORY.md, which every later run of yours reads in its prompt. " +
            "Keep it short and self-contained (what you learned, a decision, a preference). It is checked by governance policies like a write of MEMORY.md " +
            "and may be denied or wait for approval. When your memory grows long it is compacted: rewritten shorter by the model, the previous version kept.",
                $$"""
                {
                  "type": "object",
                  "properties": {
                    "text": { "type": "string", "minLength": 1, "maxLength": {{MemoryTools.MaxTextChars.ToString(CultureInfo.InvariantCulture)}}, "description": "The fact to remember, at most {{MemoryTools.MaxTextChars.ToString(CultureInfo.InvariantCulture)}} characters." }
                  },
                  "required": ["text"],
                  "additionalProperties": false
                }
                """);

    public async Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = call.Arguments("text").RequiredString("text");
        }
        catch (ArgumentException ex)
        {
            return new ToolOutcome($"error: {ex.Message}; nothing was written");
        }

        return new ToolOutcome(await memory.RememberAsync(call, text, cancellationToken).ConfigureAwait(false));
    }
}
