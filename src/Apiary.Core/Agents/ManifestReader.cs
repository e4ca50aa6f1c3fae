using System.Globalization;
using Apiary.Text;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Apiary.Agents;

/// <summary>
/// Reads YAML nodes into manifest values, collecting diagnostics that name the file, line and column.
/// Shared by <c>AGENTS.md</c> frontmatter and the home's <c>apiary.yaml</c>.
/// </summary>
internal sealed class ManifestReader(string file, int firstLine)
{
    private readonly List<AgentDiagnostic> _diagnostics = [];

    public IReadOnlyList<AgentDiagnostic> Diagnostics => _diagnostics;

    public bool HasErrors => _diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);

    public AgentManifest Read(string yaml)
    {
        var root = LoadRoot(yaml);
        if (root is null)
        {
            return AgentManifest.Empty;
        }

        if (root is not YamlMappingNode map)
        {
            Error(root.Start, "the frontmatter must be a YAML mapping of fields (such as 'role: worker'), not a list or a single value");
            return AgentManifest.Empty;
        }

        return ReadMap(map);
    }

    /// <summary>Parses <paramref name="yaml"/> as one YAML document; null when it is empty or malformed (then an error is recorded).</summary>
    public YamlNode? LoadRoot(string yaml)
    {
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            if (stream.Documents.Count > 1)
            {
                Error(stream.Documents[1].RootNode.Start, "more than one YAML document; keep a single mapping");
            }

            var root = stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
            return root is null || IsNull(root) ? null : root;
        }
        catch (YamlException ex)
        {
            // YamlDotNet reports a tab in indentation at the start of the enclosing mapping; point at the tab instead.
            if (FirstIndentingTab(yaml) is { } tab && ex.Message.Contains("tab", StringComparison.OrdinalIgnoreCase))
            {
                Error(tab, "malformed YAML: a tab is used for indentation; YAML needs spaces");
            }
            else
            {
                Error(ex.Start, $"malformed YAML: {Describe(ex)}");
            }

            return null;
        }
    }

    /// <summary>Reads the manifest fields of <paramref name="map"/>; <paramref name="allowed"/> limits which are accepted.</summary>
    public AgentManifest ReadMap(YamlMappingNode map, IReadOnlyList<string>? allowed = null)
    {
        allowed ??= AgentManifestParser.Fields;
        var manifest = AgentManifest.Empty;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (!allowed.Contains(key, StringComparer.Ordinal))
            {
                WarnUnknown(keyNode, key, allowed, "");
                continue;
            }

            if (IsNull(value))
            {
                Warning(keyNode.Start, $"field '{key}' has no value, so it is not set; give it a value or remove the line");
                continue;
            }

            manifest = key switch
            {
                "description" => manifest with { Description = Text(value, key) },
                "role" => manifest with { Role = Role(value) },
                "model" => manifest with { Model = Model(value) },
                "tool_profile" => manifest with { ToolProfile = Identifier(value, key) },
                "workspace" => manifest with { Workspace = Text(value, key) },
                "template" => manifest with { Template = Identifier(value, key) },
                "allowed_recipients" => manifest with { AllowedRecipients = Recipients(value) },
                "budget" => manifest with { Budget = Budget(value) },
                "policies" => manifest with { Policies = List(value, key, v => Identifier(v, key)) },
                _ => manifest,
            };
        }

        return manifest;
    }

    public void WarnUnknown(YamlNode keyNode, string key, IReadOnlyList<string> known, string parent)
    {
        var hint = Suggest(key, known) is { } close ? $"; did you mean '{parent}{close}'?" : $"; known fields: {string.Join(", ", known.Select(k => parent + k))}";
        Warning(keyNode.Start, $"unknown field '{parent}{key}' is ignored{hint}");
    }

    public string? Text(YamlNode node, string field)
    {
        if (node is not YamlScalarNode scalar)
        {
            Error(node.Start, $"'{field}' must be a single text value");
            return null;
        }

        var value = scalar.Value?.Trim();
        if (string.IsNullOrEmpty(value))
        {
            Error(node.Start, $"'{field}' must not be empty");
            return null;
        }

        return value;
    }

    public string? Identifier(YamlNode node, string field) => Checked(node, field, SettingRules.CheckName);

    private AgentRole? Role(YamlNode node)
    {
        var value = Text(node, "role");
        switch (value)
        {
            case null:
                return null;
            case "worker":
                return AgentRole.Worker;
            case "manager":
                return AgentRole.Manager;
            default:
                Error(node.Start, $"'role' must be 'manager' or 'worker', not '{value}'");
                return null;
        }
    }

    private string? Model(YamlNode node) => Checked(node, "model", SettingRules.CheckModel);

    private string? Checked(YamlNode node, string field, Func<string, string, string?> rule)
    {
        var value = Text(node, field);
        if (value is not null && rule(field, value) is { } error)
        {
            Error(node.Start, error);
            return null;
        }

        return value;
    }

    private List<string>? Recipients(YamlNode node) =>
        List(node, "allowed_recipients", item =>
        {
            var value = Text(item, "allowed_recipients");
            if (value is null || value == AgentManifestParser.OperatorRecipient)
            {
                return value;
            }

            if (!AgentName.TryCreate(value, out _, out var error))
            {
                Error(item.Start, $"'allowed_recipients' entry '{value}' is neither an agent name nor '{AgentManifestParser.OperatorRecipient}': {error.Message}");
                return null;
            }

            return value;
        });

    private List<string>? List(YamlNode node, string field, Func<YamlNode, string?> item)
    {
        if (node is not YamlSequenceNode sequence)
        {
            Error(node.Start, $"'{field}' must be a list, such as [a, b] or one '- item' per line");
            return null;
        }

        var items = new List<string>();
        foreach (var child in sequence.Children)
        {
            if (item(child) is { } value)
            {
                if (items.Contains(value, StringComparer.Ordinal))
                {
                    Warning(child.Start, $"'{field}' lists '{value}' more than once");
                    continue;
                }

                items.Add(value);
            }
        }

        return items;
    }

    private AgentBudget? Budget(YamlNode node)
    {
        if (node is not YamlMappingNode map)
        {
            Error(node.Start, "'budget' must be a mapping such as { commands: 100, wall_time: 30m, tokens: 200000, cost_usd: 2.50 }");
            return null;
        }

        var budget = new AgentBudget();
        foreach (var (keyNode, value) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (IsNull(value))
            {
                Warning(keyNode.Start, $"budget field '{key}' has no value, so it is not set; give it a value or remove the line");
                continue;
            }

            switch (key)
            {
                case "commands":
                    budget = budget with { Commands = (int?)Count(value, "budget.commands", int.MaxValue) };
                    break;
                case "tokens":
                    budget = budget with { Tokens = Count(value, "budget.tokens", long.MaxValue) };
                    break;
                case "wall_time":
                    budget = budget with { WallTime = Duration(value, "budget.wall_time") };
                    break;
                case "cost_usd":
                    budget = budget with { CostUsd = Money(value, "budget.cost_usd") };
                    break;
                default:
                    WarnUnknown(keyNode, key, AgentManifestParser.BudgetFields, "budget.");
                    break;
            }
        }

        return budget;
    }

    public long? Count(YamlNode node, string field, long max)
    {
        var value = Text(node, field)?.Replace("_", "", StringComparison.Ordinal);
        if (value is null)
        {
            return null;
        }

        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count > max)
        {
            Error(node.Start, $"'{field}' must be a whole number from 0 to {max.ToString(CultureInfo.InvariantCulture)}, not '{value}'");
            return null;
        }

        return count;
    }

    public TimeSpan? Duration(YamlNode node, string field)
    {
        var value = Text(node, field);
        if (value is null)
        {
            return null;
        }

        if (!DurationText.TryParse(value, out var duration) || duration <= TimeSpan.Zero)
        {
            Error(node.Start, $"'{field}' must be {DurationText.Expected}, and more than zero, not '{value}'");
            return null;
        }

        return duration;
    }

    private decimal? Money(YamlNode node, string field)
    {
        var value = Text(node, field);
        if (value is null)
        {
            return null;
        }

        if (!decimal.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
        {
            Error(node.Start, $"'{field}' must be an amount in US dollars of 0 or more, such as 2.50, not '{value}'");
            return null;
        }

        return amount;
    }

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    public void Error(Mark mark, string message) =>
        _diagnostics.Add(AgentDiagnostic.Fail(message, file, LineOf(mark), ColumnOf(mark)));

    public void Warning(Mark mark, string message) =>
        _diagnostics.Add(AgentDiagnostic.Warn(message, file, LineOf(mark), ColumnOf(mark)));

    // YamlDotNet counts lines from 1 within the frontmatter; the file has the opening fence above it.
    private int? LineOf(Mark mark) => mark.Line > 0 ? (int)mark.Line + firstLine - 1 : null;

    private static int? ColumnOf(Mark mark) => mark.Column > 0 ? (int)mark.Column : null;

    private static Mark? FirstIndentingTab(string yaml)
    {
        var lines = yaml.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var indent = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
            var tab = lines[i].IndexOf('\t', StringComparison.Ordinal);
            if (tab >= 0 && tab < indent)
            {
                return new Mark(0, i + 1, tab + 1);
            }
        }

        return null;
    }

    private static string Describe(YamlException ex)
    {
        // YamlDotNet prefixes messages with its own "(Line: .., Col: ..)" which we already report as file:line:col.
        var message = ex.InnerException?.Message ?? ex.Message;
        var close = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line:", StringComparison.Ordinal) && close > 0 ? message[(close + 3)..] : message;
    }

    private static string? Suggest(string key, IReadOnlyList<string> known) =>
        known.Select(k => (k, d: Levenshtein(key, k))).Where(x => x.d <= 2).OrderBy(x => x.d).Select(x => x.k).FirstOrDefault();

    private static int Levenshtein(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            previous = current;
        }

        return previous[b.Length];
    }
}
