using Apiary.Configuration;

namespace Apiary.Agents;

/// <summary>What reading an <c>AGENTS.md</c> gave: the manifest (null when there are errors), the body and the findings.</summary>
/// <param name="Manifest">The frontmatter's settings, or <see langword="null"/> when any error was found.</param>
/// <param name="Body">The Markdown after the frontmatter: the only part that goes into the prompt.</param>
/// <param name="Diagnostics">Warnings and errors, each naming the file, line and column.</param>
public sealed record AgentManifestParseResult(AgentManifest? Manifest, string Body, IReadOnlyList<Diagnostic> Diagnostics)
{
    /// <summary>True when the manifest could be read without errors.</summary>
    public bool Succeeded => Manifest is not null;
}

/// <summary>
/// Reads the YAML frontmatter of an <c>AGENTS.md</c> (between <c>---</c> fences on the first lines) into an
/// <see cref="AgentManifest"/>. Unknown fields are warnings; malformed YAML and invalid values are errors that name
/// the file, line and column. It never falls back to defaults on an error.
/// </summary>
public static class AgentManifestParser
{
    /// <summary>The fields the frontmatter may hold.</summary>
    public static readonly IReadOnlyList<string> Fields =
        ["description", "role", "model", "tool_profile", "workspace", "template", "allowed_recipients", "budget"];

    /// <summary>
    /// A field that is no longer read (in frontmatter and in <c>apiary.yaml</c>'s defaults): a file that still has it
    /// gets a warning at its line, because every policy file applies to every agent and rules name their agents.
    /// </summary>
    public const string RetiredPolicies = "policies";

    /// <summary>The fields of <c>budget</c>.</summary>
    public static readonly IReadOnlyList<string> BudgetFields = ["commands", "wall_time", "tokens", "cost_usd"];

    /// <summary>The recipient that means the human operator rather than an agent.</summary>
    public const string OperatorRecipient = "operator";

    /// <summary>Parses the text of an <c>AGENTS.md</c> read from <paramref name="file"/> (used in messages only).</summary>
    public static AgentManifestParseResult Parse(string text, string file)
    {
        ArgumentNullException.ThrowIfNull(text);
        var split = Frontmatter.Split(text);
        if (split.Error is { } fenceError)
        {
            return new AgentManifestParseResult(null, "", [Diagnostic.Fail(fenceError, file, 1, 1)]);
        }

        if (split.Yaml is null)
        {
            return new AgentManifestParseResult(AgentManifest.Empty, split.Body, []);
        }

        var reader = new ManifestReader(file, split.YamlFirstLine);
        var manifest = reader.Read(split.Yaml);
        return new AgentManifestParseResult(reader.HasErrors ? null : manifest, split.Body, reader.Diagnostics);
    }
}
