using System.Globalization;
using Apiary.Agents;
using Apiary.Configuration;
using YamlDotNet.RepresentationModel;

namespace Apiary.Governance;

/// <summary>Reads the rules of one policy file, reporting problems at their line and column.</summary>
internal sealed class PolicyFileReader(string file, HashSet<string> names)
{
    private static readonly string[] FileFields = ["rules"];
    private static readonly string[] RuleFields = ["name", "priority", "match", "when", "auto_approve", "escalate", "risk", "tier", "message", "max_timeout"];
    private static readonly string[] MatchFields = ["kind", "agent", "role", "command", "args", "path", "recipients", "env", "secrets", "workdir"];
    private static readonly string[] ConditionFields = ["all", "any", "not", "hours", "weekdays", "session_count", "arg", "args", "arg_count", "path"];
    private static readonly string[] RangeFields = ["min", "max"];
    private static readonly string[] Risks = ["low", "medium", "high", "critical"];
    private static readonly string[] Tiers = ["allow", "approve", "deny", "steer"];
    private static readonly string[] Days = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

    public YamlReader Yaml { get; } = new(file);

    public List<PolicyRule> Read(string text)
    {
        var rules = new List<PolicyRule>();
        var root = Yaml.LoadRoot(text);
        if (root is null)
        {
            if (!Yaml.HasErrors)
            {
                Yaml.Error("the policy file is empty; give it a 'rules:' list or delete it");
            }

            return rules;
        }

        if (root is not YamlMappingNode map)
        {
            Yaml.Error(root.Start, "a policy file must be a mapping with a 'rules:' list");
            return rules;
        }

        YamlNode? list = null;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            if (key == "rules")
            {
                list = value;
            }
            else
            {
                Yaml.WarnUnknown(keyNode, key, FileFields, "");
            }
        }

        if (list is not YamlSequenceNode sequence)
        {
            Yaml.Error(list?.Start ?? root.Start, "'rules' must be a list of rules, one '- name: ...' each");
            return rules;
        }

        for (var i = 0; i < sequence.Children.Count; i++)
        {
            if (ReadRule(sequence.Children[i], i) is { } rule)
            {
                rules.Add(rule);
            }
        }

        return rules;
    }

    private PolicyRule? ReadRule(YamlNode node, int index)
    {
        var at = $"rules[{index}]";
        if (node is not YamlMappingNode map)
        {
            Yaml.Error(node.Start, $"'{at}' must be a mapping with name, priority, match, risk and tier");
            return null;
        }

        var errors = Yaml.Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error);
        string? name = null;
        long priority = 0;
        RiskLevel? risk = null;
        PolicyTier? tier = null;
        string? message = null;
        YamlNode? matchNode = null, autoNode = null, escalateNode = null, tierNode = null;
        Condition? when = null, auto = null, escalate = null;
        TimeSpan? maxTimeout = null;
        var rule = new PolicyRule { Name = "" };
        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            var field = $"{at}.{key}";
            switch (key)
            {
                case "name":
                    name = Yaml.Text(value, field);
                    if (name is not null)
                    {
                        at = $"rule '{name}'";
                        if (name == Policy.DefaultDenyRule)
                        {
                            Yaml.Error(value.Start, $"'{field}': '{Policy.DefaultDenyRule}' is the built-in rule for proposals no rule matches; choose another name");
                        }
                        else if (!names.Add(name))
                        {
                            Yaml.Error(value.Start, $"'{field}': a rule named '{name}' already exists; rule names must be unique across all policy files");
                        }
                    }

                    break;
                case "priority":
                    priority = Yaml.WholeNumber(value, field, -1_000_000, 1_000_000) ?? 0;
                    break;
                case "risk":
                    risk = (RiskLevel?)OneOf(value, field, Risks);
                    break;
                case "tier":
                    tierNode = value;
                    tier = (PolicyTier?)OneOf(value, field, Tiers);
                    break;
                case "message":
                    message = Yaml.Text(value, field);
                    break;
                case "max_timeout":
                    maxTimeout = Yaml.Text(value, field) is { } text ? MaxTimeout(value, field, text) : null;
                    break;
                case "match":
                    matchNode = value;
                    rule = ReadMatch(value, field);
                    break;
                case "when":
                    when = ReadCondition(value, field, 1);
                    break;
                case "auto_approve":
                    autoNode = value;
                    auto = ReadCondition(value, field, 1);
                    break;
                case "escalate":
                    escalateNode = value;
                    escalate = ReadCondition(value, field, 1);
                    break;
                default:
                    UnknownField(keyNode, key, RuleFields, at + ".");
                    break;
            }
        }

        if (name is null && !map.Children.Any(c => YamlReader.KeyOf(c.Key) == "name"))
        {
            Yaml.Error(map.Start, $"'{at}' has no 'name'; every rule needs a unique name, which decisions report");
        }

        if (matchNode is null)
        {
            Yaml.Error(map.Start, $"'{at}' has no 'match'; write 'match: {{}}' to match every proposal");
        }

        if (risk is null && !map.Children.Any(c => YamlReader.KeyOf(c.Key) == "risk"))
        {
            Yaml.Error(map.Start, $"'{at}' has no 'risk'; give one of {string.Join(", ", Risks)}");
        }

        if (tier is null && tierNode is null)
        {
            Yaml.Error(map.Start, $"'{at}' has no 'tier'; give one of {string.Join(", ", Tiers)}");
        }

        if (tier is PolicyTier.Deny or PolicyTier.Steer && message is null)
        {
            Yaml.Error(tierNode!.Start, $"'{at}.message' is required for tier '{Tiers[(int)tier]}': it is the reason the agent is told");
        }

        if (autoNode is not null && tier is not null and not PolicyTier.Approve)
        {
            Yaml.Error(autoNode.Start, $"'{at}.auto_approve' only applies to tier 'approve' (it turns approve into allow)");
        }

        if (escalateNode is not null && tier is not null and not PolicyTier.Allow)
        {
            Yaml.Error(escalateNode.Start, $"'{at}.escalate' only applies to tier 'allow' (it turns allow into approve)");
        }

        if (Yaml.Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error) > errors)
        {
            return null;
        }

        return rule with
        {
            Name = name!,
            Priority = (int)priority,
            File = file,
            Index = index,
            Line = (int)map.Start.Line,
            Column = (int)map.Start.Column,
            Risk = risk!.Value,
            Tier = tier!.Value,
            Message = message,
            When = when,
            AutoApprove = auto,
            Escalate = escalate,
            MaxTimeout = maxTimeout,
        };
    }

    private PolicyRule ReadMatch(YamlNode node, string at)
    {
        var rule = new PolicyRule { Name = "" };
        if (YamlReader.IsNull(node))
        {
            Yaml.Error(node.Start, $"'{at}' is empty; write 'match: {{}}' to match every proposal");
            return rule;
        }

        if (node is not YamlMappingNode map)
        {
            Yaml.Error(node.Start, $"'{at}' must be a mapping such as {{ kind: exec, command: [ls, cat] }}");
            return rule;
        }

        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            var field = $"{at}.{key}";
            rule = key switch
            {
                "kind" => WithKinds(rule, value, field),
                "role" => WithRoles(rule, value, field),
                "agent" => Patterns(value, field, GlobFlavor.Text) is { } agents ? rule with { Agents = agents } : rule,
                "command" => Patterns(value, field, GlobFlavor.Text) is { } commands ? rule with { Commands = commands } : rule,
                "args" => Patterns(value, field, GlobFlavor.Text) is { } args ? rule with { Args = args } : rule,
                "recipients" => Patterns(value, field, GlobFlavor.Text) is { } recipients ? rule with { Recipients = recipients } : rule,
                "path" => PathPatterns(value, field) is { } paths ? rule with { Paths = paths } : rule,
                "env" => Patterns(value, field, GlobFlavor.Text) is { } env ? rule with { Env = env } : rule,
                "secrets" => Patterns(value, field, GlobFlavor.Text) is { } secrets ? rule with { Secrets = secrets } : rule,
                "workdir" => PathPatterns(value, field) is { } workdir ? rule with { Workdir = workdir } : rule,
                _ => Unknown(keyNode, key, MatchFields, at + ".", rule),
            };
        }

        return rule;
    }

    private PolicyRule WithKinds(PolicyRule rule, YamlNode node, string field)
    {
        var mask = 0;
        foreach (var (text, item) in Strings(node, field))
        {
            if (ProposalKinds.TryParse(text, out var kind))
            {
                mask |= 1 << (int)kind;
            }
            else
            {
                Yaml.Error(item.Start, $"'{field}' must be one of {string.Join(", ", ProposalKinds.All)}, not '{text}'");
            }
        }

        return mask == 0 ? rule : rule with { KindMask = mask };
    }

    private PolicyRule WithRoles(PolicyRule rule, YamlNode node, string field)
    {
        var mask = 0;
        foreach (var (text, item) in Strings(node, field))
        {
            switch (text)
            {
                case "worker":
                    mask |= 1 << (int)AgentRole.Worker;
                    break;
                case "manager":
                    mask |= 1 << (int)AgentRole.Manager;
                    break;
                default:
                    Yaml.Error(item.Start, $"'{field}' must be 'worker' or 'manager', not '{text}'");
                    break;
            }
        }

        return mask == 0 ? rule : rule with { RoleMask = mask };
    }

    private Condition? ReadCondition(YamlNode node, string at, int depth)
    {
        if (depth > Condition.MaxDepth)
        {
            Yaml.Error(node.Start, $"'{at}' nests conditions deeper than {Condition.MaxDepth} levels; flatten it with 'all' or 'any'");
            return null;
        }

        if (node is not YamlMappingNode map || map.Children.Count == 0)
        {
            Yaml.Error(node.Start, $"'{at}' must be a condition such as {{ hours: \"09:00-18:00\" }} or {{ all: [...] }}");
            return null;
        }

        // Several keys in one mapping must all hold, like an 'all' of one-key mappings.
        var parts = new List<Condition>();
        var failed = false;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            var field = $"{at}.{key}";
            Condition? part = key switch
            {
                "all" => Children(value, field, depth) is { } all ? new AllCondition(all) : null,
                "any" => Children(value, field, depth) is { } any ? new AnyCondition(any) : null,
                "not" => ReadCondition(value, field, depth + 1) is { } inner ? new NotCondition(inner) : null,
                "hours" => Hours(value, field),
                "weekdays" => Weekdays(value, field),
                "session_count" => Range(value, field) is var (min, max) ? new SessionCountCondition(min, max) : null,
                "arg_count" => Range(value, field) is var (lo, hi) ? new ArgCountCondition(lo, hi) : null,
                "arg" => Patterns(value, field, GlobFlavor.Text) is { } arg ? new ArgCondition(arg) : null,
                "args" => Patterns(value, field, GlobFlavor.Text) is { } args ? new ArgLineCondition(args) : null,
                "path" => PathPatterns(value, field) is { } path ? new PathCondition(path) : null,
                _ => Unknown<Condition?>(keyNode, key, ConditionFields, at + ".", null),
            };
            failed |= part is null;
            if (part is not null)
            {
                parts.Add(part);
            }
        }

        return failed ? null : parts.Count == 1 ? parts[0] : new AllCondition([.. parts]);
    }

    private Condition[]? Children(YamlNode node, string field, int depth)
    {
        if (node is not YamlSequenceNode sequence || sequence.Children.Count == 0)
        {
            Yaml.Error(node.Start, $"'{field}' must be a non-empty list of conditions");
            return null;
        }

        var children = new List<Condition>();
        var failed = false;
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var child = ReadCondition(sequence.Children[i], $"{field}[{i}]", depth + 1);
            failed |= child is null;
            if (child is not null)
            {
                children.Add(child);
            }
        }

        return failed ? null : [.. children];
    }

    private HoursCondition? Hours(YamlNode node, string field)
    {
        var text = Yaml.Text(node, field);
        if (text is null)
        {
            return null;
        }

        var dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash > 0 && Minute(text[..dash]) is { } from && Minute(text[(dash + 1)..]) is { } to && from != to)
        {
            return new HoursCondition(from, to);
        }

        Yaml.Error(node.Start, $"'{field}' must be a range of 24-hour times such as \"09:00-18:00\" (or \"22:00-06:00\" across midnight), not '{text}'");
        return null;
    }

    private static int? Minute(string text)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon > 0
            && int.TryParse(text.AsSpan(0, colon).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var hour)
            && int.TryParse(text.AsSpan(colon + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var minute)
            && hour is >= 0 and <= 24 && minute is >= 0 and < 60 && (hour < 24 || minute == 0)
            ? (hour * 60) + minute
            : null;
    }

    private WeekdaysCondition? Weekdays(YamlNode node, string field)
    {
        var mask = 0;
        var failed = false;
        var shown = new List<string>();
        foreach (var (text, item) in Strings(node, field))
        {
            var day = Array.IndexOf(Days, text.ToLowerInvariant());
            if (day < 0)
            {
                Yaml.Error(item.Start, $"'{field}' must list days as {string.Join(", ", Days)}, not '{text}'");
                failed = true;
                continue;
            }

            mask |= 1 << day;
            shown.Add(Days[day]);
        }

        return failed || mask == 0 ? null : new WeekdaysCondition(mask, string.Join(",", shown));
    }

    private (long? Min, long? Max)? Range(YamlNode node, string field)
    {
        if (node is not YamlMappingNode map || map.Children.Count == 0)
        {
            Yaml.Error(node.Start, $"'{field}' must be a range such as {{ min: 1, max: 50 }} (either end may be left out)");
            return null;
        }

        long? min = null, max = null;
        var failed = false;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            switch (key)
            {
                case "min":
                    min = Yaml.WholeNumber(value, $"{field}.min", 0, int.MaxValue);
                    failed |= min is null;
                    break;
                case "max":
                    max = Yaml.WholeNumber(value, $"{field}.max", 0, int.MaxValue);
                    failed |= max is null;
                    break;
                default:
                    UnknownField(keyNode, key, RangeFields, field + ".");
                    failed = true;
                    break;
            }
        }

        if (min > max)
        {
            Yaml.Error(node.Start, $"'{field}' has min {min} above max {max}; nothing could match");
            failed = true;
        }

        return failed ? null : (min, max);
    }

    private PatternSet? Patterns(YamlNode node, string field, GlobFlavor flavor)
    {
        var patterns = new List<TextPattern>();
        var failed = false;
        foreach (var (text, item) in Strings(node, field))
        {
            if (TextPattern.Compile(text, flavor, out var error) is { } pattern)
            {
                WarnIfBacktracking(pattern, item, field);
                patterns.Add(pattern);
            }
            else
            {
                Yaml.Error(item.Start, $"'{field}': {error}");
                failed = true;
            }
        }

        return failed || patterns.Count == 0 ? null : new PatternSet([.. patterns]);
    }

    private PathPatterns? PathPatterns(YamlNode node, string field)
    {
        var relative = new List<TextPattern>();
        var absolute = new List<TextPattern>();
        var failed = false;
        foreach (var (text, item) in Strings(node, field))
        {
            if (TextPattern.Compile(text, GlobFlavor.Path, out var error) is { } pattern)
            {
                WarnIfBacktracking(pattern, item, field);
                (text.StartsWith('/') ? absolute : relative).Add(pattern);
            }
            else
            {
                Yaml.Error(item.Start, $"'{field}': {error}");
                failed = true;
            }
        }

        return failed || relative.Count + absolute.Count == 0 ? null
            : new PathPatterns(relative.Count == 0 ? null : new PatternSet([.. relative]), absolute.Count == 0 ? null : new PatternSet([.. absolute]));
    }

    // Such a pattern can take exponential time, so only its timeout bounds it, and a timeout denies: worth knowing.
    private void WarnIfBacktracking(TextPattern pattern, YamlNode item, string field)
    {
        if (pattern.Backtracks)
        {
            Yaml.Warning(item.Start,
                $"'{field}': the pattern '{pattern.Text}' needs the backtracking engine (a backreference, lookaround or atomic group), " +
                $"so it runs with a {YamlReader.Show((long)TextPattern.BacktrackingTimeout.TotalMilliseconds)} ms timeout and a proposal it times out on is denied; write it without them to run in linear time");
        }
    }

    /// <summary>One value or a list of values, each non-empty text.</summary>
    private List<(string Text, YamlNode Node)> Strings(YamlNode node, string field)
    {
        var values = new List<(string, YamlNode)>();
        if (node is YamlSequenceNode sequence)
        {
            if (sequence.Children.Count == 0)
            {
                Yaml.Error(node.Start, $"'{field}' is an empty list, which would match nothing; remove the field or give values");
            }

            foreach (var child in sequence.Children)
            {
                if (Yaml.Text(child, field) is { } text)
                {
                    values.Add((text, child));
                }
            }
        }
        else if (Yaml.Text(node, field) is { } text)
        {
            values.Add((text, node));
        }

        return values;
    }

    private int? OneOf(YamlNode node, string field, string[] allowed)
    {
        var text = Yaml.Text(node, field);
        if (text is null)
        {
            return null;
        }

        var index = Array.IndexOf(allowed, text);
        if (index < 0)
        {
            Yaml.Error(node.Start, $"'{field}' must be one of {string.Join(", ", allowed)}, not '{text}'");
            return null;
        }

        return index;
    }

    // Unknown fields in rules are errors, not the usual warnings: an ignored match field or condition would
    private TimeSpan? MaxTimeout(YamlNode node, string field, string text)
    {
        if (!Text.DurationText.TryParse(text, out var duration) || duration <= TimeSpan.Zero || duration > TimeSpan.FromDays(1))
        {
            Yaml.Error(node.Start, $"'{field}' must be {Text.DurationText.Expected}, more than zero and at most 1d, such as 30m; not '{text}'");
            return null;
        }

        return duration;
    }

    // silently widen the rule (a misspelt 'comand' on an allow rule would allow every command).
    private void UnknownField(YamlNode keyNode, string key, string[] known, string parent) =>
        Yaml.Error(keyNode.Start, $"unknown field '{parent}{key}'; known fields: {string.Join(", ", known)}");

    private T Unknown<T>(YamlNode keyNode, string key, string[] known, string parent, T result)
    {
        UnknownField(keyNode, key, known, parent);
        return result;
    }
}
