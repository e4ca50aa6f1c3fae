using System.Globalization;
using Apiary.Configuration;
using Apiary.Text;
using YamlDotNet.RepresentationModel;

namespace Apiary.Agents;

/// <summary>
/// Reads YAML nodes into manifest values with the shared <see cref="YamlReader"/> conventions. Used by
/// <c>AGENTS.md</c> frontmatter and by the <c>defaults</c> of the home's <c>apiary.yaml</c>.
/// </summary>
internal sealed class ManifestReader(string file, int firstLine)
{
    public YamlReader Yaml { get; } = new(file, firstLine);

    public IReadOnlyList<Diagnostic> Diagnostics => Yaml.Diagnostics;

    public bool HasErrors => Yaml.HasErrors;

    public AgentManifest Read(string yaml)
    {
        var root = Yaml.LoadRoot(yaml);
        if (root is null)
        {
            return AgentManifest.Empty;
        }

        if (root is not YamlMappingNode map)
        {
            Yaml.Error(root.Start, "the frontmatter must be a YAML mapping of fields (such as 'role: worker'), not a list or a single value");
            return AgentManifest.Empty;
        }

        return ReadMap(map);
    }

    /// <summary>Reads the manifest fields of <paramref name="map"/>; <paramref name="allowed"/> limits which are accepted.</summary>
    public AgentManifest ReadMap(YamlMappingNode map, IReadOnlyList<string>? allowed = null)
    {
        allowed ??= AgentManifestParser.Fields;
        var manifest = AgentManifest.Empty;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            if (key == AgentManifestParser.RetiredPolicies)
            {
                // Said out loud, not ignored: the field looked like it chose an agent's policy files, and never did.
                Yaml.Warning(keyNode.Start,
                    "field 'policies' is no longer used and changes nothing: every file in the home's policies/ applies to every agent, " +
                    "and a rule says which agents it is for in its match (agent: coder, role: manager); remove the line");
                continue;
            }

            if (!allowed.Contains(key, StringComparer.Ordinal))
            {
                Yaml.WarnUnknown(keyNode, key, allowed, "");
                continue;
            }

            if (YamlReader.IsNull(value))
            {
                Yaml.Warning(keyNode.Start, $"field '{key}' has no value, so it is not set; give it a value or remove the line");
                continue;
            }

            manifest = key switch
            {
                "description" => manifest with { Description = Yaml.Text(value, key) },
                "role" => manifest with { Role = Role(value) },
                "model" => manifest with { Model = Checked(value, "model", SettingRules.CheckModel) },
                "tool_profile" => manifest with { ToolProfile = Identifier(value, key) },
                "workspace" => manifest with { Workspace = Yaml.Text(value, key) },
                "template" => manifest with { Template = Identifier(value, key) },
                "allowed_recipients" => manifest with { AllowedRecipients = Recipients(value) },
                "budget" => manifest with { Budget = Budget(value) },
                _ => manifest,
            };
        }

        return manifest;
    }

    private string? Identifier(YamlNode node, string field) => Checked(node, field, SettingRules.CheckName);

    private string? Checked(YamlNode node, string field, Func<string, string, string?> rule)
    {
        var value = Yaml.Text(node, field);
        if (value is not null && rule(field, value) is { } error)
        {
            Yaml.Error(node.Start, error);
            return null;
        }

        return value;
    }

    private AgentRole? Role(YamlNode node)
    {
        var value = Yaml.Text(node, "role");
        switch (value)
        {
            case null:
                return null;
            case "worker":
                return AgentRole.Worker;
            case "manager":
                return AgentRole.Manager;
            default:
                Yaml.Error(node.Start, $"'role' must be 'manager' or 'worker', not '{value}'");
                return null;
        }
    }

    private List<string>? Recipients(YamlNode node) =>
        List(node, "allowed_recipients", item =>
        {
            var value = Yaml.Text(item, "allowed_recipients");
            if (value is null || value == AgentManifestParser.OperatorRecipient)
            {
                return value;
            }

            if (!AgentName.TryCreate(value, out _, out var error))
            {
                Yaml.Error(item.Start, $"'allowed_recipients' entry '{value}' is neither an agent name nor '{AgentManifestParser.OperatorRecipient}': {error.Message}");
                return null;
            }

            return value;
        });

    private List<string>? List(YamlNode node, string field, Func<YamlNode, string?> item)
    {
        if (node is not YamlSequenceNode sequence)
        {
            Yaml.Error(node.Start, $"'{field}' must be a list, such as [a, b] or one '- item' per line");
            return null;
        }

        var items = new List<string>();
        foreach (var child in sequence.Children)
        {
            if (item(child) is { } value)
            {
                if (items.Contains(value, StringComparer.Ordinal))
                {
                    Yaml.Warning(child.Start, $"'{field}' lists '{value}' more than once");
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
            Yaml.Error(node.Start, "'budget' must be a mapping such as { commands: 100, wall_time: 30m, tokens: 200000, cost_usd: 2.50 }");
            return null;
        }

        var budget = new AgentBudget();
        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            if (YamlReader.IsNull(value))
            {
                Yaml.Warning(keyNode.Start, $"budget field '{key}' has no value, so it is not set; give it a value or remove the line");
                continue;
            }

            switch (key)
            {
                case "commands":
                    budget = budget with { Commands = (int?)Yaml.WholeNumber(value, "budget.commands", 0, int.MaxValue) };
                    break;
                case "tokens":
                    budget = budget with { Tokens = Yaml.WholeNumber(value, "budget.tokens", 0, long.MaxValue) };
                    break;
                case "wall_time":
                    budget = budget with { WallTime = Duration(value, "budget.wall_time") };
                    break;
                case "cost_usd":
                    budget = budget with { CostUsd = Money(value, "budget.cost_usd") };
                    break;
                default:
                    Yaml.WarnUnknown(keyNode, key, AgentManifestParser.BudgetFields, "budget.");
                    break;
            }
        }

        return budget;
    }

    private TimeSpan? Duration(YamlNode node, string field)
    {
        var value = Yaml.Text(node, field);
        if (value is null)
        {
            return null;
        }

        if (!DurationText.TryParse(value, out var duration) || duration <= TimeSpan.Zero)
        {
            Yaml.Error(node.Start, $"'{field}' must be {DurationText.Expected}, and more than zero, not '{value}'");
            return null;
        }

        return duration;
    }

    private decimal? Money(YamlNode node, string field)
    {
        var value = Yaml.Text(node, field);
        if (value is null)
        {
            return null;
        }

        if (!decimal.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
        {
            Yaml.Error(node.Start, $"'{field}' must be an amount in US dollars of 0 or more, such as 2.50, not '{value}'");
            return null;
        }

        return amount;
    }
}
