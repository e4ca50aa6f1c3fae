using System.Text.Json;
using ModelContextProtocol.Protocol;

namespace Apiary.Cli.Mcp;

/// <summary>
/// The tools <c>apiary mcp</c> offers an external agent: the external tools of the runtime's tool registry, described
/// from the same <see cref="WorkspaceTools.Descriptors"/> the registry registers (and <c>GET /api/tools</c> lists), so
/// an external agent and a run Apiary drives read the same names, descriptions and schemas. Each call becomes one
/// proposal of the agent's session, submitted to the server's governance pipeline and, when allowed, run in the
/// session's sandbox.
/// </summary>
internal static class McpTools
{
    /// <summary>The tools as <c>tools/list</c> describes them.</summary>
    public static IReadOnlyList<Tool> Definitions { get; } = [.. WorkspaceTools.Descriptors.Where(d => d.External).Select(Define)];

    /// <summary>
    /// The proposal a <c>tools/call</c> of <paramref name="name"/> asks for, or a message saying what is wrong with
    /// the arguments (for the model to correct).
    /// </summary>
    public static (ProposalRequest? Request, string? Problem) ToProposal(string name, IDictionary<string, JsonElement>? arguments) =>
        WorkspaceTools.ToProposal(name, arguments is null ? null : new Dictionary<string, JsonElement>(arguments, StringComparer.Ordinal));

    /// <summary>A registry tool as MCP describes it: its schema, and its hints as MCP's tool annotations.</summary>
    private static Tool Define(ToolDescriptor tool) => new()
    {
        Name = tool.Name,
        Description = tool.Description,
        InputSchema = tool.InputSchema,
        Annotations = new ToolAnnotations
        {
            Title = tool.Title,
            ReadOnlyHint = tool.ReadOnly,
            DestructiveHint = tool.ReadOnly ? null : tool.Destructive,
            IdempotentHint = tool.Idempotent ? true : null,
            OpenWorldHint = false,
        },
    };
}
