using System.Text.Json;
using Apiary.Client;
using Microsoft.Extensions.AI;

namespace Apiary.Server;

/// <summary>
/// The tools an agent run offers its model: exec, read_file, write_file and list_dir, with the same shapes as the tools
/// <c>apiary mcp</c> offers an external agent. Each call becomes one proposal of the run's session.
/// </summary>
internal static class AgentTools
{
    public const string Exec = "exec";
    public const string ReadFile = "read_file";
    public const string WriteFile = "write_file";
    public const string ListDir = "list_dir";

    private static readonly JsonElement NullElement = JsonDocument.Parse("null").RootElement.Clone();

    /// <summary>The declarations the model is given: names, descriptions and JSON schemas, nothing it could invoke itself.</summary>
    public static IList<AITool> Declarations { get; } =
    [
        Declare(
            Exec,
            "Run a program in your sandbox, in your workspace. The program runs directly, not through a shell: " +
            "give the program as 'command' and each argument as one item of 'args' (to use shell syntax, run 'sh' with args ['-c', '...']). " +
            "Every call is checked by governance policies first: it may be denied or steered (the result says why, names the rule, and the command did not run) " +
            "or wait for a person's approval. An allowed call returns the exit code, stdout and stderr.",
            """
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
            """),
        Declare(
            ReadFile,
            "Read a UTF-8 text file of your workspace. Paths are relative to the workspace; paths outside it are refused. Governed like every tool.",
            """
            {
              "type": "object",
              "properties": {
                "path": { "type": "string", "description": "The file, relative to the workspace." }
              },
              "required": ["path"],
              "additionalProperties": false
            }
            """),
        Declare(
            WriteFile,
            "Write a UTF-8 text file in your workspace, replacing it if it exists. Paths are relative to the workspace; paths outside it are refused. Governed like every tool.",
            """
            {
              "type": "object",
              "properties": {
                "path": { "type": "string", "description": "The file, relative to the workspace." },
                "content": { "type": "string", "description": "The whole new content, as text." }
              },
              "required": ["path", "content"],
              "additionalProperties": false
            }
            """),
        Declare(
            ListDir,
            "List a folder of your workspace: each entry's name, type (file, dir, symlink, other) and size. Paths are relative to the workspace; paths outside it are refused.",
            """
            {
              "type": "object",
              "properties": {
                "path": { "type": "string", "description": "The folder, relative to the workspace. Default: the workspace itself ('.')." }
              },
              "additionalProperties": false
            }
            """),
        .. Messaging.MessagingTools.Declarations,
        .. Manager.ManagerTools.Declarations,
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
    public static (ProposalRequest? Request, string? Problem) ToProposal(FunctionCallContent call)
    {
        var values = (call.Arguments ?? new Dictionary<string, object?>()).ToDictionary(p => p.Key, p => ToElement(p.Value), StringComparer.Ordinal);
        var args = new Arguments(values);
        try
        {
            var request = call.Name switch
            {
                Exec => new ProposalRequest(
                    Exec,
                    Command: args.RequiredString("command"),
                    Args: args.Strings("args"),
                    Workdir: args.String("workdir"),
                    Env: args.StringMap("env"),
                    Stdin: args.String("stdin"),
                    TimeoutSeconds: args.PositiveInt("timeout_seconds")),
                ReadFile => new ProposalRequest(ReadFile, Path: args.RequiredString("path")),
                WriteFile => new ProposalRequest(WriteFile, Path: args.RequiredString("path"), Content: args.RequiredString("content", allowEmpty: true)),
                ListDir => new ProposalRequest(ListDir, Path: args.String("path") ?? "."),
                _ => throw new ArgumentException($"there is no tool named '{call.Name}'; the tools are exec, read_file, write_file and list_dir"),
            };
            args.RejectUnknown(call.Name);
            return (request, null);
        }
        catch (ArgumentException ex)
        {
            return (null, ex.Message);
        }
    }

    private static AIFunctionDeclaration Declare(string name, string description, string schema)
    {
        using var document = JsonDocument.Parse(schema);
        return AIFunctionFactory.CreateDeclaration(name, description, document.RootElement.Clone());
    }

    // Providers hand arguments over as parsed JSON; anything else (a test's strings and arrays) is serialized the way
    // Microsoft.Extensions.AI itself would.
    private static JsonElement ToElement(object? value) => value switch
    {
        JsonElement element => element,
        null => NullElement,
        _ => JsonSerializer.SerializeToElement(value, AIJsonUtilities.DefaultOptions.GetTypeInfo(value.GetType())),
    };

    /// <summary>Reads tool arguments, throwing <see cref="ArgumentException"/> with a message for the model when one is wrong.</summary>
    private sealed class Arguments(Dictionary<string, JsonElement> values)
    {
        private readonly HashSet<string> _read = new(StringComparer.Ordinal);

        public string RequiredString(string key, bool allowEmpty = false) =>
            String(key) is { } value && (allowEmpty || value.Length > 0)
                ? value
                : throw new ArgumentException($"'{key}' is required: a {(allowEmpty ? "" : "non-empty ")}string");

        public string? String(string key) => Get(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } v => v.GetString(),
            _ => throw new ArgumentException($"'{key}' must be a string"),
        };

        public IReadOnlyList<string>? Strings(string key) => Get(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Array } v when v.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) => [.. v.EnumerateArray().Select(e => e.GetString()!)],
            _ => throw new ArgumentException($"'{key}' must be an array of strings, one per argument"),
        };

        public Dictionary<string, string>? StringMap(string key) => Get(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Object } v when v.EnumerateObject().All(p => p.Value.ValueKind == JsonValueKind.String) =>
                v.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal),
            _ => throw new ArgumentException($"'{key}' must be an object whose values are strings"),
        };

        public int? PositiveInt(string key) => Get(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v when v.TryGetInt32(out var n) && n > 0 => n,
            _ => throw new ArgumentException($"'{key}' must be a whole number of seconds, 1 or more"),
        };

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
}
