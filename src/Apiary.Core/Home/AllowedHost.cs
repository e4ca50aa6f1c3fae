using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Apiary.Home;

/// <summary>
/// A name the server answers to in a request's <c>Host</c> header, besides its own addresses and the loopback names: a DNS
/// name or an IP address (IPv6 in brackets), with a port or without one (then any port the server listens on, and no port
/// at all, as a reverse proxy in front of it sends). Set in <c>apiary.yaml</c> (<c>server.allowed_hosts</c>) or with
/// <c>apiary up --allowed-host</c>. The only way to get one is <see cref="TryParse"/>, so every one is a plain host:
/// no wildcard, path, user or scheme.
/// </summary>
public readonly record struct AllowedHost
{
    private AllowedHost(string name, int? port)
    {
        Name = name;
        Port = port;
    }

    /// <summary>The host in canonical form: a DNS name in lower case, or an IP address as <see cref="IPAddress"/> writes it (IPv6 in brackets).</summary>
    public string Name { get; }

    /// <summary>The one port it is accepted with, or null for any port the server listens on (and none).</summary>
    public int? Port { get; }

    /// <summary>Parses <c>NAME</c>, <c>NAME:PORT</c>, <c>1.2.3.4[:PORT]</c> or <c>[v6][:PORT]</c>.</summary>
    /// <param name="text">The text to parse.</param>
    /// <param name="host">The host, when it parses.</param>
    /// <param name="error">What is wrong with it, when it does not.</param>
    public static bool TryParse(string? text, out AllowedHost host, [NotNullWhen(false)] out string? error)
    {
        host = default;
        var value = text?.Trim() ?? "";
        if (value.Length == 0)
        {
            error = "an allowed host must not be empty";
            return false;
        }

        if (value.Contains('*', StringComparison.Ordinal))
        {
            error = $"'{value}' has a wildcard; list each name the server is reached by instead";
            return false;
        }

        // The port follows the first colon, or for an IPv6 address (whose colons are its own) the closing bracket.
        var end = value.StartsWith('[') ? value.IndexOf(']', StringComparison.Ordinal) + 1 : value.IndexOf(':', StringComparison.Ordinal);
        var name = end <= 0 ? value : value[..end];
        var portText = end <= 0 || end == value.Length ? null
            : value[end] == ':' ? value[(end + 1)..]
            : "";

        int? port = null;
        if (portText is not null)
        {
            if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number is < 1 or > 65535)
            {
                error = $"'{value}' must be a host name or address, optionally with ':PORT' (1 to 65535); an IPv6 address goes in brackets, such as [fd00::1]:7171";
                return false;
            }

            port = number;
        }

        if (Canonical(name) is not { } canonical)
        {
            error = $"'{value}' is not a host name (letters, digits, '-' and '.') or an IP address (IPv6 in brackets, such as [fd00::1])";
            return false;
        }

        host = new AllowedHost(canonical, port);
        error = null;
        return true;
    }

    /// <summary>
    /// The canonical form of the host part of a <c>Host</c> header (<paramref name="name"/>, without its port), as
    /// <see cref="Name"/> has it; null when it is neither a DNS name nor an IP address.
    /// </summary>
    public static string? Canonical(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.StartsWith('[') && name.EndsWith(']'))
        {
            return IPAddress.TryParse(name.AsSpan(1, name.Length - 2), out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6
                ? $"[{v6}]"
                : null;
        }

        if (IPAddress.TryParse(name, out var v4))
        {
            // Only dotted quads: IPAddress also reads '1' or '0x7f.1' as IPv4, which no Host header means.
            return v4.AddressFamily == AddressFamily.InterNetwork && v4.ToString() == name ? name : null;
        }

        return IsDnsName(name) ? name.ToLowerInvariant() : null;
    }

    /// <inheritdoc />
    public override string ToString() => Port is { } port ? $"{Name}:{port.ToString(CultureInfo.InvariantCulture)}" : Name;

    // 1 to 253 characters of labels of 1 to 63 letters, digits and '-' (never first or last), separated by single dots.
    private static bool IsDnsName(string name)
    {
        if (name.Length is 0 or > 253)
        {
            return false;
        }

        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-' || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return false;
            }
        }

        return !name.Split('.')[^1].All(char.IsAsciiDigit);
    }
}
