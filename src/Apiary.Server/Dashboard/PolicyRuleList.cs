using System.Globalization;
using System.Text;
using Apiary.Agents;
using Apiary.Governance;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using Apiary.Configuration;

namespace Apiary.Server.Dashboard;

/// <summary>
/// The rules of a home's <c>policies/</c> folder as the policies page lists them: in the order the engine tries them
/// (<see cref="Policy.RuleNames"/>, from <see cref="PolicyLoader"/>), each with its fields as written in its file.
/// The compiled rules are Core's own, so the fields are read back from the YAML; the loader decides order and validity.
/// </summary>
internal static class PolicyRuleList
{
    private static readonly string[] ConditionFields = ["when", "auto_approve", "escalate"];

    /// <summary>Reads <paramref name="directory"/>: the rules in engine order, and every warning and error of the load.</summary>
    public static PolicyListing Read(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var loaded = PolicyLoader.LoadDirectory(directory);
        var written = new Dictionary<string, PolicyRuleRow>(StringComparer.Ordinal);
        var inFileOrder = new List<PolicyRuleRow>();
        if (Directory.Exists(directory))
        {
            var files = Directory.GetFiles(directory, "*.yaml");
            Array.Sort(files, StringComparer.Ordinal);
            foreach (var file in files)
            {
                foreach (var row in RowsOf(Path.GetFileName(file), File.ReadAllText(file)))
                {
                    written.TryAdd(row.Name, row);
                    inFileOrder.Add(row);
                }
            }
        }

        // A policy that loaded lists its rules as the engine tries them; one that did not, as its files have them.
        var rules = loaded.Policy is { } policy
            ? policy.RuleNames.Select(n => written.GetValueOrDefault(n) ?? new PolicyRuleRow(n, null, "", "", "", "", null, "")).ToList()
            : inFileOrder;
        return new PolicyListing(loaded.Succeeded, rules, loaded.Diagnostics);
    }

    private static IEnumerable<PolicyRuleRow> RowsOf(string file, string yaml)
    {
        // Read as the loader reads it; a file with errors (which the loader reports with line and column) lists nothing.
        if (new Apiary.Configuration.YamlReader(file).LoadRoot(yaml) is not YamlMappingNode root
            || !root.Children.TryGetValue(new YamlScalarNode("rules"), out var list)
            || list is not YamlSequenceNode rules)
        {
            yield break;
        }

        foreach (var node in rules.Children.OfType<YamlMappingNode>())
        {
            var name = Scalar(node, "name");
            if (name is null)
            {
                continue;
            }

            var conditions = ConditionFields
                .Where(key => Field(node, key) is not null)
                .Select(key => key + ": " + Flow(Field(node, key)!));
            yield return new PolicyRuleRow(
                name,
                int.TryParse(Scalar(node, "priority"), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var priority) ? priority : 0,
                Field(node, "match") is { } match ? Flow(match) : "(everything)",
                string.Join("; ", conditions),
                Scalar(node, "tier") ?? "",
                Scalar(node, "risk") ?? "",
                Scalar(node, "message"),
                file);
        }
    }

    private static YamlNode? Field(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    private static string? Scalar(YamlMappingNode node, string key) => Field(node, key) is YamlScalarNode s ? s.Value : null;

    // One line, in YAML's flow style: { kind: exec, agent: coder, command: [dotnet, make] }.
    private static string Flow(YamlNode node)
    {
        var text = new StringBuilder();
        Append(text, node, top: true);
        return text.ToString();
    }

    private static void Append(StringBuilder text, YamlNode node, bool top = false)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                var value = scalar.Value ?? "";
                text.Append(scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted ? "'" + value + "'" : value);
                break;
            case YamlSequenceNode sequence:
                text.Append('[');
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    text.Append(i == 0 ? "" : ", ");
                    Append(text, sequence.Children[i]);
                }

                text.Append(']');
                break;
            case YamlMappingNode mapping:
                text.Append(top ? "" : "{ ");
                var first = true;
                foreach (var (key, child) in mapping.Children)
                {
                    text.Append(first ? "" : ", ");
                    first = false;
                    Append(text, key);
                    text.Append(": ");
                    Append(text, child);
                }

                text.Append(top ? "" : " }");
                break;
            default:
                break;
        }
    }
}

/// <summary>The policies folder as the page lists it.</summary>
/// <param name="Loaded">Whether the folder loads as a policy now.</param>
/// <param name="Rules">The rules, in the order the engine tries them (file order when the folder does not load).</param>
/// <param name="Diagnostics">Every warning and error of the load.</param>
internal sealed record PolicyListing(bool Loaded, IReadOnlyList<PolicyRuleRow> Rules, IReadOnlyList<Diagnostic> Diagnostics)
{
    /// <summary>Whether <paramref name="other"/> lists the same rules, as written, and the same problems.</summary>
    public bool SameAs(PolicyListing other) =>
        Loaded == other.Loaded
        && Rules.SequenceEqual(other.Rules)
        && Diagnostics.Select(d => d.ToString()).SequenceEqual(other.Diagnostics.Select(d => d.ToString()), StringComparer.Ordinal);
}

/// <summary>
/// The rules the server applies: <c>policies/</c> as read when it started, and again each time a change of the files
/// loaded (a change that does not load leaves them as they were). The policies page shows these, and says so when the
/// files differ from them.
/// </summary>
internal sealed class ActivePolicies
{
    private volatile Snapshot _current;

    public ActivePolicies(ApiaryRuntime runtime)
    {
        _current = new(PolicyRuleList.Read(runtime.Home.PoliciesDirectory), runtime.Time.GetUtcNow(), runtime.Live.VersionOf(Runtime.LiveConfig.ConfigParts.Policies));
        runtime.Live.Changed += change =>
        {
            if (change.Part == Runtime.LiveConfig.ConfigParts.Policies && change.Problem is null)
            {
                _current = new(PolicyRuleList.Read(runtime.Home.PoliciesDirectory), runtime.Time.GetUtcNow(), change.Version);
            }
        };
    }

    /// <summary>The rules in force, as their files have them.</summary>
    public PolicyListing Listing => _current.Listing;

    /// <summary>When they were read.</summary>
    public DateTimeOffset ReadAt => _current.ReadAt;

    /// <summary>Their version (the SHA-256 of the files), which decisions record; null when none loaded since the start.</summary>
    public string? Version => _current.Version;

    private sealed record Snapshot(PolicyListing Listing, DateTimeOffset ReadAt, string? Version);
}

/// <summary>One rule as written.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Priority">Its priority (higher is tried first).</param>
/// <param name="Match">Its match fields, on one line.</param>
/// <param name="Conditions">Its <c>when</c>, <c>auto_approve</c> and <c>escalate</c> conditions, on one line; empty without.</param>
/// <param name="Tier">allow, approve, deny or steer.</param>
/// <param name="Risk">low, medium, high or critical.</param>
/// <param name="Message">What the agent or the approver is told.</param>
/// <param name="File">The file it is written in.</param>
internal sealed record PolicyRuleRow(string Name, int? Priority, string Match, string Conditions, string Tier, string Risk, string? Message, string File);
