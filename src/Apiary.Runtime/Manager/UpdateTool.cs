using Apiary.Contracts;

namespace Apiary.Runtime.Manager;

/// <summary>The <c>update</c> tool: an agent's definition reloaded from its files, an <c>update_agent</c> proposal.</summary>
internal sealed class UpdateTool(ManagerService manager) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
            ManagerTools.Update,
            "Reload an agent",
            "Managers only. Reload an agent's definition from its files (after they changed): checks that it loads and its prompt composes; its next run uses it. Idempotent; " +
            "the agent shows 'rebuilding' while it runs.",
            """
            {
              "type": "object",
              "properties": {
                "agent": { "type": "string", "description": "The agent to reload." }
              },
              "required": ["agent"],
              "additionalProperties": false
            }
            """);

    public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => ManagerTools.GuardAsync(async () =>
    {
        var args = call.Arguments("agent");
        return await manager.UpdateAsync(call, args.RequiredString("agent"), cancellationToken).ConfigureAwait(false);
    });
}
