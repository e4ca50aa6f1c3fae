using Apiary.Contracts;

namespace Apiary.Runtime.Manager;

/// <summary>The <c>restart</c> tool: an agent's runs stopped and a new one started, a <c>restart_agent</c> proposal.</summary>
internal sealed class RestartTool(ManagerService manager) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
            ManagerTools.Restart,
            "Restart an agent",
            "Managers only. Stop an agent's runs and start it again on the task of its last start (or the task given).",
            """
            {
              "type": "object",
              "properties": {
                "agent": { "type": "string", "description": "The agent to restart." },
                "task": { "type": "string", "description": "The task of the new run. Default: the task you last started it with." }
              },
              "required": ["agent"],
              "additionalProperties": false
            }
            """);

    public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => ManagerTools.GuardAsync(async () =>
    {
        var args = call.Arguments("agent", "task");
        return await manager.RestartAsync(call, args.RequiredString("agent"), args.OptionalString("task"), cancellationToken).ConfigureAwait(false);
    });
}
