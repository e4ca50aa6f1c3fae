using Apiary.Home;

namespace Apiary.Server;

/// <summary>
/// Refuses every request whose <c>Host</c> header names a host the server does not serve, before anything else sees it
/// (no authentication, no record, nothing about the home in the answer: a 400 problem). The served hosts are the loopback
/// names (<c>localhost</c>, <c>127.0.0.1</c>, <c>[::1]</c>) and each address the server listens on, with its port, plus
/// the names the home allows (<c>server.allowed_hosts</c>, <c>apiary up --allowed-host</c>). A web page on another
/// site whose name was made to resolve to this machine (DNS rebinding) thus reaches nothing.
/// </summary>
/// <remarks>
/// ASP.NET Core's host filtering compares names only, so <c>localhost</c> on any port would pass, and it answers outside
/// the problem responses; the port is known only once the server listens (port 0 picks one), hence <see cref="Serve"/>.
/// </remarks>
internal sealed class HostGuard(IReadOnlyList<AllowedHost> allowed)
{
    private static readonly string[] LoopbackNames = ["localhost", "127.0.0.1", "[::1]"];

    // Null until the server listens: a request before then is refused.
    private volatile Served? _served;

    /// <summary>Takes the addresses the server listens on (as Kestrel reports them, with the real ports).</summary>
    public void Serve(IEnumerable<string> addresses)
    {
        var exact = new HashSet<string>(StringComparer.Ordinal);
        var bare = new HashSet<string>(StringComparer.Ordinal);
        var ports = new HashSet<int>();
        foreach (var address in addresses)
        {
            var binding = BindingAddress.Parse(address);
            ports.Add(binding.Port);
            var names = AllowedHost.Canonical(binding.Host) is { } own ? [.. LoopbackNames, own] : LoopbackNames;
            foreach (var name in names)
            {
                exact.Add(Key(name, binding.Port));

                // A browser leaves out the scheme's default port.
                if (binding.Port == (binding.Scheme == "https" ? 443 : 80))
                {
                    bare.Add(name);
                }
            }
        }

        foreach (var host in allowed)
        {
            if (host.Port is { } port)
            {
                exact.Add(Key(host.Name, port));
                continue;
            }

            bare.Add(host.Name);
            exact.UnionWith(ports.Select(p => Key(host.Name, p)));
        }

        _served = new Served(exact, bare);
    }

    /// <summary>Whether a request with the <c>Host</c> header <paramref name="host"/> is served.</summary>
    public bool Allows(HostString host)
    {
        if (_served is not { } served || !AllowedHost.TryParse(host.Value, out var named, out _))
        {
            return false;
        }

        return named.Port is { } port ? served.Exact.Contains(Key(named.Name, port)) : served.Bare.Contains(named.Name);
    }

    /// <summary>The middleware: a request for another host ends here with a 400 problem.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (Allows(context.Request.Host))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        await Problems.Of(
            StatusCodes.Status400BadRequest,
            "Unknown host",
            "this server does not answer to the host named in the request's Host header; use the address it listens on, or have its operator add the name to server.allowed_hosts in apiary.yaml (or apiary up --allowed-host)").ExecuteAsync(context).ConfigureAwait(false);
    }

    private static string Key(string name, int port) => $"{name}:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    private sealed record Served(HashSet<string> Exact, HashSet<string> Bare);
}
