namespace Apiary.Agents;

/// <summary>
/// The rules a setting's value must follow, wherever it comes from (frontmatter, <c>apiary.yaml</c> or the command
/// line). Each check returns null when the value is valid, else what is wrong, for people.
/// </summary>
public static class SettingRules
{
    /// <summary>Checks a model reference: <c>endpoint/model</c> with both parts present and no whitespace.</summary>
    public static string? CheckModel(string field, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        return slash <= 0 || slash == value.Length - 1 || value.Any(char.IsWhiteSpace)
            ? $"'{field}' must be 'endpoint/model' as named in models.yaml, such as 'local/llama3.2', not '{value}'"
            : null;
    }

    /// <summary>Checks a name that becomes part of a file name (a template, policy or tool profile): the agent-name rules.</summary>
    public static string? CheckName(string field, string value) =>
        AgentName.TryCreate(value, out _, out _)
            ? null
            : $"'{field}' must be a name of letters, digits, '_' and '-' (at most {AgentName.MaxLength}), not '{value}'";

    /// <summary>Checks every value of <paramref name="overrides"/>; the workspace is checked later, against the home.</summary>
    /// <returns>What is wrong, one message each; empty when all are valid.</returns>
    public static IReadOnlyList<string> Check(AgentOverrides overrides)
    {
        ArgumentNullException.ThrowIfNull(overrides);
        var errors = new List<string>();
        void Add(string? error)
        {
            if (error is not null)
            {
                errors.Add(error);
            }
        }

        if (overrides.Model is { } model)
        {
            Add(CheckModel("--model", model));
        }

        if (overrides.ToolProfile is { } profile)
        {
            Add(CheckName("--tool-profile", profile));
        }

        if (overrides.Template is { } template)
        {
            Add(CheckName("--template", template));
        }

        if (overrides.Workspace is { Length: 0 })
        {
            errors.Add("'--workspace' must not be empty");
        }

        return errors;
    }
}
