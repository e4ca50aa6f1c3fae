namespace Apiary.Runtime.Manager;

/// <summary>
/// The tools only a manager may use: <c>request_spawn</c> (a new agent from a draft folder, approved by a person with
/// the diff of its files), <c>start</c>, <c>stop</c>, <c>restart</c> and <c>update</c>. They are declared to every run;
/// the control plane refuses them to an agent whose role is not <c>manager</c>.
/// </summary>
internal static class ManagerTools
{
    /// <summary>Runs a manager tool's <paramref name="work"/>; arguments the model got wrong and refusals become what it is told.</summary>
    public static async Task<ToolOutcome> GuardAsync(Func<Task<string>> work)
    {
        try
        {
            return new ToolOutcome(await work().ConfigureAwait(false));
        }
        catch (Exception ex) when (ex is ArgumentException or RequestRefusedException)
        {
            return new ToolOutcome($"error: {ex.Message}; nothing was done");
        }
    }
}

/// <summary>The <c>request_spawn</c> tool: a new agent (or a change to one the manager spawned) from a draft folder, a <c>spawn_agent</c> proposal.</summary>
internal sealed class RequestSpawnTool(ManagerService manager) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
        "request_spawn",
        "Ask for a new agent",
        "Managers only. Ask for a new agent (or a change to one you spawned) from a draft folder you prepared in your workspace: AGENTS.md with frontmatter, SOUL.md and any other files. " +
        "The draft may not widen what you have: its allowed_recipients among yours (or you), its budget within a share of what your session has left, " +
        "its role worker. A person approves it after reading the diff of its files; then it is created in the home and you can start it.",
        [new("name", "The new agent's name: lowercase letters, digits and dashes.", Required: true), new("from_draft", "The draft folder, relative to your workspace.", Required: true)]);

    public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => ManagerTools.GuardAsync(() =>
    {
        var args = call.Arguments(Descriptor);
        return manager.RequestSpawnAsync(call, args.RequiredString("name"), args.RequiredString("from_draft"), cancellationToken);
    });
}

/// <summary>The <c>start</c> tool: a run of an agent the manager manages, a <c>start_agent</c> proposal.</summary>
internal sealed class StartTool(ManagerService manager) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
        "start",
        "Start an agent",
        "Managers only. Start a run of an agent you manage on a task; returns the run's id at once (the agent works in its own session). Use send/recv to talk to it.",
        [new("agent", "The agent to start.", Required: true), new("task", "What it is to do, and what 'done' means.", Required: true)]);

    public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => ManagerTools.GuardAsync(() =>
    {
        var args = call.Arguments(Descriptor);
        return manager.StartAsync(call, args.RequiredString("agent"), args.RequiredString("task"), cancellationToken);
    });
}

/// <summary>The <c>stop</c> tool: every run of an agent the manager manages stopped, a <c>stop_agent</c> proposal.</summary>
internal sealed class StopTool(ManagerService manager) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
        "stop",
        "Stop an agent",
        "Managers only. Stop every run of an agent you manage: the kill switch of each run's session is engaged, so a model call or a waiting approval ends at once.",
        [new("agent", "The agent to stop.", Required: true)]);

    public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) =>
        ManagerTools.GuardAsync(() => manager.StopAsync(call, call.Arguments(Descriptor).RequiredString("agent"), cancellationToken));
}

/// <summary>The <c>restart</c> tool: an agent's runs stopped and a new one started, a <c>restart_agent</c> proposal.</summary>
internal sealed class RestartTool(ManagerService manager) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
        "restart",
        "Restart an agent",
        "Managers only. Stop an agent's runs and start it again on the task of its last start (or the task given).",
        [new("agent", "The agent to restart.", Required: true), new("task", "The task of the new run. Default: the task you last started it with.")]);

    public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => ManagerTools.GuardAsync(() =>
    {
        var args = call.Arguments(Descriptor);
        return manager.RestartAsync(call, args.RequiredString("agent"), args.OptionalString("task"), cancellationToken);
    });
}

/// <summary>The <c>update</c> tool: an agent's definition reloaded from its files, an <c>update_agent</c> proposal.</summary>
internal sealed class UpdateTool(ManagerService manager) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
        "update",
        "Reload an agent",
        "Managers only. Reload an agent's definition from its files (after they changed): checks that it loads and its prompt composes; its next run uses it. Idempotent; " +
        "the agent shows 'rebuilding' while it runs.",
        [new("agent", "The agent to reload.", Required: true)]);

    public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) =>
        ManagerTools.GuardAsync(() => manager.UpdateAsync(call, call.Arguments(Descriptor).RequiredString("agent"), cancellationToken));
}
