using Apiary.Contracts;

namespace Apiary.Runtime.Manager;

/// <summary>The <c>start</c> tool: a run of an agent the manager manages, a <c>start_agent</c> proposal.</summary>
internal sealed class StartTool(ManagerService manager) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
            ManagerTools.Start,
            "Start an agent",
            "Managers only. Start a run of an agent you manage on a task; returns the run's id at once (the agent works in its own session). Use send/recv to talk to it.",
            """
            {
              "type": "object",
              "properties": {
                "agent": { "type": "string", "description": "The agent to start." },
                "task": { "type": "string", "description": "What it is to do, and what 'done' means." }
              },
              "required": ["agent", "task"],
              "additionalProperties": false
            }
            """);

    public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => ManagerTools.GuardAsync(async () =>
    {
        var args = call.Arguments("agent", "task");
        return await manager.StartAsync(call, args.RequiredString("agent"), args.RequiredString("task"), cancellationToken).ConfigureAwait(false);
    });
}
