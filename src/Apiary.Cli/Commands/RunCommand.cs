using System.Net;
using Command = System.CommandLine.Command;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary run AGENT "task"</c>: gives an agent a task on the running server of the home, prints its progress (model
/// calls, tool calls, decisions) on standard error as it happens and its final answer on standard output.
/// </summary>
internal static class RunCommand
{
    public static Command Create(CliContext context)
    {
        var agent = new Argument<string>("agent") { Description = "The agent, as 'apiary agents list' names it." };
        var task = new Argument<string>("task") { Description = "What the agent is to do." };
        var model = new Option<string?>("--model") { Description = "The model to use instead of the agent's own: endpoint/model, as models.yaml in the home names it.", HelpName = "ENDPOINT/MODEL" };
        var maxTurns = new Option<int?>("--max-turns") { Description = "The most model calls before the run fails with a turn cap (default 50, at most 1000).", HelpName = "N" };
        var command = new Command(
            "run",
            "Give an agent a task: it works on it with its model in a new session, every tool call governed and sandboxed. " +
            $"Progress on stderr, the answer on stdout. Exits 0 when the agent finished, {ExitCodes.BudgetExhausted} when its budget ran out, " +
            $"{ExitCodes.Killed} when a kill switch stopped it, {ExitCodes.RunFailed} when it failed (turn cap, model error), 1 when it could not start (no model configured).")
        {
            agent, task, model, maxTurns,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var name = CommonOptions.ParseName(parse.GetValue(agent)!).Value;
            var text = parse.GetValue(task);
            if (string.IsNullOrWhiteSpace(text))
            {
                throw CliException.BadInput("the task must say what the agent is to do");
            }

            if (parse.GetValue(maxTurns) is < 1 or > 1000)
            {
                throw CliException.BadInput("--max-turns must be between 1 and 1000");
            }

            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            RunDto run;
            try
            {
                run = await client.StartRunAsync(name, new StartRunRequest(text, parse.GetValue(model), parse.GetValue(maxTurns)), cancellationToken).ConfigureAwait(false);
            }
            catch (ApiaryClientException ex) when (ex.Status is HttpStatusCode.NotFound or HttpStatusCode.BadRequest)
            {
                throw CliException.BadInput(ex.Detail ?? ex.Message);
            }
            catch (ApiaryClientException ex) when (ex.Status is not null && ex.Detail is not null)
            {
                // No model configured, a broken agent, no sandbox: the server's detail says what to do.
                throw CliException.Failure(ex.Detail);
            }

            await context.Error.WriteLineAsync($"run {run.Id}: agent {run.Agent} with {run.Model} in session {run.Session}").ConfigureAwait(false);
            RunProgressDto? end = null;
            await foreach (var step in client.StreamRunProgressAsync(run.Id, cancellationToken).ConfigureAwait(false))
            {
                if (step.Type == "end")
                {
                    end = step;
                    break;
                }

                if (Describe(step) is { } line)
                {
                    await context.Error.WriteLineAsync(line).ConfigureAwait(false);
                }
            }

            return await EndAsync(context, end!).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> EndAsync(CliContext context, RunProgressDto end)
    {
        switch (end.Status)
        {
            case "finished":
                await context.Out.WriteLineAsync(end.Answer ?? "").ConfigureAwait(false);
                await context.Error.WriteLineAsync($"finished after {end.Turn} model call{(end.Turn == 1 ? "" : "s")}").ConfigureAwait(false);
                return ExitCodes.Success;
            case "budget_exhausted":
                await context.Error.WriteLineAsync($"apiary: budget exhausted: {end.Error}").ConfigureAwait(false);
                return ExitCodes.BudgetExhausted;
            case "killed":
                await context.Error.WriteLineAsync($"apiary: killed: {end.Error}").ConfigureAwait(false);
                return ExitCodes.Killed;
            case "crashed":
                // The supervisor restarts a crashed run as a new run in the same session; 'apiary agents list' says when.
                await context.Error.WriteLineAsync($"apiary: the run crashed: {end.Error}; the supervisor restarts it (see apiary agents list)").ConfigureAwait(false);
                return ExitCodes.RunFailed;
            default:
                await context.Error.WriteLineAsync($"apiary: the run failed: {end.Error}").ConfigureAwait(false);
                return ExitCodes.RunFailed;
        }
    }

    /// <summary>One line of progress for people, or null for a step that needs none (the answer goes to stdout).</summary>
    private static string? Describe(RunProgressDto step) => step.Type switch
    {
        "model_call" => $"[{step.Turn}] model {step.Model}: {Tokens(step.InputTokens)} in, {Tokens(step.OutputTokens)} out, {step.DurationMs} ms",
        "tool_call" => $"[{step.Turn}] tool {step.Tool} {step.Arguments}",
        "decision" => step.Decision switch
        {
            "allow" => $"[{step.Turn}] allowed by rule {step.Rule}",
            "pending" => $"[{step.Turn}] waiting for approval ({step.Reason}): apiary approvals approve {step.TicketId}",
            _ => $"[{step.Turn}] {(step.Decision == "steer" ? "steered" : "denied")} by rule {step.Rule}: {step.Reason}",
        },
        "tool_result" => $"[{step.Turn}] result: {FirstLine(step.Output)}",
        _ => null,
    };

    private static string Tokens(long? count) => count?.ToString(CultureInfo.InvariantCulture) ?? "?";

    private static string FirstLine(string? text)
    {
        var line = (text ?? "").Split('\n', 2)[0];
        return line.Length <= 200 ? line : line[..200] + "…";
    }
}
