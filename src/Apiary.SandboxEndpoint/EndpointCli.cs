using System.CommandLine;
using System.Globalization;
using System.Net;
using Apiary.Agents;
using Apiary.Home;
using Apiary.Sandbox;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Templates;
using Apiary.Sandbox.Unconfined;
using Apiary.SandboxEndpoint.Telemetry;
using Microsoft.Extensions.Logging;

namespace Apiary.SandboxEndpoint;

/// <summary>
/// The <c>apiary-endpoint</c> command line: checks every option before serving, so misconfiguration fails at start with
/// a message that names the fix, then serves on stdin/stdout or on TCP (<see cref="EndpointHost"/>).
/// </summary>
internal static class EndpointCli
{
    /// <summary>Served until the host left or asked to shut down.</summary>
    public const int Success = 0;

    /// <summary>The agent could not serve (no bubblewrap, a broken stream, a port in use).</summary>
    public const int Failure = 1;

    /// <summary>The command line was wrong: an unknown option, a bad workspace or template, a refused address.</summary>
    public const int BadInput = 2;

    public static async Task<int> RunAsync(string[] args, TextWriter log, ILoggerFactory loggerFactory, CancellationToken cancellationToken = default)
    {
        var parsed = Build(log, loggerFactory).Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                await log.WriteLineAsync($"apiary-endpoint: {error.Message}").ConfigureAwait(false);
            }

            await log.WriteLineAsync("Run 'apiary-endpoint --help' for usage.").ConfigureAwait(false);
            return BadInput;
        }

        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { Error = log, EnableDefaultExceptionHandler = false }, cancellationToken).ConfigureAwait(false);
        }
        catch (EndpointStartException ex)
        {
            await log.WriteLineAsync($"apiary-endpoint: {ex.Message}").ConfigureAwait(false);
            return ex.ExitCode;
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException)
        {
            await log.WriteLineAsync($"apiary-endpoint: {ex.Message}").ConfigureAwait(false);
            return Failure;
        }
    }

    private static RootCommand Build(TextWriter log, ILoggerFactory loggerFactory)
    {
        var workspace = new Option<string>("--workspace")
        {
            Description = "The folder mounted at /workspace in every sandbox: the only place commands can write.",
            HelpName = "DIR",
            Required = true,
        };
        var templateFile = new Option<string?>("--template-file")
        {
            Description = "A sandbox template (NAME.yaml, see docs/templates.md) for limits, mounts and environment. Default: the built-in default template.",
            HelpName = "FILE",
        };
        var unconfined = new Option<bool>("--unconfined")
        {
            Description = "Run commands as plain processes, without a sandbox. For development on machines without bubblewrap only.",
        };
        var listen = new Option<string?>("--listen")
        {
            Description = "Accept TCP connections on HOST:PORT (HOST defaults to 127.0.0.1), each with its own session on the same workspace, "
                + "instead of serving one connection on stdin/stdout. The protocol has no authentication yet: anyone who can connect can run commands.",
            HelpName = "HOST:PORT",
        };
        var allowRemote = new Option<bool>("--allow-remote")
        {
            Description = "Allow --listen on an address other machines can reach. There is no authentication: use it only on a network you trust, or prefer an SSH tunnel to a loopback address.",
        };
        var root = new RootCommand(
            "apiary-endpoint: serves Apiary's execution protocol (docs/protocol.md), so a VM or a remote worker runs commands with the same "
            + "semantics as the local sandbox. Frames go over stdin/stdout, or over TCP with --listen; diagnostics go to stderr.")
        {
            workspace, templateFile, unconfined, listen, allowRemote,
        };
        root.SetAction(async (parse, cancellationToken) =>
        {
            var endpoint = parse.GetValue(listen) is { } text ? ParseListen(text, parse.GetValue(allowRemote)) : null;
            var userHome = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            var apiaryHome = ApiaryHome.Locate(null, Environment.GetEnvironmentVariable(ApiaryHome.EnvironmentVariable), Environment.CurrentDirectory, userHome).Root;
            var folder = ValidateWorkspace(parse.GetValue(workspace)!, userHome, apiaryHome);
            var template = await LoadTemplateAsync(parse.GetValue(templateFile), apiaryHome, loggerFactory.CreateLogger(typeof(EndpointCli)), cancellationToken).ConfigureAwait(false);

            var backend = CreateBackend(parse.GetValue(unconfined), loggerFactory);
            using var disposable = backend as IDisposable;
            var options = new SandboxSessionOptions { Workspace = folder, Template = template };

            // Open one session before serving, so a template the backend cannot honour fails now, not on every connection.
            await (await backend.OpenSessionAsync(options, cancellationToken).ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);

            var server = new ProtocolServer(backend, options, loggerFactory.CreateLogger<ProtocolServer>());
            return endpoint is null
                ? await EndpointHost.ServeStdioAsync(server, log, loggerFactory.CreateLogger(typeof(EndpointHost)), cancellationToken).ConfigureAwait(false)
                : await EndpointHost.ListenAsync(server, endpoint, loggerFactory.CreateLogger(typeof(EndpointHost)), cancellationToken).ConfigureAwait(false);
        });
        return root;
    }

    /// <summary>Reads <c>HOST:PORT</c>, <c>:PORT</c> or <c>PORT</c>; refuses an address other machines reach unless allowed.</summary>
    internal static IPEndPoint ParseListen(string text, bool allowRemote)
    {
        var colon = text.LastIndexOf(':');
        var host = colon < 0 ? "" : text[..colon];
        if (!ushort.TryParse(colon < 0 ? text : text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            throw new EndpointStartException(BadInput, $"--listen takes HOST:PORT, such as 127.0.0.1:7420, not '{text}'");
        }

        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        var address = host is "" or "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var parsed) ? parsed
            : throw new EndpointStartException(BadInput, $"--listen takes an IP address, such as 127.0.0.1 or [::1], not the host name '{host}'");
        var endpoint = new IPEndPoint(address, port);
        if (!IPAddress.IsLoopback(address) && !allowRemote)
        {
            throw new EndpointStartException(
                BadInput,
                $"refusing to listen on {endpoint}: other machines could connect, and the protocol has no authentication yet, so anyone who can connect "
                + "can run commands in the workspace. Listen on 127.0.0.1 and reach it through an SSH tunnel, or add --allow-remote on a network you trust.");
        }

        return endpoint;
    }

    private static string ValidateWorkspace(string raw, string userHome, string apiaryHome)
    {
        var check = WorkspaceGuard.Validate(ApiaryHome.Expand(raw, userHome, Environment.CurrentDirectory), userHome, apiaryHome);
        return check.Path ?? throw new EndpointStartException(BadInput, check.Reason!);
    }

    private static async Task<SandboxTemplate> LoadTemplateAsync(string? file, string apiaryHome, ILogger logger, CancellationToken cancellationToken)
    {
        if (file is null)
        {
            return SandboxTemplate.Default;
        }

        var path = Path.GetFullPath(file);
        if (!path.EndsWith(SandboxTemplateLoader.Extension, StringComparison.Ordinal))
        {
            throw new EndpointStartException(BadInput, $"--template-file takes a template file ending in {SandboxTemplateLoader.Extension}, not '{file}'");
        }

        var loader = new SandboxTemplateLoader(Path.GetDirectoryName(path)!, apiaryHome);
        var result = await loader.LoadAsync(Path.GetFileNameWithoutExtension(path), cancellationToken).ConfigureAwait(false);
        foreach (var diagnostic in result.Diagnostics)
        {
            EndpointLog.TemplateDiagnostic(logger, diagnostic.ToString());
        }

        return result.Template
            ?? throw new EndpointStartException(BadInput, $"the template {path} cannot be used: {string.Join("; ", result.Errors.Select(e => e.Message))}");
    }

    private static ISandboxBackend CreateBackend(bool unconfined, ILoggerFactory loggerFactory)
    {
        if (unconfined)
        {
            return new UnconfinedBackend(loggerFactory.CreateLogger<UnconfinedBackend>());
        }

        try
        {
            return BubblewrapBackend.Create();
        }
        catch (SandboxUnavailableException ex)
        {
            throw new EndpointStartException(Failure, $"{ex.Message}; or run with --unconfined, for development only");
        }
    }
}

/// <summary>Ends <c>apiary-endpoint</c> before it serves, with a message for people and an exit code.</summary>
internal sealed class EndpointStartException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
