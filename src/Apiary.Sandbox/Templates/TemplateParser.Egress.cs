using Apiary.Configuration;
using YamlDotNet.RepresentationModel;

namespace Apiary.Sandbox.Templates;

internal sealed partial class TemplateParser
{
    /// <summary>The fields of <c>egress</c> when it is a mapping.</summary>
    public static readonly IReadOnlyList<string> EgressFields = ["allow"];

    /// <summary>Why a valid allowlist is refused today.</summary>
    public const string AllowlistUnsupported = "egress allowlists are not supported yet: the egress proxy does not exist; use egress: none";

    private const int MaxDomainLength = 253;
    private const int MaxLabelLength = 63;

    private EgressPolicy? ReadEgress(YamlNode node)
    {
        if (node is YamlScalarNode)
        {
            var value = _yaml.Text(node, "egress");
            if (value is null or "none")
            {
                return value is null ? null : EgressPolicy.None;
            }

            _yaml.Error(node.Start, $"'egress' must be 'none' or a mapping {{ allow: [domains] }}, not '{value}'");
            return null;
        }

        if (node is not YamlMappingNode map)
        {
            _yaml.Error(node.Start, "'egress' must be 'none' or a mapping { allow: [domains] }, not a list");
            return null;
        }

        List<string>? domains = null;
        var valid = true;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            if (key != "allow")
            {
                _yaml.WarnUnknown(keyNode, key, EgressFields, "egress.");
                continue;
            }

            (domains, valid) = ReadDomains(keyNode, value);
        }

        if (domains is null)
        {
            if (valid)
            {
                _yaml.Error(node.Start, "'egress' as a mapping needs 'allow: [domains]'; for no network write 'egress: none'");
            }

            return null;
        }

        // The entries are checked in full first (their errors come before this one), so a template written for the
        // proxy is already right when the proxy comes; until then no allowlist loads, valid or not.
        _yaml.Error(node.Start, AllowlistUnsupported);
        return null;
    }

    /// <returns>The domains (null when the list itself is missing or malformed) and whether every entry was valid.</returns>
    private (List<string>? Domains, bool Valid) ReadDomains(YamlNode keyNode, YamlNode node)
    {
        if (YamlReader.IsNull(node) || node is YamlSequenceNode { Children.Count: 0 })
        {
            _yaml.Error(keyNode.Start, "'egress.allow' must list at least one domain; for no network write 'egress: none'");
            return (null, false);
        }

        if (node is not YamlSequenceNode sequence)
        {
            _yaml.Error(node.Start, "'egress.allow' must be a list of domains, such as [pypi.org, '*.github.com']");
            return (null, false);
        }

        var domains = new List<string>();
        var valid = true;
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var item = sequence.Children[i];
            var field = $"egress.allow[{i}]";
            var domain = _yaml.Text(item, field);
            if (domain is null)
            {
                valid = false;
                continue;
            }

            if (CheckDomain(domain) is { } reason)
            {
                _yaml.Error(item.Start, $"'{field}': {reason}");
                valid = false;
                continue;
            }

            if (domains.Contains(domain, StringComparer.Ordinal))
            {
                _yaml.Warning(item.Start, $"'{field}' lists '{domain}' more than once");
                continue;
            }

            domains.Add(domain);
        }

        return (domains, valid);
    }

    /// <summary>
    /// Checks one allowlist entry: a lowercase DNS name of at least two labels, optionally with a leading <c>*.</c>
    /// for its subdomains; no scheme, port, path or IP address.
    /// </summary>
    /// <returns>Null when valid, else what is wrong (to follow the field name), with the fix where there is one.</returns>
    internal static string? CheckDomain(string domain) => Reason(domain, Suggestion(domain) is { } close ? $"; write '{close}'" : "");

    private static string? Reason(string domain, string fix)
    {
        if (domain.Contains("://", StringComparison.Ordinal))
        {
            return $"'{domain}' has a scheme; an allowlist names domains only{fix}";
        }

        if (domain.Contains('/', StringComparison.Ordinal))
        {
            return $"'{domain}' has a path; an allowlist names domains only{fix}";
        }

        if (IsIpAddress(domain))
        {
            return $"'{domain}' is an IP address; an allowlist names domains, such as 'pypi.org'";
        }

        if (domain.Contains(':', StringComparison.Ordinal))
        {
            return $"'{domain}' has a port; an allowlist names domains only{fix}";
        }

        if (domain.Any(char.IsWhiteSpace))
        {
            return $"'{domain}' contains whitespace";
        }

        if (domain.Any(char.IsAsciiLetterUpper))
        {
            return $"'{domain}' must be lowercase{fix}";
        }

        var wildcard = domain.StartsWith("*.", StringComparison.Ordinal);
        var name = wildcard ? domain[2..] : domain;
        if (name.Contains('*', StringComparison.Ordinal))
        {
            return $"'{domain}' has a '*' that is not a leading '*.'; a wildcard covers the subdomains of a domain, such as '*.github.com'";
        }

        if (name.EndsWith('.'))
        {
            return $"'{domain}' ends with a dot{fix}";
        }

        if (domain.Length > MaxDomainLength)
        {
            return $"'{domain}' is longer than {MaxDomainLength} characters, the most a domain may have";
        }

        var labels = name.Split('.');
        foreach (var label in labels)
        {
            if (label.Length == 0)
            {
                return $"'{domain}' has an empty label (two dots in a row, or a leading dot)";
            }

            if (label.Length > MaxLabelLength)
            {
                return $"'{domain}' has a label longer than {MaxLabelLength} characters";
            }

            if (!label.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
            {
                return $"'{domain}' may use only a-z, 0-9, '-' and '.' (write an international name in its xn-- form)";
            }

            if (label[0] == '-' || label[^1] == '-')
            {
                return $"'{domain}' has a label that starts or ends with '-'";
            }
        }

        if (labels.Length < 2)
        {
            return wildcard
                ? $"'{domain}' would allow a whole top-level domain; a wildcard covers the subdomains of a domain, such as '*.github.com'"
                : $"'{domain}' is not a full domain; write one with a dot, such as 'pypi.org'";
        }

        return null;
    }

    private static bool IsIpAddress(string domain)
    {
        var host = domain.StartsWith('[') && domain.Contains(']', StringComparison.Ordinal) ? domain[1..domain.IndexOf(']', StringComparison.Ordinal)] : domain;
        if (host.Count(c => c == ':') >= 2 && System.Net.IPAddress.TryParse(host, out _))
        {
            return true;
        }

        // No top-level domain is all digits, so a name ending in one is an IPv4 address (or a typo of one).
        var last = host.Split(':')[0].Split('.')[^1];
        return last.Length > 0 && last.All(char.IsAsciiDigit);
    }

    /// <summary>The bare domain in <paramref name="text"/> (scheme, port and path removed, lowercased), if that helps.</summary>
    private static string? Suggestion(string text)
    {
        var rest = text.Trim();
        var scheme = rest.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            rest = rest[(scheme + 3)..];
        }

        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            rest = rest[..slash];
        }

        var colon = rest.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            rest = rest[..colon];
        }

        rest = rest.TrimEnd('.').ToLowerInvariant();
        return rest.Length > 0 && rest != text && Reason(rest, "") is null ? rest : null;
    }
}
