using System.Text.Json;

namespace Apiary.Contracts;

/// <summary>
/// The four workspace tools every agent gets, whether Apiary runs it (the turn loop) or it connects from outside
/// (<c>apiary mcp</c>): their names, their input schemas, and how a call's arguments become a
/// <see cref="ProposalRequest"/>. One definition, so the two surfaces cannot drift apart.
/// </summary>
public static class WorkspaceTools
{
    /// <summary>Run a program in the sandbox.</summary>
    public const string Exec = "exec";

    /// <summary>Read a text file of the workspace.</summary>
    public const string ReadFile = "read_file";

    /// <summary>Write a text file of the workspace.</summary>
    public const string WriteFile = "write_file";

    /// <summary>List a folder of the workspace.</summary>
    public const string ListDir = "list_dir";

    /// <summary>The tools' names, in the order they are offered.</summary>
    public static IReadOnlyList<string> Names { get; } = [Exec, ReadFile, WriteFile, ListDir];

    private static readonly JsonElement ExecSchema = Parse("""
        {
          "type": "object",
          "properties": {
            "command": { "type": "string", "description": "The program to run, such as 'git' or 'python3'." },
            "args": { "type": "array", "items": { "type": "string" }, "description": "Its arguments, each passed verbatim (no shell expansion)." },
            "workdir": { "type": "string", "description": "The working folder, relative to the workspace. Default: the workspace." },
            "env": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Extra environment variables." },
            "stdin": { "type": "string", "description": "Text given to the program on standard input." },
            "timeout_seconds": { "type": "integer", "minimum": 1, "description": "The time limit in seconds. Default: the sandbox template's." }
          },
          "required": ["command"],
          "additionalProperties": false
        }
        """);

    private static readonly JsonElement ReadFileSchema = Parse("""
        {
          "type": "object",
          "properties": {
            "path": { "type": "string", "description": "The file, relative to the workspace." }
          },
          "required": ["path"],
          "additionalProperties": false
        }
        """);

    private static readonly JsonElement WriteFileSchema = Parse("""
        {
          "type": "object",
          "properties": {
            "path": { "type": "string", "description": "The file, relative to the workspace." },
            "content": { "type": "string", "description": "The whole new content, as text." }
          },
          "required": ["path", "content"],
          "additionalProperties": false
        }
        """);

    private static readonly JsonElement ListDirSchema = Parse("""
        {
          "type": "object",
          "properties": {
            "path": { "type": "string", "description": "The folder, relative to the workspace. Default: the workspace itself ('.')." }
          },
          "additionalProperties": false
        }
        """);

    /// <summary>
    /// The four tools as every surface describes them (the turn loop's model and <c>apiary mcp</c>'s clients): written
    /// once, from the agent's side, so the surfaces cannot drift apart.
    /// </summary>
    public static IReadOnlyList<ToolDescriptor> Descriptors { get; } =
    [
        new(
            Exec,
            "Run a command (governed, sandboxed)",
            "Run a program in your sandbox, in your workspace. The program runs directly, not through a shell: " +
            "give the program as 'command' and each argument as one item of 'args'. " +
            "Every call is checked by governance policies first: it may be denied or steered (the result says why, names the rule, and the command did not run) " +
            "or wait for a person's approval (the result gives the ticket). An allowed call returns the exit code, stdout and stderr.",
            ExecSchema,
            ReadOnly: false,
            Destructive: true,
            Idempotent: false,
            External: true),
        new(
            ReadFile,
            "Read a file",
            "Read a UTF-8 text file of your workspace. Paths are relative to the workspace; paths outside it are refused. Governed like every tool.",
            ReadFileSchema,
            ReadOnly: true,
            Destructive: false,
            Idempotent: true,
            External: true),
        new(
            WriteFile,
            "Write a file",
            "Write a UTF-8 text file in your workspace, replacing it if it exists. Paths are relative to the workspace; paths outside it are refused. Governed like every tool.",
            WriteFileSchema,
            ReadOnly: false,
            Destructive: true,
            Idempotent: true,
            External: true),
        new(
            ListDir,
            "List a folder",
            "List a folder of your workspace: each entry's name, type (file, dir, symlink, other) and size. Paths are relative to the workspace; paths outside it are refused. Governed like every tool.",
            ListDirSchema,
            ReadOnly: true,
            Destructive: false,
            Idempotent: true,
            External: true),
    ];

    /// <summary>The JSON schema of <paramref name="tool"/>'s arguments.</summary>
    /// <exception cref="ArgumentException">Not one of the workspace tools.</exception>
    public static JsonElement Schema(string tool) => tool switch
    {
        Exec => ExecSchema,
        ReadFile => ReadFileSchema,
        WriteFile => WriteFileSchema,
        ListDir => ListDirSchema,
        _ => throw new ArgumentException($"'{tool}' is not a workspace tool", nameof(tool)),
    };

    /// <summary>
    /// The proposal a call of <paramref name="tool"/> with <paramref name="arguments"/> asks for, or a message saying
    /// what is wrong with the arguments (for the model to correct).
    /// </summary>
    public static (ProposalRequest? Request, string? Problem) ToProposal(string tool, IReadOnlyDictionary<string, JsonElement>? arguments)
    {
        var args = new ToolArguments(arguments ?? new Dictionary<string, JsonElement>());
        try
        {
            var request = tool switch
            {
                Exec => new ProposalRequest(
                    Exec,
                    Command: args.RequiredString("command"),
                    Args: args.Strings("args"),
                    Workdir: args.OptionalString("workdir"),
                    Env: args.StringMap("env"),
                    Stdin: args.OptionalString("stdin"),
                    TimeoutSeconds: args.PositiveInt("timeout_seconds")),
                ReadFile => new ProposalRequest(ReadFile, Path: args.RequiredString("path")),
                WriteFile => new ProposalRequest(WriteFile, Path: args.RequiredString("path"), Content: args.RequiredString("content", allowEmpty: true)),
                ListDir => new ProposalRequest(ListDir, Path: args.OptionalString("path") ?? "."),
                _ => throw new ArgumentException($"there is no tool named '{tool}'; the tools are exec, read_file, write_file and list_dir"),
            };
            args.RejectUnknown(tool);
            return (request, null);
        }
        catch (ArgumentException ex)
        {
            return (null, ex.Message);
        }
    }

    private static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}

/// <summary>
/// Reads a tool call's JSON arguments, throwing <see cref="ArgumentException"/> with a message for the model when one
/// is wrong; <see cref="RejectUnknown"/> then refuses any argument nothing read.
/// </summary>
public sealed class ToolArguments(IReadOnlyDictionary<string, JsonElement> values)
{
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    /// <summary>A string that must be there (and, unless <paramref name="allowEmpty"/>, not empty).</summary>
    public string RequiredString(string key, bool allowEmpty = false) =>
        OptionalString(key) is { } value && (allowEmpty || value.Length > 0)
            ? value
            : throw new ArgumentException($"'{key}' is required: a {(allowEmpty ? "" : "non-empty ")}string");

    /// <summary>A string, or null when absent.</summary>
    public string? OptionalString(string key) => Get(key) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } v => v.GetString(),
        _ => throw new ArgumentException($"'{key}' must be a string"),
    };

    /// <summary>An array of strings, or null when absent.</summary>
    public IReadOnlyList<string>? Strings(string key) => Get(key) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Array } v when v.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) => [.. v.EnumerateArray().Select(e => e.GetString()!)],
        _ => throw new ArgumentException($"'{key}' must be an array of strings, one per argument"),
    };

    /// <summary>An object of strings, or null when absent.</summary>
    public Dictionary<string, string>? StringMap(string key) => Get(key) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Object } v when v.EnumerateObject().All(p => p.Value.ValueKind == JsonValueKind.String) =>
            v.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal),
        _ => throw new ArgumentException($"'{key}' must be an object whose values are strings"),
    };

    /// <summary>A whole number of seconds, 1 or more, or null when absent.</summary>
    public int? PositiveInt(string key) => Get(key) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } v when v.TryGetInt32(out var n) && n > 0 => n,
        _ => throw new ArgumentException($"'{key}' must be a whole number of seconds, 1 or more"),
    };

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>, or <paramref name="fallback"/> when absent.</summary>
    public int WholeNumber(string key, int fallback, int min, int max) => Get(key) switch
    {
        null => fallback,
        { ValueKind: JsonValueKind.Number } v when v.TryGetInt32(out var n) && n >= min && n <= max => n,
        _ => throw new ArgumentException($"'{key}' must be a whole number from {min} to {max}"),
    };

    /// <summary>Refuses the arguments no read asked for, naming them.</summary>
    public void RejectUnknown(string tool)
    {
        var unknown = values.Keys.Where(k => !_read.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            throw new ArgumentException($"{tool} has no argument {string.Join(", ", unknown.Select(k => $"'{k}'"))}; see its input schema");
        }
    }

    private JsonElement? Get(string key)
    {
        _read.Add(key);
        return values.TryGetValue(key, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;
    }
}

/// <summary>
/// A tool as its callers see it: its name, a short title, what it does, the JSON schema of its arguments, and hints for
/// clients (MCP's tool annotations). <see cref="External"/> tools are offered to external agents by <c>apiary mcp</c>
/// too; the others only to the runs Apiary drives.
/// </summary>
/// <param name="Name">The name the model calls it by.</param>
/// <param name="Title">A short human title.</param>
/// <param name="Description">What it does and how it is governed, for the model.</param>
/// <param name="InputSchema">The JSON schema of its arguments.</param>
/// <param name="ReadOnly">It changes nothing.</param>
/// <param name="Destructive">It may change or remove what exists.</param>
/// <param name="Idempotent">Calling it twice with the same arguments does no more than once.</param>
/// <param name="External">Offered through <c>apiary mcp</c> as well.</param>
public sealed record ToolDescriptor(string Name, string Title, string Description, JsonElement InputSchema, bool ReadOnly, bool Destructive, bool Idempotent, bool External);
