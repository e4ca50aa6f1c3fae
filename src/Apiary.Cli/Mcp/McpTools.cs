using System.Text.Json;
using Apiary.Client;
using Apiary.Contracts;
using ModelContextProtocol.Protocol;

namespace Apiary.Cli.Mcp;

/// <summary>
/// The tools <c>apiary mcp</c> offers an external agent. Each call becomes one proposal of the agent's session,
/// submitted to the server's governance pipeline and, when allowed, run in the session's sandbox.
/// </summary>
internal static class McpTools
{
    public const string Exec = WorkspaceTools.Exec;
    public const string ReadFile = WorkspaceTools.ReadFile;
    public const string WriteFile = WorkspaceTools.WriteFile;
    public const string ListDir = WorkspaceTools.ListDir;

    /// <summary>The tools as <c>tools/list</c> describes them.</summary>
    public static IReadOnlyList<Tool> Definitions { get; } =
    [
        Define(
            Exec,
            "Run a program in this agent's Apiary sandbox, in its workspace. The program runs directly, not through a shell: " +
            "give the program as 'command' and each argument as one item of 'args' (to use shell syntax, run 'sh' with args ['-c', '...']). " +
            "Every call is checked by Apiary's governance policies first: it may be denied (the result says why and the command did not run) " +
            "or wait for a person's approval (the result gives the ticket id). An allowed call returns the exit code, stdout and stderr.",
            new ToolAnnotations { Title = "Run a command (governed, sandboxed)", ReadOnlyHint = false, DestructiveHint = true, OpenWorldHint = false }),
        Define(
            ReadFile,
            "Read a UTF-8 text file of this agent's workspace. Paths are relative to the workspace; paths outside it are refused. Governed like every Apiary tool.",
            new ToolAnnotations { Title = "Read a file", ReadOnlyHint = true, OpenWorldHint = false }),
        Define(
            WriteFile,
            "Write a UTF-8 text file in this agent's workspace, replacing it if it exists. Paths are relative to the workspace; paths outside it are refused. Governed like every Apiary tool.",
            new ToolAnnotations { Title = "Write a file", ReadOnlyHint = false, DestructiveHint = true, IdempotentHint = true, OpenWorldHint = false }),
        Define(
            ListDir,
            "List a folder of this agent's workspace: each entry's name, type (file, dir, symlink, other) and size. Paths are relative to the workspace; paths outside it are refused.",
            new ToolAnnotations { Title = "List a folder", ReadOnlyHint = true, OpenWorldHint = false }),
    ];

    /// <summary>
    /// The proposal a <c>tools/call</c> of <paramref name="name"/> asks for, or a message saying what is wrong with
    /// the arguments (for the model to correct).
    /// </summary>
    public static (ProposalRequest? Request, string? Problem) ToProposal(string name, IDictionary<string, JsonElement>? arguments) =>
        WorkspaceTools.ToProposal(name, arguments is null ? null : new Dictionary<string, JsonElement>(arguments, StringComparer.Ordinal));

    private static Tool Define(string name, string description, ToolAnnotations annotations) => new()
    {
        Name = name,
        Description = description,
        InputSchema = WorkspaceTools.Schema(name),
        Annotations = annotations,
    };
}
