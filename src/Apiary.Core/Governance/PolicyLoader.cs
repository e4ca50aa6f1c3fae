using Apiary.Agents;
using Apiary.Configuration;

namespace Apiary.Governance;

/// <summary>The text of one policy file and the name to report it by.</summary>
/// <param name="File">The file, as messages should name it (<c>policies/default.yaml</c>).</param>
/// <param name="Yaml">Its YAML text.</param>
public sealed record PolicySource(string File, string Yaml);

/// <summary>A loaded policy, or the errors that stopped it loading; warnings either way.</summary>
/// <param name="Policy">The policy; null when there was an error.</param>
/// <param name="Diagnostics">Every warning and error, each naming file, line, column and field.</param>
public sealed record PolicyLoadResult(Policy? Policy, IReadOnlyList<Diagnostic> Diagnostics)
{
    /// <summary>True when the policy loaded.</summary>
    public bool Succeeded => Policy is not null;
}

/// <summary>
/// Loads policy rules from <c>policies/*.yaml</c>. Every pattern is compiled here, once; any error (a bad field, a
/// bad pattern, a condition nested deeper than <see cref="MaxConditionDepth"/>, a duplicate rule name) fails the
/// whole load, because a policy that half loads would allow or deny things nobody wrote.
/// </summary>
public static class PolicyLoader
{
    /// <summary>The deepest a <c>when</c>, <c>auto_approve</c> or <c>escalate</c> tree may nest.</summary>
    public const int MaxConditionDepth = Condition.MaxDepth;

    /// <summary>Loads every <c>*.yaml</c> file of <paramref name="directory"/>, in ordinal order of file name.</summary>
    public static PolicyLoadResult LoadDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        return ReadDirectory(directory) is { } sources
            ? Parse(sources)
            : new PolicyLoadResult(null, [Diagnostic.Fail("the policies folder does not exist; create it with at least one policy file", Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)))]);
    }

    /// <summary>
    /// The text of every <c>*.yaml</c> file of <paramref name="directory"/>, in ordinal order of file name, each named
    /// <c>policies/NAME.yaml</c> (the folder's name and the file's); null when the folder does not exist.
    /// </summary>
    /// <exception cref="IOException">A file could not be read.</exception>
    public static IReadOnlyList<PolicySource>? ReadDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
        {
            return null;
        }

        var label = Path.GetFileName(Path.TrimEndingDirectorySeparator(directory));
        var files = Directory.GetFiles(directory, "*.yaml");
        Array.Sort(files, StringComparer.Ordinal);
        return [.. files.Select(f => new PolicySource(Path.Combine(label, Path.GetFileName(f)), File.ReadAllText(f)))];
    }

    /// <summary>
    /// The version of a set of policy files: the lowercase hex SHA-256 over their names and contents
    /// (<see cref="ContentHash"/>). The policy loaded from them carries it as <see cref="Policy.Version"/>.
    /// </summary>
    public static string VersionOf(IEnumerable<PolicySource> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        return ContentHash.Of(sources.Select(s => (s.File, s.Yaml)));
    }

    /// <summary>Parses one policy file.</summary>
    public static PolicyLoadResult Parse(string file, string yaml) => Parse([new PolicySource(file, yaml)]);

    /// <summary>Parses policy files into one policy.</summary>
    public static PolicyLoadResult Parse(IEnumerable<PolicySource> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var all = sources as IReadOnlyList<PolicySource> ?? [.. sources];
        var diagnostics = new List<Diagnostic>();
        var rules = new List<PolicyRule>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var failed = false;
        foreach (var source in all)
        {
            var reader = new PolicyFileReader(source.File, names);
            rules.AddRange(reader.Read(source.Yaml));
            diagnostics.AddRange(reader.Yaml.Diagnostics);
            failed |= reader.Yaml.HasErrors;
        }

        return new PolicyLoadResult(failed ? null : Policy.Create(rules, VersionOf(all)), diagnostics);
    }
}
