namespace Apiary.Runtime;

/// <summary>
/// How the turn loop reads tool calls: their arguments (as JSON, as <see cref="ToolArguments"/>, as a workspace tool's
/// proposal) and the declarations of tools for the model.
/// </summary>
internal static class AgentTools
{
    public const string Exec = WorkspaceTools.Exec;
    public const string ReadFile = WorkspaceTools.ReadFile;
    public const string WriteFile = WorkspaceTools.WriteFile;
    public const string ListDir = WorkspaceTools.ListDir;

    private static readonly JsonElement NullElement = JsonDocument.Parse("null").RootElement.Clone();

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

    /// <summary>A tool the model is told of: its name, what it does, and its arguments' JSON schema.</summary>
    internal static AIFunctionDeclaration Declare(string name, string description, JsonElement schema) =>
        AIFunctionFactory.CreateDeclaration(name, description, schema);

    /// <summary>
    /// A tool the runtime carries out itself (not offered through <c>apiary mcp</c>): its arguments' JSON schema is an
    /// object of <paramref name="parameters"/>, with no other property allowed.
    /// </summary>
    internal static ToolDescriptor Describe(string name, string title, string description, IReadOnlyList<ToolParameter> parameters, bool readOnly = false)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", "object");
            json.WriteStartObject("properties");
            foreach (var p in parameters)
            {
                json.WriteStartObject(p.Name);
                json.WriteString("type", p.Type);
                WriteBound(json, p.Type == "string" ? "minLength" : "minimum", p.Minimum);
                WriteBound(json, p.Type == "string" ? "maxLength" : "maximum", p.Maximum);
                json.WriteString("description", p.Description);
                json.WriteEndObject();
            }

            json.WriteEndObject();
            if (parameters.Any(p => p.Required))
            {
                json.WriteStartArray("required");
                foreach (var p in parameters.Where(p => p.Required))
                {
                    json.WriteStringValue(p.Name);
                }

                json.WriteEndArray();
            }

            json.WriteBoolean("additionalProperties", false);
            json.WriteEndObject();
        }

        using var schema = JsonDocument.Parse(buffer.ToArray());
        return new ToolDescriptor(name, title, description, schema.RootElement.Clone(), readOnly, Destructive: false, Idempotent: readOnly, External: false);

        static void WriteBound(Utf8JsonWriter json, string key, int? bound)
        {
            if (bound is { } value)
            {
                json.WriteNumber(key, value);
            }
        }
    }

    /// <summary>
    /// The arguments of a call of one of the tools the server carries out itself (messaging, <c>remember</c>, the
    /// manager's), read with the same <see cref="ToolArguments"/> as the workspace tools. An argument outside
    /// <paramref name="known"/> is refused before anything runs: a model cannot name a sender, an agent or anything
    /// else the schema does not offer.
    /// </summary>
    internal static ToolArguments Arguments(FunctionCallContent call, params IEnumerable<string> known)
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
