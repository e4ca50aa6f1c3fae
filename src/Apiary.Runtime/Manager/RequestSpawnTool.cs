using Apiary.Contracts;

namespace Apiary.Runtime.Manager;

/// <summary>The <c>request_spawn</c> tool: a new agent (or a change to one the manager spawned) from a draft folder, a <c>spawn_agent</c> proposal.</summary>
internal sealed class RequestSpawnTool(ManagerService manager) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
            ManagerTools.RequestSpawn,
            "Ask for a new agent",
            "Managers only. Ask for a new agent (or a change to one you spawned) from a draft folder you prepared in your workspace: AGENTS.md with frontmatter, SOUL.md and any other files. " +
            "The draft may not widen what you have: its policies must be among yours, its allowed_recipients among yours (or you), its budget within a share of what your session has left, " +
            "its role worker. A person approves it after reading the diff of its files; then it is created in the home and you can start it.",
            """
            {
              "type": "object",
              "properties": {
                "name": { "type": "string", "description": "The new agent's name: lowercase letters, digits and dashes." },
                "from_draft": { "type": "string", "description": "The draft folder, relative to your workspace." }
              },
              "required": ["name", "from_draft"],
              "additionalProperties": false
            }
            """);

    public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => ManagerTools.GuardAsync(async () =>
    {
        var args = call.Arguments("name", "from_draft");
        return await manager.RequestSpawnAsync(call, args.RequiredString("name"), args.RequiredString("from_draft"), cancellationToken).ConfigureAwait(false);
    });
}
