using System.Reflection;
using Apiary.Cli.Telemetry;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Apiary.Cli.Mcp;

/// <summary>
/// An MCP server for one session of one agent: <c>tools/list</c> gives <see cref="McpTools.Definitions"/>, and each
/// <c>tools/call</c> is a proposal of the session, answered with what governance decided and, when it ran, its result.
/// </summary>
internal sealed class ApiaryMcpServer(ApiaryClient sessionClient, SessionDto session, ILogger logger)
{
    /// <summary>The options for the SDK: server identity, instructions and the tool handlers.</summary>
    public McpServerOptions CreateOptions() => new()
    {
        ServerInfo = new Implementation
        {
            Name = "apiary",
            Title = "Apiary",
            Version = typeof(ApiaryMcpServer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0",
        },
        ServerInstructions =
            $"Tools of Apiary agent '{session.Agent}' (session {session.Id}). Commands and file operations run in a sandbox on the " +
            $"workspace {session.Workspace}, and every call is checked by governance policies: a call may be denied, with the reason, " +
            "or wait for a person's approval, with the ticket id. Read the result text before retrying.",
        Capabilities = new ServerCapabilities { Tools = new ToolsCapability() },
        Handlers = new McpServerHandlers
        {
            ListToolsHandler = (_, _) => ValueTask.FromResult(new ListToolsResult { Tools = [.. McpTools.Definitions] }),
            CallToolHandler = (request, cancellationToken) => CallAsync(request.Params?.Name ?? "", request.Params?.Arguments, cancellationToken),
        },
    };

    /// <summary>Runs one tool call as a proposal of the session.</summary>
    public async ValueTask<CallToolResult> CallAsync(string name, IDictionary<string, System.Text.Json.JsonElement>? arguments, CancellationToken cancellationToken)
    {
        var (proposal, problem) = McpTools.ToProposal(name, arguments);
        if (proposal is null)
        {
            if (!McpTools.Definitions.Any(t => t.Name == name))
            {
                throw new McpProtocolException($"unknown tool '{name}'", McpErrorCode.InvalidParams);
            }

            return McpToolResults.BadArguments(name, problem!);
        }

        try
        {
            // Submitted without the server's wait, which would hold a proposal pending approval until someone answers:
            // the model gets a pending result at once, and an allowed command is followed through its output stream.
            var result = await sessionClient.ProposeAsync(session.Id, proposal, wait: false, cancellationToken).ConfigureAwait(false);
            if (result.Status == "running")
            {
                await foreach (var item in sessionClient.StreamOutputAsync(result.Id, cancellationToken).ConfigureAwait(false))
                {
                    if (item is ProposalOutputCompleted completed)
                    {
                        result = result with { Status = "completed", Result = completed.Result };
                    }
                }
            }

            CliLog.McpToolCalled(logger, name, result.Status, result.Decision.Decision, result.Decision.Rule);
            return McpToolResults.From(result);
        }
        catch (ApiaryClientException ex)
        {
            CliLog.McpToolRefused(logger, name, ex.Message);
            return McpToolResults.Refused(name, ex);
        }
    }
}
