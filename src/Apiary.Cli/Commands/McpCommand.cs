using Apiary.Cli.Mcp;
using Apiary.Cli.Telemetry;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Server;
using Command = System.CommandLine.Command;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary mcp --agent NAME</c>: an MCP server on stdio that gives an external agent (Claude Code, Codex, any MCP
/// client) governed, sandboxed tools. It opens a session for the agent on the home's running server and closes it
/// when the client goes away. Standard output carries MCP's JSON-RPC and nothing else; messages go to stderr.
/// </summary>
internal static class McpCommand
{
    /// <summary>How long closing the session may take once the client has gone.</summary>
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(10);

    public static Command Create(CliContext context)
    {
        var agent = new Option<string>("--agent") { Description = "The Apiary agent whose session the tools act in (its policies, budgets and workspace).", HelpName = "NAME", Required = true };
        var command = new Command("mcp", "Serve MCP on stdio for an external agent: the tools exec, read_file, write_file and list_dir, each governed and sandboxed by the running server.")
        {
            agent,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var name = CommonOptions.ParseName(parse.GetValue(agent)!).ToString();

            // Standard output is MCP's: what the server does is logged on standard error, 'apiary mcp: ...'.
            using var logging = CliLoggerProvider.CreateFactory(context.Error, "apiary mcp", LogLevel.Information);
            var logger = logging.CreateLogger<ApiaryMcpServer>();
            var home = CommonOptions.LocateHome(parse, context);
            using var client = await ApiaryClient.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            var opened = await client.OpenSessionAsync(name, cancellationToken).ConfigureAwait(false);
            CliLog.McpSessionOpened(logger, opened.Session.Id, name, client.BaseAddress, opened.Session.Workspace);
            try
            {
                // Tool calls act with the session's own token: it can do nothing but what this agent's session may.
                using var sessionClient = client.WithToken(opened.Token);
                var server = new ApiaryMcpServer(sessionClient, opened.Session, logger);
                var options = server.CreateOptions();
                await using var transport = new StdioServerTransport(options);
                await using var mcp = McpServer.Create(transport, options);
                await mcp.RunAsync(cancellationToken).ConfigureAwait(false);
                return ExitCodes.Success;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return ExitCodes.Interrupted;
            }
            finally
            {
                using var closing = new CancellationTokenSource(CloseTimeout);
                try
                {
                    await client.CloseSessionAsync(opened.Session.Id, closing.Token).ConfigureAwait(false);
                    CliLog.McpSessionClosed(logger, opened.Session.Id);
                }
                catch (Exception ex) when (ex is ApiaryClientException or OperationCanceledException)
                {
                    CliLog.McpSessionNotClosed(logger, opened.Session.Id, ex.Message);
                }
            }
        });
        return command;
    }
}
