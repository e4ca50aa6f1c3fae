using Apiary.Configuration;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Apiary.Sandbox.Templates;

internal sealed partial class TemplateParser
{
    /// <summary>The fields of one entry of <c>secrets</c> written as a mapping.</summary>
    public static readonly IReadOnlyList<string> SecretFields = ["name", "as"];

    /// <summary>Environment variables no template may set, with why: each makes every program load code it names.</summary>
    public static readonly IReadOnlyDictionary<string, string> RefusedVariables = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["LD_PRELOAD"] = "it makes the dynamic linker load the named libraries into every program the sandbox runs",
        ["LD_LIBRARY_PATH"] = "it makes the dynamic linker look for libraries in other folders first, so every program can be given substitutes",
        ["LD_AUDIT"] = "it makes the dynamic linker load the named auditing libraries into every program the sandbox runs",
    };

    // The secret store's limit on names (Apiary.Secrets.SecretName.MaxLength).
    private const int MaxSecretNameLength = 128;

    private const string VariableRule = "letters, digits and '_', not starting with a digit";

    private readonly Dictionary<string, Mark> _secretMarks = new(StringComparer.Ordinal);

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex VariableName();

    private Dictionary<string, string>? ReadEnv(YamlNode node)
    {
        if (node is not YamlMappingNode map)
        {
            _yaml.Error(node.Start, "'env' must be a mapping of NAME: value, such as { PYTHONDONTWRITEBYTECODE: \"1\" }");
            return null;
        }

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in map.Children)
        {
            var name = YamlReader.KeyOf(keyNode);
            var field = $"env.{name}";
            if (CheckVariable(name, environment: true) is { } reason)
            {
                _yaml.Error(keyNode.Start, $"'{field}' {reason}");
                continue;
            }

            if (YamlReader.IsNull(value))
            {
                _yaml.Warning(keyNode.Start, $"'{field}' has no value, so it is not set; give it a value (\"\" for empty) or remove the line");
                continue;
            }

            // Values are taken as written, spaces included: they are the program's business, not the template's.
            if (value is not YamlScalarNode { Value: { } text })
            {
                _yaml.Error(value.Start, $"'{field}' must be a single text value, not a list or a mapping");
                continue;
            }

            if (Text.ProcessText.Problem(text, lineBreaks: true) is { } problem)
            {
                _yaml.Error(value.Start, $"'{field}' {problem}");
                continue;
            }

            env[name] = text;
        }

        return env;
    }

    private List<TemplateSecret>? ReadSecrets(YamlNode node)
    {
        if (node is not YamlSequenceNode sequence)
        {
            _yaml.Error(node.Start, "'secrets' must be a list of names, or of { name: NAME, as: env|file }");
            return null;
        }

        var secrets = new List<TemplateSecret>();
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var item = sequence.Children[i];
            var field = $"secrets[{i}]";
            if (ReadSecret(item, field) is not { } secret)
            {
                continue;
            }

            if (_secretMarks.ContainsKey(secret.Name))
            {
                _yaml.Error(item.Start, $"'{field}' lists the secret '{secret.Name}' again; list each secret once");
                continue;
            }

            _secretMarks.Add(secret.Name, item.Start);
            secrets.Add(secret);
        }

        return secrets;
    }

    private TemplateSecret? ReadSecret(YamlNode node, string field)
    {
        if (node is YamlScalarNode)
        {
            var name = _yaml.Text(node, field);
            return name is not null && SecretName(node, field, name, SecretDelivery.Environment) ? new TemplateSecret(name) : null;
        }

        if (node is not YamlMappingNode map)
        {
            _yaml.Error(node.Start, $"'{field}' must be a name, or a mapping such as {{ name: API_TOKEN, as: file }}");
            return null;
        }

        (YamlNode Node, string? Value)? named = null;
        var delivery = (SecretDelivery?)SecretDelivery.Environment;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            switch (key)
            {
                case "name":
                    named = (value, _yaml.Text(value, $"{field}.name"));
                    break;
                case "as":
                    delivery = Delivery(value, $"{field}.as");
                    break;
                default:
                    _yaml.WarnUnknown(keyNode, key, SecretFields, field + ".");
                    break;
            }
        }

        if (named is null)
        {
            _yaml.Error(node.Start, $"'{field}' needs 'name': the secret's name in the secret store");
            return null;
        }

        if (named.Value.Value is not { } secretName || delivery is not { } how)
        {
            return null;
        }

        return SecretName(named.Value.Node, $"{field}.name", secretName, how) ? new TemplateSecret(secretName, how) : null;
    }

    private SecretDelivery? Delivery(YamlNode node, string field)
    {
        var value = _yaml.Text(node, field);
        switch (value)
        {
            case null:
                return null;
            case "env":
                return SecretDelivery.Environment;
            case "file":
                return SecretDelivery.File;
            default:
                _yaml.Error(node.Start, $"'{field}' must be 'env' (an environment variable) or 'file' (/run/secrets/NAME), not '{value}'");
                return null;
        }
    }

    private bool SecretName(YamlNode node, string field, string name, SecretDelivery delivery)
    {
        if (name.Length > MaxSecretNameLength)
        {
            _yaml.Error(node.Start, $"'{field}': a secret name may be at most {MaxSecretNameLength} characters; this one has {name.Length}");
            return false;
        }

        if (CheckVariable(name, delivery == SecretDelivery.Environment) is { } reason)
        {
            _yaml.Error(node.Start, $"'{field}': the secret name '{name}' {reason}");
            return false;
        }

        return true;
    }

    /// <summary>What is wrong with <paramref name="name"/> as a variable (or secret file) name, to follow the name; or null.</summary>
    private static string? CheckVariable(string name, bool environment)
    {
        if (!VariableName().IsMatch(name))
        {
            return $"is not a valid name: use {VariableRule}";
        }

        return environment && RefusedVariables.TryGetValue(name, out var reason) ? $"is refused as an environment variable: {reason}" : null;
    }

    /// <summary>A secret delivered as an environment variable and an <c>env</c> entry of the same name would overwrite each other.</summary>
    private void CheckEnvAgainstSecrets(SandboxTemplate template)
    {
        foreach (var secret in template.Secrets.Where(s => s.Delivery == SecretDelivery.Environment && template.Env.ContainsKey(s.Name)))
        {
            _yaml.Error(_secretMarks[secret.Name], $"'secrets' delivers '{secret.Name}' as an environment variable, which 'env' also sets; remove one of them");
        }
    }
}
