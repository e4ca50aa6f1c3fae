using Apiary.Contracts;

namespace Apiary.Runtime.Manager;

/// <summary>The <c>stop</c> tool: every run of an agent the manager manages stopped, a <c>stop_agent</c> proposal.</summary>
internal sealed class StopTool(ManagerService manager) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
            ManagerTools.Stop,
            "Stop an agent",
            "Managers only. Stop every run of an agent you manage: the kill switch of each run's session is engaged, so a model call or a waiting approval ends at once.",
            """
            {
              "type": "object",
              "properties": {
                "agent": { "type": "string", "description": "The agent to stop." }
              },
              "required": ["agent"],
              "additionalProperties": false
            }
            """);

    public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => ManagerTools.GuardAsync(async () =>
    {
        var args = call.Arguments("agent");
        return await manager.StopAsync(call, args.RequiredString("agent"), cancellationToken).ConfigureAwait(false);
    });
}
