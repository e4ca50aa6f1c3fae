namespace Apiary.Runtime;

/// <summary>
/// One built-in tool of the runs Apiary drives: what the model is told of it (<see cref="Descriptor"/>) and what a
/// call does. Registered once in the <see cref="ToolRegistry"/>; every side effect a call has is a proposal through the
/// <see cref="GovernedExecutor"/>.
/// </summary>
internal interface IAgentTool
{
    ToolDescriptor Descriptor { get; }

    /// <summary>Carries out <paramref name="call"/>; what it returns is what the model is told, whatever governance decided.</summary>
    Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken);
}

/// <summary>One call of a tool by a run's model, in turn <paramref name="Turn"/>.</summary>
internal sealed record ToolCall(AgentRun Run, int Turn, FunctionCallContent Call, string ArgumentsJson)
{
    /// <summary>The call's arguments, refusing any <paramref name="tool"/>'s schema does not name.</summary>
    /// <exception cref="ArgumentException">An argument the tool does not have.</exception>
    public ToolArguments Arguments(ToolDescriptor tool) =>
        AgentTools.Arguments(Call, tool.InputSchema.GetProperty("properties").EnumerateObject().Select(p => p.Name));
}

/// <summary>What a call told the model and, when it was a proposal the run waited on, that proposal and its decision.</summary>
internal sealed record ToolOutcome(string Text, string? ProposalId = null, DecisionDto? Decision = null);

/// <summary>One argument of a built-in tool: its name, what it is (for the model), its JSON type and its bounds (length for a string, value for an integer).</summary>
internal sealed record ToolParameter(string Name, string Description, bool Required = false, string Type = "string", int? Minimum = null, int? Maximum = null);
