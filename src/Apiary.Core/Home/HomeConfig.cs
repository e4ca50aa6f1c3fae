using Apiary.Agents;
using Apiary.Configuration;
using Apiary.Text;
using YamlDotNet.RepresentationModel;

namespace Apiary.Home;

/// <summary>
/// The home-wide settings in <c>apiary.yaml</c>: defaults for every agent (used where its frontmatter is silent), the
/// prompt caps, how long the event log keeps bodies, when an agent's memory is compacted and which host names the server
/// answers to, and where telemetry is exported (nowhere by default). A missing file means no home defaults.
/// </summary>
public sealed record HomeConfig
{
    /// <summary>The sections <c>apiary.yaml</c> may hold.</summary>
    public static readonly IReadOnlyList<string> Sections = ["defaults", "prompt", "retention", "memory", "server", "telemetry"];

    /// <summary>The agent fields a home may give defaults for (an agent's description and workspace are its own).</summary>
    public static readonly IReadOnlyList<string> DefaultFields =
        ["role", "model", "tool_profile", "template", "allowed_recipients", "budget"];

    /// <summary>The fields of the <c>prompt</c> section.</summary>
    public static readonly IReadOnlyList<string> PromptFields = ["section_chars", "total_chars"];

    /// <summary>The fields of the <c>retention</c> section.</summary>
    public static readonly IReadOnlyList<string> RetentionFields = ["bodies"];

    /// <summary>The fields of the <c>memory</c> section.</summary>
    public static readonly IReadOnlyList<string> MemoryFields = ["compact_at"];

    /// <summary>The fields of the <c>server</c> section.</summary>
    public static readonly IReadOnlyList<string> ServerFields = ["allowed_hosts"];

    /// <summary>
    /// The size, in characters, past which an agent's <c>MEMORY.md</c> is compacted when the home does not set
    /// <c>memory.compact_at</c>: under the default prompt section cap (20,000), so a memory is never cut in the prompt.
    /// </summary>
    public const int DefaultMemoryCompactAt = 16_000;

    /// <summary>The smallest <c>memory.compact_at</c>: below it nearly every remembered fact would start a compaction.</summary>
    public const int MinMemoryCompactAt = 1_000;

    /// <summary>The largest <c>memory.compact_at</c>: at four bytes a character at most, a memory stays under the 1 MiB a prompt file may have.</summary>
    public const int MaxMemoryCompactAt = 262_144;

    /// <summary>Settings that apply no home defaults.</summary>
    public static HomeConfig Empty { get; } = new();

    /// <summary>Defaults for agent settings.</summary>
    public AgentManifest Defaults { get; init; } = AgentManifest.Empty;

    /// <summary>The cap on each prompt section, in characters, if the home sets one.</summary>
    public int? SectionChars { get; init; }

    /// <summary>The cap on a whole prompt, in characters, if the home sets one.</summary>
    public int? TotalChars { get; init; }

    /// <summary>
    /// How long the event log keeps event bodies (command output, message bodies) before <c>apiary audit purge</c> deletes
    /// them; the events themselves and the hash chain are kept. Null when the home keeps bodies forever.
    /// </summary>
    public TimeSpan? RetainBodies { get; init; }

    /// <summary>
    /// The size, in characters, past which the server asks an agent's model to compact its <c>MEMORY.md</c>, if the home
    /// sets one (<c>memory.compact_at</c>); <see cref="DefaultMemoryCompactAt"/> otherwise.
    /// </summary>
    public int? MemoryCompactAt { get; init; }

    /// <summary>
    /// The host names the server answers to besides its own addresses and the loopback names (<c>server.allowed_hosts</c>);
    /// a request whose <c>Host</c> header names any other is refused. Empty by default.
    /// </summary>
    public IReadOnlyList<AllowedHost> AllowedHosts { get; init; } = [];

    /// <summary>
    /// Where the server exports traces, metrics and logs over OTLP (<c>telemetry</c>); <see cref="TelemetrySettings.Off"/>
    /// by default, when nothing is sent anywhere.
    /// </summary>
    public TelemetrySettings Telemetry { get; init; } = TelemetrySettings.Off;

    /// <summary>Reads <paramref name="home"/>'s <c>apiary.yaml</c>, if it has one.</summary>
    /// <returns>The settings (null when there are errors) and what was found wrong.</returns>
    public static async Task<(HomeConfig? Config, IReadOnlyList<Diagnostic> Diagnostics)> LoadAsync(
        ApiaryHome home, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(home);
        if (!File.Exists(home.ConfigFile))
        {
            return (Empty, []);
        }

        var text = await File.ReadAllTextAsync(home.ConfigFile, cancellationToken).ConfigureAwait(false);
        return Parse(text, home.ConfigFile);
    }

    /// <summary>Parses the text of an <c>apiary.yaml</c> read from <paramref name="file"/>.</summary>
    public static (HomeConfig? Config, IReadOnlyList<Diagnostic> Diagnostics) Parse(string text, string file)
    {
        var reader = new ManifestReader(file, firstLine: 1);
        var config = Empty;
        var root = reader.Yaml.LoadRoot(text);
        if (root is YamlMappingNode map)
        {
            foreach (var (keyNode, value) in map.Children)
            {
                var key = YamlReader.KeyOf(keyNode);
                switch (key)
                {
                    case "defaults" when value is YamlMappingNode defaults:
                        config = config with { Defaults = reader.ReadMap(defaults, DefaultFields) };
                        break;
                    case "prompt" when value is YamlMappingNode prompt:
                        config = ReadSection(reader, prompt, key, PromptFields, config, (c, field, v) => field == "prompt.section_chars"
                            ? c with { SectionChars = Cap(reader, v, field) }
                            : c with { TotalChars = Cap(reader, v, field) });
                        break;
                    case "retention" when value is YamlMappingNode retention:
                        config = ReadSection(reader, retention, key, RetentionFields, config, (c, field, v) => c with { RetainBodies = Age(reader, v, field) });
                        break;
                    case "memory" when value is YamlMappingNode memory:
                        config = ReadSection(reader, memory, key, MemoryFields, config, (c, field, v) =>
                            c with { MemoryCompactAt = (int?)reader.Yaml.WholeNumber(v, field, MinMemoryCompactAt, MaxMemoryCompactAt) });
                        break;
                    case "server" when value is YamlMappingNode server:
                        config = ReadSection(reader, server, key, ServerFields, config, (c, field, v) => c with { AllowedHosts = Hosts(reader, v, field) });
                        break;
                    case "telemetry" when value is YamlMappingNode telemetry:
                        config = ReadSection(reader, telemetry, key, TelemetrySettings.Fields, config, (c, field, v) => c with { Telemetry = ReadTelemetry(reader, c.Telemetry, v, field) });
                        if (!config.Telemetry.Exports && telemetry.Children.Count > 0 && !reader.HasErrors)
                        {
                            reader.Yaml.Warning(keyNode.Start, "'telemetry' has no 'otlp_endpoint', so nothing is exported; add one, such as otlp_endpoint: http://localhost:4317");
                        }

                        break;
                    case "defaults" or "prompt" or "retention" or "memory" or "server" or "telemetry":
                        if (!YamlReader.IsNull(value))
                        {
                            reader.Yaml.Error(value.Start, $"'{key}' must be a mapping of fields");
                        }

                        break;
                    default:
                        reader.Yaml.WarnUnknown(keyNode, key, Sections, "");
                        break;
                }
            }
        }
        else if (root is not null)
        {
            reader.Yaml.Error(root.Start, "apiary.yaml must be a mapping with 'defaults', 'prompt', 'retention', 'memory', 'server' and 'telemetry' sections");
        }

        return (reader.HasErrors ? null : config, reader.Diagnostics);
    }

    // One section's fields: an unknown one is warned about, an empty one is warned about and left out, and each other
    // is read by the section's own reader.
    private static HomeConfig ReadSection(
        ManifestReader reader, YamlMappingNode section, string name, IReadOnlyList<string> fields, HomeConfig config, Func<HomeConfig, string, YamlNode, HomeConfig> read)
    {
        foreach (var (keyNode, value) in section.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            if (!fields.Contains(key))
            {
                reader.Yaml.WarnUnknown(keyNode, key, fields, name + ".");
            }
            else if (YamlReader.IsNull(value))
            {
                reader.Yaml.WarnEmpty(keyNode, $"{name}.{key}");
            }
            else
            {
                config = read(config, $"{name}.{key}", value);
            }
        }

        return config;
    }

    private static TimeSpan? Age(ManifestReader reader, YamlNode node, string field)
    {
        var value = reader.Yaml.Text(node, field);
        if (value is null)
        {
            return null;
        }

        // Zero would make every body purgeable the moment it is written, which no retention period means.
        if (!DurationText.TryParse(value, out var age) || age <= TimeSpan.Zero)
        {
            reader.Yaml.Error(node.Start, $"'{field}' must be {DurationText.Expected}, and more than zero, not '{value}'");
            return null;
        }

        return age;
    }

    private static List<AllowedHost> Hosts(ManifestReader reader, YamlNode node, string field)
    {
        var hosts = new List<AllowedHost>();
        if (node is not YamlSequenceNode list)
        {
            reader.Yaml.Error(node.Start, $"'{field}' must be a list of host names, such as [apiary.example.org, 192.168.1.20:7171]");
            return hosts;
        }

        foreach (var item in list.Children)
        {
            if (reader.Yaml.Text(item, field) is not { } text)
            {
                continue;
            }

            if (AllowedHost.TryParse(text, out var host, out var error))
            {
                hosts.Add(host);
            }
            else
            {
                reader.Yaml.Error(item.Start, $"'{field}': {error}");
            }
        }

        return hosts;
    }

    // One field of the telemetry section: the endpoint must be an absolute http or https URL, the protocol one OTLP names.
    private static TelemetrySettings ReadTelemetry(ManifestReader reader, TelemetrySettings settings, YamlNode node, string field)
    {
        if (reader.Yaml.Text(node, field) is not { } text)
        {
            return settings;
        }

        switch (field)
        {
            case "telemetry.otlp_endpoint":
                if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
                    && uri.Host.Length > 0 && string.IsNullOrEmpty(uri.UserInfo) && uri.Query.Length == 0 && uri.Fragment.Length == 0)
                {
                    return settings with { OtlpEndpoint = uri };
                }

                reader.Yaml.Error(node.Start, $"'{field}' must be an absolute http or https URL of an OTLP collector, such as http://localhost:4317, without credentials, query or fragment; not '{text}'");
                return settings;
            case "telemetry.protocol":
                if (text is "grpc" or "http/protobuf")
                {
                    return settings with { Protocol = text == "grpc" ? TelemetryProtocol.Grpc : TelemetryProtocol.HttpProtobuf };
                }

                reader.Yaml.Error(node.Start, $"'{field}' must be grpc or http/protobuf, not '{text}'");
                return settings;
            default:
                if (text.Trim().Length == 0)
                {
                    reader.Yaml.Error(node.Start, $"'{field}' must not be empty");
                    return settings;
                }

                return settings with { ServiceName = text.Trim() };
        }
    }

    private static int? Cap(ManifestReader reader, YamlNode node, string field)
    {
        var value = reader.Yaml.WholeNumber(node, field, 0, int.MaxValue);
        if (value is < PromptOptions.MinimumCap)
        {
            reader.Yaml.Error(node.Start, $"'{field}' must be at least {PromptOptions.MinimumCap} characters");
            return null;
        }

        return (int?)value;
    }
}
