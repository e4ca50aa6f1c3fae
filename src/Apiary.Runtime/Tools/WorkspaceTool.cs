namespace Apiary.Runtime;

/// <summary>
/// One of the four workspace tools (<c>exec</c>, <c>read_file</c>, <c>write_file</c>, <c>list_dir</c>), described as
/// <see cref="WorkspaceTools.Descriptors"/> describes it for every surface: each call a proposal run in the session's sandbox.
/// </summary>
internal sealed class WorkspaceTool(ToolDescriptor descriptor, RunService runs) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = descriptor;

    public Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => runs.CallWorkspaceToolAsync(call, cancellationToken);
}
