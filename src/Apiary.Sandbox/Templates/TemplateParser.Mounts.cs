using Apiary.Configuration;
using Apiary.IO;
using YamlDotNet.RepresentationModel;

namespace Apiary.Sandbox.Templates;

internal sealed partial class TemplateParser
{
    /// <summary>The fields of one entry of <c>mounts</c>.</summary>
    public static readonly IReadOnlyList<string> MountFields = ["host", "sandbox", "read_only"];

    /// <summary>
    /// Host locations no template may mount, nor anything inside them, nor anything that contains them; with why.
    /// The Apiary home in use is refused the same way.
    /// </summary>
    public static readonly IReadOnlyList<(string Path, string Reason)> SensitiveHostPaths =
    [
        ("/etc/shadow", "it holds the host's password hashes"),
        ("/etc/gshadow", "it holds the host's group password hashes"),
        ("/root", "it is the root user's home, with its keys and credentials"),
        ("/proc", "it exposes the host's processes and kernel settings"),
        ("/sys", "it exposes the host's kernel and devices"),
        ("/dev", "it holds the host's devices"),
        ("/boot", "it holds the host's kernel and boot loader"),
    ];

    /// <summary>Sandbox locations Apiary itself provides; a mount may be neither one of them nor inside one.</summary>
    public static readonly IReadOnlyList<(string Path, string Reason)> ReservedSandboxPaths =
    [
        ("/proc", "it is the sandbox's own process file system"),
        ("/dev", "it holds the sandbox's own minimal devices"),
        ("/workspace", "it is the session's workspace, which Apiary mounts"),
        ("/run/secrets", "it is where Apiary delivers secrets"),
    ];

    private List<TemplateMount>? ReadMounts(YamlNode node)
    {
        if (node is not YamlSequenceNode sequence)
        {
            _yaml.Error(node.Start, "'mounts' must be a list of { host: /path, sandbox: /path, read_only: true }");
            return null;
        }

        var mounts = new List<TemplateMount>();
        var targets = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var item = sequence.Children[i];
            var field = $"mounts[{i}]";
            if (ReadMount(item, field) is not { } mount)
            {
                continue;
            }

            if (targets.TryGetValue(mount.SandboxPath, out var other))
            {
                _yaml.Error(item.Start, $"'{field}' mounts at {mount.SandboxPath}, as '{other}' already does; each sandbox path may be mounted once");
                continue;
            }

            targets.Add(mount.SandboxPath, field);
            mounts.Add(mount);
        }

        return mounts;
    }

    private TemplateMount? ReadMount(YamlNode node, string field)
    {
        if (node is not YamlMappingNode map)
        {
            _yaml.Error(node.Start, $"'{field}' must be a mapping such as {{ host: /opt/data, sandbox: /data, read_only: true }}");
            return null;
        }

        string? host = null;
        string? target = null;
        bool? readOnly = true;
        var seenHost = false;
        var seenSandbox = false;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            switch (key)
            {
                case "host":
                    seenHost = true;
                    host = HostPath(value, $"{field}.host");
                    break;
                case "sandbox":
                    seenSandbox = true;
                    target = SandboxPath(value, $"{field}.sandbox");
                    break;
                case "read_only":
                    if (YamlReader.IsNull(value))
                    {
                        _yaml.WarnEmpty(keyNode, $"{field}.read_only");
                    }
                    else
                    {
                        readOnly = _yaml.Boolean(value, $"{field}.read_only");
                    }

                    break;
                default:
                    _yaml.WarnUnknown(keyNode, key, MountFields, field + ".");
                    break;
            }
        }

        if (!seenHost)
        {
            _yaml.Error(node.Start, $"'{field}' needs 'host': the absolute path on this machine to make visible");
        }

        if (!seenSandbox)
        {
            _yaml.Error(node.Start, $"'{field}' needs 'sandbox': the absolute path it appears at inside the sandbox");
        }

        return host is not null && target is not null && readOnly is { } ro ? new TemplateMount(host, target, ro) : null;
    }

    /// <summary>The canonical host path (every symbolic link followed), if it exposes nothing sensitive and exists.</summary>
    private string? HostPath(YamlNode node, string field)
    {
        var raw = AbsolutePath(node, field, "/opt/data");
        if (raw is null)
        {
            return null;
        }

        string canonical;
        try
        {
            canonical = PathResolver.Resolve(raw);
        }
        catch (IOException ex)
        {
            _yaml.Error(node.Start, $"'{field}' {raw} cannot be resolved: {ex.Message}");
            return null;
        }

        // Sensitive locations are refused whether or not they exist here, so a template refused on one machine is
        // refused on every machine.
        var shown = canonical == raw ? raw : $"{raw} (resolved to {canonical})";
        var refused = SensitiveHostPaths
            .Append((_apiaryHome, "it is the Apiary home: an agent could read or change its own definition, policies and settings"))
            .Select(s => Exposes(canonical, s.Item1, s.Item2))
            .FirstOrDefault(r => r is not null);
        if (refused is not null)
        {
            _yaml.Error(node.Start, $"'{field}' {shown} {refused}");
            return null;
        }

        if (!File.Exists(canonical) && !Directory.Exists(canonical))
        {
            _yaml.Error(node.Start, $"'{field}' {shown} does not exist on this machine");
            return null;
        }

        return canonical;
    }

    /// <summary>Why mounting <paramref name="canonical"/> would expose <paramref name="sensitive"/>, or null when it does not.</summary>
    private static string? Exposes(string canonical, string sensitive, string reason)
    {
        var resolved = Canonical(sensitive);
        if (PathResolver.IsSameOrInside(canonical, resolved))
        {
            var where = canonical == resolved ? "is" : "is inside";
            return $"is refused: it {where} {sensitive}, and {reason}";
        }

        if (PathResolver.IsSameOrInside(resolved, canonical))
        {
            return $"is refused: it contains {sensitive}, and {reason}";
        }

        return null;
    }

    /// <summary>The sandbox path with empty and '.' parts removed, if it is absolute, has no '..' and is not Apiary's own.</summary>
    private string? SandboxPath(YamlNode node, string field)
    {
        var raw = AbsolutePath(node, field, "/data");
        if (raw is null)
        {
            return null;
        }

        var parts = raw.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".").ToList();
        if (parts.Contains(".."))
        {
            _yaml.Error(node.Start, $"'{field}' {raw} must not contain '..'; write the path it means directly");
            return null;
        }

        var path = "/" + string.Join('/', parts);
        if (path == "/")
        {
            _yaml.Error(node.Start, $"'{field}' must not be /: a mount there would replace the sandbox's whole system");
            return null;
        }

        foreach (var (reserved, reason) in ReservedSandboxPaths)
        {
            if (PathResolver.IsSameOrInside(path, reserved))
            {
                var where = path == reserved ? "is" : "is inside";
                _yaml.Error(node.Start, $"'{field}' {raw} is refused: it {where} {reserved}, and {reason}");
                return null;
            }
        }

        return path;
    }

    private string? AbsolutePath(YamlNode node, string field, string example)
    {
        var value = _yaml.Text(node, field);
        if (value is null)
        {
            return null;
        }

        if (Text.ProcessText.Problem(value, lineBreaks: false) is { } problem)
        {
            _yaml.Error(node.Start, $"'{field}' {problem}");
            return null;
        }

        if (!value.StartsWith('/'))
        {
            var tilde = value.StartsWith('~') ? "; '~' is not expanded here, so write the full path" : "";
            _yaml.Error(node.Start, $"'{field}' must be an absolute path such as {example}, not '{value}'{tilde}");
            return null;
        }

        return value;
    }

    private static string Canonical(string path)
    {
        try
        {
            return PathResolver.Resolve(Path.GetFullPath(path));
        }
        catch (IOException)
        {
            return Path.GetFullPath(path);
        }
    }
}
