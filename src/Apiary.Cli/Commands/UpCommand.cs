using Apiary.Cli.Telemetry;
using Apiary.Governance;
using Apiary.Home;
using Apiary.Sandbox.Probe;
using Apiary.Server;
using Apiary.Runtime;
using Microsoft.Extensions.Logging;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary up</c>: runs the Apiary server for a home (initialized with the samples on first run) until Ctrl-C, then
/// shuts down cleanly: running commands are cancelled and their completion recorded.
/// </summary>
internal static class UpCommand
{
    public static Command Create(CliContext context)
    {
        var urls = new Option<string?>("--urls") { Description = $"Where to listen (default: {ServerOptions.DefaultUrls}, loopback only). Port 0 picks a free port.", HelpName = "URL" };
        var unconfined = new Option<bool>("--unconfined") { Description = "Run commands without a sandbox, as plain processes. For development on machines without bubblewrap only." };
        var acceptDamagedLog = new Option<bool>("--accept-damaged-log")
        {
            Description = "Serve the event log even when it does not match its signed checkpoints (cut, rewritten, or its key or checkpoint file missing). The acceptance, with what was found and by whom, is recorded in the log and a new checkpoint is signed. Run 'apiary audit verify' first.",
        };
        var allowedHosts = new Option<string[]>("--allowed-host")
        {
            Description = "Also answer to this host name or address (optionally with :PORT) in requests' Host header, besides the loopback names and the address it listens on; any other is refused. Repeatable; adds to server.allowed_hosts in apiary.yaml.",
            HelpName = "HOST",
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("up", "Start the Apiary server for the home: the API (docs/api.md), live event streams, sandboxes and governance. Stops cleanly on Ctrl-C.")
        {
            urls, unconfined, allowedHosts, acceptDamagedLog,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            var hosts = parse.GetValue(allowedHosts) ?? [];
            foreach (var host in hosts)
            {
                if (!AllowedHost.TryParse(host, out _, out var error))
                {
                    throw CliException.BadInput($"--allowed-host: {error}");
                }
            }

            var fresh = !home.Exists;

            // The server's warnings read like the command's own: 'apiary: warning: ...' on standard error.
            using var logging = CliLoggerProvider.CreateFactory(context.Error, "apiary", LogLevel.Warning);
            ApiaryServer server;
            try
            {
                server = await ApiaryServer.StartAsync(
                    new ServerOptions
                    {
                        Home = home.Root,
                        Urls = parse.GetValue(urls) ?? ServerOptions.DefaultUrls,
                        Unconfined = parse.GetValue(unconfined),
                        AcceptDamagedLog = parse.GetValue(acceptDamagedLog),
                        AllowedHosts = hosts,
                        UserHome = context.UserHome,
                        LoggerFactory = logging,
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            catch (ServerStartException ex)
            {
                throw CliException.Failure(ex.Message);
            }

            await using (server.ConfigureAwait(false))
            {
                var report = await CapabilityProbe.RunAsync(cancellationToken).ConfigureAwait(false);
                var missing = report.Checks.Where(c => c.Status != CheckStatus.Ok).Select(c => $"{c.Name} ({c.Status.ToString().ToLowerInvariant()})").ToList();
                var lines = new[]
                {
                    $"Apiary is up at {server.Url}",
                    $"home:     {server.Home}{(fresh ? " (created with the samples)" : "")}",
                    $"store:    {server.StorePath}",
                    $"sandbox:  {server.SandboxBackend}",
                    $"policies: {(server.PolicyProblem is null ? "loaded" + LintSummary(server.Home) : "NOT LOADED: every proposal is refused until they are fixed (below)")}",
                    $"doctor:   {(missing.Count == 0 ? "every check ok" : $"{report.Checks.Count - missing.Count} of {report.Checks.Count} checks ok; not ok: {string.Join(", ", missing)} ('apiary doctor' says how to fix)")}",
                    $"dashboard: {server.Url}/ (sign in with the operator token, or keys/readonly.token to only look)",
                    $"token:    {Path.Combine(server.Home, ServerInfo.OperatorTokenPath)} (operator; send as 'Authorization: Bearer <token>')",
                    "API:      docs/api.md; OpenAPI at " + server.Url + "/openapi/v1.json",
                    "Press Ctrl-C to stop.",
                };
                foreach (var line in lines)
                {
                    await context.Out.WriteLineAsync(line).ConfigureAwait(false);
                }

                // Policies that do not load refuse everything: said out loud, with what is wrong and where.
                if (server.PolicyProblem is { } policyProblem)
                {
                    await context.Error.WriteLineAsync($"apiary: error: {policyProblem}").ConfigureAwait(false);
                }

                // A layer of isolation this machine cannot give is said out loud, every start.
                foreach (var check in report.Checks.Where(c => c.Status != CheckStatus.Ok))
                {
                    await context.Error.WriteLineAsync($"apiary: warning: {check.Name} is {check.Status.ToString().ToLowerInvariant()}: {check.Detail}; {check.Meaning}. Fix: {check.Fix}.").ConfigureAwait(false);
                }

                await context.Out.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    await context.Out.WriteLineAsync("apiary: stopping: cancelling running commands and recording how they ended").ConfigureAwait(false);
                }
            }

            await context.Out.WriteLineAsync("apiary: stopped").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    // The lint's count, so a policy that loads but hides a hole is noticed at start; the details are one command away.
    private static string LintSummary(string home)
    {
        var loaded = PolicyLoader.LoadDirectory(Path.Combine(home, "policies"));
        if (loaded.Policy is not { } policy)
        {
            return "";
        }

        var warnings = loaded.Diagnostics.Count(d => d.Severity == Apiary.Configuration.DiagnosticSeverity.Warning) + PolicyLint.Check(policy).Count;
        return warnings == 0 ? " (no lint warnings)" : $" ({warnings} lint {(warnings == 1 ? "warning" : "warnings")}: 'apiary policy check' lists them)";
    }
}
