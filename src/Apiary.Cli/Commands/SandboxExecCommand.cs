using System.Net;
using Apiary.Text;
using Command = System.CommandLine.Command;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary exec</c>: proposes one command to the running server of the home, in a session of its own. Once governance
/// allows it, the server runs it in a fresh sandbox and this command streams its output as it comes, then exits with its
/// exit code (124 on timeout, 137 when it was killed, 126 when governance refused it). The session is closed at the end,
/// also on Ctrl-C, which cancels the command on the server (recorded) and exits 130.
/// </summary>
internal static class SandboxExecCommand
{
    /// <summary>The exit code when the command ran past its timeout (as timeout(1) uses).</summary>
    public const int TimedOutExitCode = 124;

    /// <summary>The exit code when the command was killed (cancelled or over its output limit): 128 + SIGKILL.</summary>
    public const int KilledExitCode = 137;

    /// <summary>The agent a command runs as when no <c>--agent</c> is given: the person at the terminal (role manager, no budget).</summary>
    public const string Operator = "operator";

    /// <summary>How long exec waits for a person to answer an approval unless <c>--approval-timeout</c> says otherwise.</summary>
    public static readonly TimeSpan DefaultApprovalTimeout = TimeSpan.FromMinutes(10);

    public static Command Create(CliContext context)
    {
        var program = new Argument<string[]>("command") { Description = "The program and its arguments, after '--'.", Arity = ArgumentArity.OneOrMore };
        var template = new Option<string?>("--template") { Description = "The sandbox template, from templates/ in the home (default: the agent's, else default).", HelpName = "NAME" };
        var timeout = new Option<string?>("--timeout") { Description = "Wall-clock limit: seconds, or a duration such as 90s or 5m (default: the template's).", HelpName = "S" };
        var secrets = new Option<string[]>("--secret") { Description = "Give the command this secret from the home's secret store, as an environment variable (the server reads the value). Repeatable.", HelpName = "NAME", AllowMultipleArgumentsPerToken = false };
        var env = new Option<string[]>("--env") { Description = "Set an environment variable for the command. Repeatable.", HelpName = "NAME=VALUE" };
        var workspace = new Option<string?>("--workspace") { Description = "The folder mounted at /workspace (default: the agent's workspace; for the operator a new empty folder, removed afterwards).", HelpName = "DIR" };
        var workdir = new Option<string?>("--workdir") { Description = "The working directory, relative to the workspace.", HelpName = "DIR" };
        var unconfined = new Option<bool>("--unconfined") { Description = "Accept a server that runs commands without a sandbox ('apiary up --unconfined'); refused when the server sandboxes them. Development only." };
        var agent = new Option<string?>("--agent") { Description = $"Propose the command as this agent of the home: its policies, budget and workspace apply (default: '{Operator}', role manager, no budget).", HelpName = "NAME" };
        var approvalTimeout = new Option<string?>("--approval-timeout") { Description = "How long to wait for a person to approve the command when the policy asks for it (default: 10m).", HelpName = "DURATION" };
        var command = new Command("exec", $"Propose one command to the running server of the home and, when governance allows it, run it in a fresh sandbox (no network, system read-only, only /workspace writable) and stream its output. Exits with the command's exit code, 124 on timeout, 137 when killed, {ExitCodes.Refused} when governance refused it, 130 when interrupted.")
        {
            program, template, timeout, secrets, env, workspace, workdir, unconfined, agent, approvalTimeout,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var argv = parse.GetValue(program)!;
            if (argv[0].StartsWith('-'))
            {
                // An option exec does not have, given before '--': never a program to propose.
                throw CliException.BadInput($"exec has no option '{argv[0]}' ('apiary exec --help' lists them); the command goes after '--', as in 'apiary exec -- ls -la'");
            }

            var timeoutSeconds = ParseTimeout(parse.GetValue(timeout));
            var waitForApproval = ParseApprovalTimeout(parse.GetValue(approvalTimeout));
            var environment = ParseEnv(parse.GetValue(env) ?? []);
            var folder = parse.GetValue(workspace) is { } raw ? Home.ApiaryHome.Expand(NoNul("--workspace", raw), context.UserHome, context.CurrentDirectory) : null;
            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(unconfined))
            {
                await CheckUnconfinedAsync(client, context, cancellationToken).ConfigureAwait(false);
            }

            var opened = await Refusals(() => client.OpenSessionAsync(new OpenSessionRequest(parse.GetValue(agent) ?? Operator, folder, parse.GetValue(template)), cancellationToken)).ConfigureAwait(false);
            var sessionId = opened.Session.Id;
            try
            {
                var request = new ProposalRequest(
                    "exec",
                    Command: argv[0],
                    Args: argv[1..],
                    Workdir: parse.GetValue(workdir),
                    Env: environment,
                    TimeoutSeconds: timeoutSeconds,
                    Secrets: parse.GetValue(secrets) is { Length: > 0 } names ? names : null);
                var proposal = await Refusals(() => client.ProposeAsync(sessionId, request, cancellationToken: cancellationToken)).ConfigureAwait(false);
                return await RunAsync(client, proposal, argv[0], waitForApproval, context, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                // Closing cancels what still runs or waits in the session (recorded by the server), also after Ctrl-C.
                try
                {
                    await client.CloseSessionAsync(sessionId, CancellationToken.None).ConfigureAwait(false);
                }
                catch (ApiaryClientException ex)
                {
                    await context.Error.WriteLineAsync($"apiary: could not close session {sessionId}: {ex.Message}").ConfigureAwait(false);
                }
            }
        });
        return command;
    }

    /// <summary>Follows a submitted proposal: says how governance decided, waits for an approval, streams the output, and returns the exit code.</summary>
    private static async Task<int> RunAsync(ApiaryClient client, ProposalDto proposal, string program, TimeSpan waitForApproval, CliContext context, CancellationToken cancellationToken)
    {
        var decision = proposal.Decision;
        switch (decision.Decision)
        {
            case "allow":
                await context.Error.WriteLineAsync($"apiary: proposal {proposal.Id} allowed by rule {decision.Rule}").ConfigureAwait(false);
                break;
            case "pending" when decision.TicketId is { } ticket:
                await context.Error.WriteLineAsync(
                    $"apiary: waiting for approval of proposal {proposal.Id} (rule {decision.Rule}); approve it with: apiary approvals approve {ticket} [--for-session]  " +
                    $"or deny it with: apiary approvals deny {ticket} --reason \"...\"").ConfigureAwait(false);
                await context.Error.FlushAsync(cancellationToken).ConfigureAwait(false);
                break;
            default:
                return await RefusedAsync(proposal, context).ConfigureAwait(false);
        }

        using var answered = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var expiry = decision.Decision == "pending"
            ? DenyWhenUnansweredAsync(client, proposal.Id, decision.TicketId!, waitForApproval, answered.Token)
            : Task.CompletedTask;
        try
        {
            var started = decision.Decision == "allow";
            await foreach (var item in client.StreamOutputAsync(proposal.Id, cancellationToken).ConfigureAwait(false))
            {
                if (!started)
                {
                    // The first item after a wait: the answer came. Stop the approval clock and say how it was decided.
                    started = true;
                    await answered.CancelAsync().ConfigureAwait(false);
                    var now = await client.GetProposalAsync(proposal.Id, cancellationToken).ConfigureAwait(false);
                    if (now.Status == "denied")
                    {
                        return await RefusedAsync(now, context).ConfigureAwait(false);
                    }

                    await context.Error.WriteLineAsync($"apiary: proposal {proposal.Id} allowed by rule {now.Decision.Rule}").ConfigureAwait(false);
                }

                switch (item)
                {
                    case ProposalOutputText { Stream: "stdout" } text:
                        await context.Out.WriteAsync(text.Text).ConfigureAwait(false);
                        await context.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
                        break;
                    case ProposalOutputText text:
                        await context.Error.WriteAsync(text.Text).ConfigureAwait(false);
                        await context.Error.FlushAsync(cancellationToken).ConfigureAwait(false);
                        break;
                    case ProposalOutputCompleted { Result.Reason: "denied" }:
                        return await RefusedAsync(await client.GetProposalAsync(proposal.Id, cancellationToken).ConfigureAwait(false), context).ConfigureAwait(false);
                    case ProposalOutputCompleted completed:
                        return await ExitCodeAsync(completed.Result, program, context).ConfigureAwait(false);
                }
            }

            throw CliException.Failure($"the output of proposal {proposal.Id} ended before the command completed");
        }
        finally
        {
            await answered.CancelAsync().ConfigureAwait(false);
            await expiry.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>
    /// Denies the ticket when nobody answered within <paramref name="wait"/>: nobody is left to run the command once this
    /// exec ends, so the ticket must not stay open to be approved.
    /// </summary>
    private static async Task DenyWhenUnansweredAsync(ApiaryClient client, string proposalId, string ticket, TimeSpan wait, CancellationToken answered)
    {
        await Task.Delay(wait, answered).ConfigureAwait(false);
        var now = await client.GetProposalAsync(proposalId, answered).ConfigureAwait(false);
        if (now.Status != "pending_approval")
        {
            return;
        }

        try
        {
            await client.DenyAsync(ticket, $"nobody answered within {DurationText.Format(wait)}; the command did not run", CancellationToken.None).ConfigureAwait(false);
        }
        catch (ApiaryClientException ex) when (ex.Status == HttpStatusCode.Conflict)
        {
            // Answered meanwhile: the answer stands.
        }
    }

    /// <summary>Says why governance refused the proposal (a rule, a person, or nobody in time) and returns 126.</summary>
    private static async Task<int> RefusedAsync(ProposalDto proposal, CliContext context)
    {
        var decision = proposal.Decision;
        if (decision.Stage == "approval")
        {
            await context.Error.WriteLineAsync(decision.Reason is { } why && why.StartsWith("denied by ", StringComparison.Ordinal)
                ? $"apiary: approval of proposal {proposal.Id} {why}"
                : $"apiary: approval of proposal {proposal.Id} was not given: {decision.Reason}").ConfigureAwait(false);
            return ExitCodes.Refused;
        }

        await context.Error.WriteLineAsync(decision.Decision == "steer"
            ? $"apiary: steered by rule '{decision.Rule}': {decision.Reason}"
            : $"apiary: denied by rule '{decision.Rule}': {decision.Reason}").ConfigureAwait(false);
        await context.Error.WriteLineAsync($"apiary: the command did not run; 'apiary explain {proposal.Id}' shows what decided").ConfigureAwait(false);
        return ExitCodes.Refused;
    }

    private static async Task<int> ExitCodeAsync(ResultDto result, string program, CliContext context)
    {
        var note = result.Truncated ? " (output truncated at the limit)" : "";
        switch (result.Reason)
        {
            case "timed_out":
                await context.Error.WriteLineAsync($"apiary: '{program}' timed out after {result.DurationMs} ms and was stopped{note}").ConfigureAwait(false);
                return TimedOutExitCode;
            case "cancelled":
                await context.Error.WriteLineAsync($"apiary: '{program}' was cancelled and stopped{note}").ConfigureAwait(false);
                if (result.Error is { } why)
                {
                    await context.Error.WriteLineAsync($"apiary: {why}").ConfigureAwait(false);
                }

                return KilledExitCode;
            case "output_limit":
                await context.Error.WriteLineAsync($"apiary: '{program}' wrote more than its output limit and was stopped").ConfigureAwait(false);
                return KilledExitCode;
            case "disk_quota":
                await context.Error.WriteLineAsync($"apiary: '{program}' took the workspace past its disk quota (the template's disk_mb) and was stopped; delete files to make room").ConfigureAwait(false);
                return KilledExitCode;
            case "error":
                // The sandbox could not run it: its own failure, or what was asked of it (an unknown secret, a bad workdir).
                var error = result.Error ?? "the sandbox failed without saying why";
                var colon = error.IndexOf(": ", StringComparison.Ordinal);
                var (code, message) = colon > 0 ? (error[..colon], error[(colon + 2)..]) : ("", error);
                throw code is "start_failed" or "io_error" ? CliException.Failure(message) : CliException.BadInput(message);
            default:
                if (result.Truncated)
                {
                    await context.Error.WriteLineAsync("apiary: output truncated at the limit").ConfigureAwait(false);
                }

                return result.ExitCode ?? KilledExitCode;
        }
    }

    /// <summary>Refuses <c>--unconfined</c> against a server that sandboxes commands; warns when it does not.</summary>
    private static async Task CheckUnconfinedAsync(ApiaryClient client, CliContext context, CancellationToken cancellationToken)
    {
        var readiness = await client.GetReadinessAsync(cancellationToken).ConfigureAwait(false);
        var sandbox = readiness.Checks.FirstOrDefault(c => c.Name == "sandbox");
        if (sandbox?.Detail.Contains("NOT isolated", StringComparison.Ordinal) != true)
        {
            throw CliException.BadInput(
                $"--unconfined: the server of this home runs commands in sandboxes ({sandbox?.Detail ?? "unknown backend"}), and a command cannot opt out; " +
                "for development without bubblewrap, start the server with 'apiary up --unconfined'");
        }

        await context.Error.WriteLineAsync("apiary: WARNING: the server of this home runs commands unconfined, as plain processes: nothing is isolated (development only)").ConfigureAwait(false);
    }

    /// <summary>Runs a request whose refusal is the user's to fix (a bad workspace, template, agent, or policies that do not load): exit 2 with the server's word.</summary>
    private static async Task<T> Refusals<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (ApiaryClientException ex) when (ex.Status is HttpStatusCode.BadRequest or HttpStatusCode.NotFound
            || (ex.Status == HttpStatusCode.ServiceUnavailable && ex.Title == "Policies not loaded"))
        {
            throw CliException.BadInput(ex.Detail ?? ex.Message);
        }
    }

    private static TimeSpan ParseApprovalTimeout(string? text) =>
        text is null
            ? DefaultApprovalTimeout
            : DurationText.TryParse(text, out var duration) && duration >= TimeSpan.Zero
                ? duration
                : throw CliException.BadInput($"--approval-timeout must be {DurationText.Expected}, not '{text}'");

    /// <summary>The timeout in whole seconds, as the API takes it (a part of a second counts as one).</summary>
    private static int? ParseTimeout(string? text)
    {
        if (text is null)
        {
            return null;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            return seconds;
        }

        return DurationText.TryParse(text, out var duration) && duration > TimeSpan.Zero && duration.TotalSeconds <= int.MaxValue
            ? (int)Math.Ceiling(duration.TotalSeconds)
            : throw CliException.BadInput($"--timeout must be a number of seconds or {DurationText.Expected}, not '{text}'");
    }

    /// <summary>
    /// <paramref name="value"/>, unless it holds a NUL: the one value exec uses itself (a path) before the server checks
    /// every field, so it is refused here as the server would refuse it, never cut or removed.
    /// </summary>
    private static string NoNul(string option, string value)
    {
        var at = value.IndexOf('\0', StringComparison.Ordinal);
        return at < 0 ? value : throw CliException.BadInput($"{option} holds a NUL character (U+0000) at character {at.ToString(CultureInfo.InvariantCulture)}; a NUL is refused, never removed");
    }

    private static Dictionary<string, string> ParseEnv(string[] pairs)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw CliException.BadInput($"--env takes NAME=VALUE, not '{pair}'");
            }

            env[pair[..equals]] = pair[(equals + 1)..];
        }

        return env;
    }
}
