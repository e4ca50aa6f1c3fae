using Apiary.Configuration;
using Apiary.Agents;
using YamlDotNet.RepresentationModel;

namespace Apiary.Sandbox.Templates;

/// <summary>
/// Reads the text of one template file into a <see cref="SandboxTemplate"/>. Split by concern: resources, egress,
/// mounts, and environment with secrets each have a partial file.
/// </summary>
internal sealed partial class TemplateParser
{
    /// <summary>The top-level fields of a template.</summary>
    public static readonly IReadOnlyList<string> Fields = ["description", "resources", "egress", "mounts", "env", "secrets"];

    // Fields of an older draft of the format (the first sample default.yaml), so a home written by it gets pointed to
    // the new spelling instead of a bare "unknown field".
    private static readonly Dictionary<string, string> RenamedFields = new(StringComparer.Ordinal)
    {
        ["network"] = "egress",
        ["timeout"] = "resources.timeout",
        ["output_limit"] = "resources.output_limit",
        ["memory"] = "resources.memory_mb",
        ["memory_mb"] = "resources.memory_mb",
        ["cpus"] = "resources.cpus",
        ["pids"] = "resources.pids",
        ["processes"] = "resources.pids",
        ["cpu_time"] = "resources.cpu_time",
        ["open_files"] = "resources.open_files",
        ["file_size"] = "resources.file_size_mb",
        ["file_size_mb"] = "resources.file_size_mb",
        ["disk_mb"] = "resources.disk_mb",
    };

    private readonly string _name;
    private readonly string _file;
    private readonly string _apiaryHome;
    private readonly YamlReader _yaml;

    public TemplateParser(string name, string file, string apiaryHome)
    {
        _name = name;
        _file = file;
        _apiaryHome = apiaryHome;
        _yaml = new YamlReader(file);
    }

    public TemplateLoadResult Parse(string text)
    {
        var template = new SandboxTemplate { Name = _name };
        if (SettingRules.CheckName("template", _name) is { } invalid)
        {
            _yaml.Error(invalid);
        }

        var root = _yaml.LoadRoot(text);
        if (root is YamlMappingNode map)
        {
            template = ReadFields(map, template);
        }
        else if (root is not null)
        {
            _yaml.Error(root.Start, "a template must be a YAML mapping of fields (such as 'egress: none'), not a list or a single value");
        }

        return new TemplateLoadResult(_name, _file, _yaml.HasErrors ? null : template, _yaml.Diagnostics);
    }

    private SandboxTemplate ReadFields(YamlMappingNode map, SandboxTemplate template)
    {
        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            if (!Fields.Contains(key, StringComparer.Ordinal))
            {
                _yaml.WarnUnknown(keyNode, key, Fields, "", RenamedFields);
                continue;
            }

            if (YamlReader.IsNull(value))
            {
                _yaml.WarnEmpty(keyNode, key);
                continue;
            }

            template = key switch
            {
                "description" => _yaml.Text(value, key) is { } description ? template with { Description = description } : template,
                "resources" => ReadResources(value, template),
                "egress" => ReadEgress(value) is { } egress ? template with { Egress = egress } : template,
                "mounts" => ReadMounts(value) is { } mounts ? template with { Mounts = mounts } : template,
                "env" => ReadEnv(value) is { } env ? template with { Env = env } : template,
                "secrets" => ReadSecrets(value) is { } secrets ? template with { Secrets = secrets } : template,
                _ => template,
            };
        }

        CheckEnvAgainstSecrets(template);
        return template;
    }
}
