using Apiary.Cli.Mcp;
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
            var home = CommonOptions.LocateHome(parse, context);
            using var client = await ApiaryClient.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            var opened = await client.OpenSessionAsync(name, cancellationToken).ConfigureAwait(false);
            await context.Error.WriteLineAsync($"apiary mcp: session {opened.Session.Id} of agent {name} on {client.BaseAddress} (workspace {opened.Session.Workspace})").ConfigureAwait(false);
            try
            {
                // Tool calls act with the session's own token: it can do nothing but what this agent's session may.
                using var sessionClient = client.WithToken(opened.Token);
                var server = new ApiaryMcpServer(sessionClient, opened.Session, context.Error);
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
                    await context.Error.WriteLineAsync($"apiary mcp: closed session {opened.Session.Id}").ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is ApiaryClientException or OperationCanceledException)
                {
                    await context.Error.WriteLineAsync($"apiary mcp: could not close session {opened.Session.Id}: {ex.Message}").ConfigureAwait(false);
                }
            }
        });
        return command;
    }
}
