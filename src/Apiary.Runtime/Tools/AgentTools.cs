using System.Text.Json;
using Apiary.Contracts;
using Microsoft.Extensions.AI;

namespace Apiary.Runtime;

/// <summary>
/// The tools an agent run offers its model: exec, read_file, write_file and list_dir, with the same shapes as the tools
/// <c>apiary mcp</c> offers an external agent. Each call becomes one proposal of the run's session.
/// </summary>
internal static class AgentTools
{
    public const string Exec = WorkspaceTools.Exec;
    public const string ReadFile = WorkspaceTools.ReadFile;
    public const string WriteFile = WorkspaceTools.WriteFile;
    public const string ListDir = WorkspaceTools.ListDir;

    private static readonly JsonElement NullElement = JsonDocument.Parse("null").RootElement.Clone();

    /// <summary>The declarations the model is given: names, descriptions and JSON schemas, nothing it could invoke itself.</summary>
    public static IList<AITool> Declarations { get; } =
    [
        Declare(
            Exec,
            "Run a program in your sandbox, in your workspace. The program runs directly, not through a shell: " +
            "give the program as 'command' and each argument as one item of 'args' (to use shell syntax, run 'sh' with args ['-c', '...']). " +
            "Every call is checked by governance policies first: it may be denied or steered (the result says why, names the rule, and the command did not run) " +
            "or wait for a person's approval. An allowed call returns the exit code, stdout and stderr."),
        Declare(
            ReadFile,
            "Read a UTF-8 text file of your workspace. Paths are relative to the workspace; paths outside it are refused. Governed like every tool."),
        Declare(
            WriteFile,
            "Write a UTF-8 text file in your workspace, replacing it if it exists. Paths are relative to the workspace; paths outside it are refused. Governed like every tool."),
        Declare(
            ListDir,
            "List a folder of your workspace: each entry's name, type (file, dir, symlink, other) and size. Paths are relative to the workspace; paths outside it are refused."),
        .. Messaging.MessagingTools.Declarations,
        .. Manager.ManagerTools.Declarations,
        .. Memory.MemoryTools.Declarations,
    ];

    /// <summary>The arguments of a call as one JSON object, for events and progress.</summary>
    public static string ArgumentsJson(FunctionCallContent call)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (key, value) in call.Arguments ?? new Dictionary<string, object?>())
            {
                writer.WritePropertyName(key);
                ToElement(value).WriteTo(writer);
            }

            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>
    /// The proposal a call of <paramref name="call"/> asks for, or a message saying what is wrong with its arguments
    /// (for the model to correct).
    /// </summary>
    public static (ProposalRequest? Request, string? Problem) ToProposal(FunctionCallContent call) =>
        WorkspaceTools.ToProposal(call.Name, (call.Arguments ?? new Dictionary<string, object?>()).ToDictionary(p => p.Key, p => ToElement(p.Value), StringComparer.Ordinal));

    private static AIFunctionDeclaration Declare(string name, string description) =>
        Declare(name, description, WorkspaceTools.Schema(name));

    /// <summary>A tool the model is told of: its name, what it does, and its arguments' JSON schema.</summary>
    internal static AIFunctionDeclaration Declare(string name, string description, JsonElement schema) =>
        AIFunctionFactory.CreateDeclaration(name, description, schema);

    /// <summary>A tool the model is told of, its schema given as JSON text.</summary>
    internal static AIFunctionDeclaration Declare(string name, string description, string schema)
    {
        using var document = JsonDocument.Parse(schema);
        return Declare(name, description, document.RootElement.Clone());
    }

    /// <summary>
    /// The arguments of a call of one of the tools the server carries out itself (messaging, <c>remember</c>, the
    /// manager's), read with the same <see cref="ToolArguments"/> as the workspace tools. An argument outside
    /// <paramref name="known"/> is refused before anything runs: a model cannot name a sender, an agent or anything
    /// else the schema does not offer.
    /// </summary>
    internal static ToolArguments Arguments(FunctionCallContent call, params string[] known)
    {
        var values = (call.Arguments ?? new Dictionary<string, object?>()).ToDictionary(p => p.Key, p => ToElement(p.Value), StringComparer.Ordinal);
        var unknown = values.Keys.Where(k => !known.Contains(k, StringComparer.Ordinal)).Order(StringComparer.Ordinal).ToList();
        return unknown.Count == 0
            ? new ToolArguments(values)
            : throw new ArgumentException($"{call.Name} has no argument {string.Join(", ", unknown.Select(k => $"'{k}'"))}; see its input schema");
    }

    // Providers hand arguments over as parsed JSON; anything else (a test's strings and arrays) is serialized the way
    // Microsoft.Extensions.AI itself would.
    private static JsonElement ToElement(object? value) => value switch
    {
        JsonElement element => element,
        null => NullElement,
        _ => JsonSerializer.SerializeToElement(value, AIJsonUtilities.DefaultOptions.GetTypeInfo(value.GetType())),
    };
}
