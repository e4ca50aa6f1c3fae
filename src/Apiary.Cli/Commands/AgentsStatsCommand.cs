using System.Net;
using Spectre.Console;

namespace Apiary.Cli.Commands;

/// <summary><c>apiary agents stats NAME [--since 24h] [--json]</c>: an agent's per-turn telemetry over a window, from the running server.</summary>
internal static class AgentsStatsCommand
{
    public static Command Create(CliContext context)
    {
        var name = new Argument<string>("name") { Description = "The agent's name (its folder under agents/)." };
        var since = new Option<string>("--since")
        {
            Description = "The window's start: a duration back from now (15m, 24h, 7d) or an ISO-8601 instant (2026-01-31T09:00:00Z).",
            DefaultValueFactory = _ => "24h",
            HelpName = "DURATION|INSTANT",
        };
        var json = CommonOptions.Json();
        var command = new Command("stats", "Show an agent's turn figures over a window: runs, turns, tokens, cost, tool calls by name, denials, approvals waited, messages, inbox depth, and the spread of turn duration and model latency. --json adds the per-turn series.")
        {
            name, since, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var agentName = CommonOptions.ParseName(parse.GetValue(name)!);
            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            AgentStatsDto stats;
            try
            {
                stats = await client.GetAgentStatsAsync(agentName.Value, parse.GetValue(since), cancellationToken).ConfigureAwait(false);
            }
            catch (ApiaryClientException ex) when (ex.Status == HttpStatusCode.NotFound)
            {
                throw CliException.BadInput($"there is no agent named '{agentName}' in {home.AgentsDirectory}; 'apiary agents list' shows the agents");
            }
            catch (ApiaryClientException ex) when (ex.Status == HttpStatusCode.BadRequest)
            {
                throw CliException.BadInput(ex.Detail ?? ex.Message);
            }

            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(context.Out, stats, ApiJsonContext.Default.AgentStatsDto).ConfigureAwait(false);
            }
            else
            {
                Write(context, stats);
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static void Write(CliContext context, AgentStatsDto stats)
    {
        var t = stats.Totals;
        var grid = new Table().Border(TableBorder.None).HideHeaders().AddColumns("field", "value");
        grid.Columns[0].PadLeft(0);
        void Row(string field, string value) => grid.AddRow(new Spectre.Console.Text(field), new Spectre.Console.Text(value));
        Row("agent", stats.Agent);
        Row("window", string.Create(CultureInfo.InvariantCulture, $"{stats.Since:u} .. {stats.Until:u}"));
        Row("runs", Number(stats.Runs));
        Row("turns", Number(stats.Turns));
        Row("tokens", $"{Number(t.InputTokens)} in, {Number(t.OutputTokens)} out");
        Row("cost_usd", t.CostUsd.ToString("0.0000", CultureInfo.InvariantCulture));
        Row("tool_calls", Number(t.ToolCalls) + By(t.ToolCallsByName));
        Row("denials", Number(t.Denials) + By(t.DenialsByKind));
        Row("approvals", $"{Number(t.ApprovalsWaited)} waited, {Number(t.ApprovalWaitMs)} ms in all");
        Row("messages", $"{Number(t.MessagesSent)} sent, {Number(t.MessagesReceived)} received");
        Row("inbox_depth", Number(stats.InboxDepth));
        Row("duration_ms", Spread(stats.DurationMs));
        Row("model_latency_ms", Spread(stats.ModelLatencyMs));
        context.CreateTableConsole().Write(grid);
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string By(IReadOnlyDictionary<string, int> counts) =>
        counts.Count == 0 ? "" : " (" + string.Join(", ", counts.Select(c => $"{c.Key} {Number(c.Value)}")) + ")";

    private static string Spread(SpreadDto spread) => $"p50 {Number(spread.P50)}, p95 {Number(spread.P95)}, max {Number(spread.Max)}";
}
