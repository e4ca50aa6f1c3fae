using System.CommandLine;
using System.Globalization;
using System.Text;
using Apiary.Agents;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.Pipeline;
using Apiary.Protocol;
using Command = System.CommandLine.Command;
using Apiary.Sandbox;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Templates;
using Apiary.Sandbox.Unconfined;
using Apiary.Secrets;
using Apiary.Text;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary exec</c>: proposes one command to the home's governance pipeline (in this process, against the home's
/// event log and policies) and, once allowed, runs it in a fresh sandbox session on this machine, streams its output as
/// it comes, records how it ended, and exits with its exit code (124 on timeout, 137 when it was killed, 126 when
/// governance refused it).
/// </summary>
internal static class SandboxExecCommand
{
    /// <summary>The exit code when the command ran past its timeout (as timeout(1) uses).</summary>
    public const int TimedOutExitCode = 124;

    /// <summary>The exit code when the command was killed (cancelled or over its output limit): 128 + SIGKILL.</summary>
    public const int KilledExitCode = 137;

    /// <summary>How long exec waits for a person to answer an approval unless <c>--approval-timeout</c> says otherwise.</summary>
    public static readonly TimeSpan DefaultApprovalTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The most output recorded with <c>proposal.completed</c>; the command's own output is not cut.</summary>
    private const int RecordedOutputChars = 64 * 1024;

    public static Command Create(CliContext context)
    {
        var program = new Argument<string[]>("command") { Description = "The program and its arguments, after '--'.", Arity = ArgumentArity.OneOrMore };
        var template = new Option<string?>("--template") { Description = "The sandbox template, from templates/ in the home (default: default).", HelpName = "NAME" };
        var timeout = new Option<string?>("--timeout") { Description = "Wall-clock limit: seconds, or a duration such as 90s or 5m (default: the template's).", HelpName = "S" };
        var secrets = new Option<string[]>("--secret") { Description = "Give the command this secret from the secret store, as an environment variable. Repeatable.", HelpName = "NAME", AllowMultipleArgumentsPerToken = false };
        var env = new Option<string[]>("--env") { Description = "Set an environment variable for the command. Repeatable.", HelpName = "NAME=VALUE" };
        var workspace = new Option<string?>("--workspace") { Description = "The folder mounted at /workspace (default: a new empty folder, removed afterwards).", HelpName = "DIR" };
        var workdir = new Option<string?>("--workdir") { Description = "The working directory, relative to the workspace.", HelpName = "DIR" };
        var unconfined = new Option<bool>("--unconfined") { Description = "Run without a sandbox, as a plain process. For development on machines without bubblewrap only." };
        var agent = new Option<string?>("--agent") { Description = "Propose the command as this agent of the home: its policies and budget apply (default: 'operator', role manager).", HelpName = "NAME" };
        var approvalTimeout = new Option<string?>("--approval-timeout") { Description = "How long to wait for a person to approve the command when the policy asks for it (default: 10m).", HelpName = "DURATION" };
        var command = new Command("exec", $"Propose one command to the home's governance and, when allowed, run it in a fresh sandbox (no network, system read-only, only /workspace writable) and stream its output. Exits with the command's exit code, 124 on timeout, 137 when killed, {ExitCodes.Refused} when governance refused it.")
        {
            program, template, timeout, secrets, env, workspace, workdir, unconfined, agent, approvalTimeout,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            var timeoutMs = ParseTimeout(parse.GetValue(timeout));
            var waitForApproval = ParseApprovalTimeout(parse.GetValue(approvalTimeout));
            var environment = ParseEnv(parse.GetValue(env) ?? []);
            var (principalName, role, limits) = await ResolvePrincipalAsync(parse, parse.GetValue(agent), context, cancellationToken).ConfigureAwait(false);
            var sandboxTemplate = await LoadTemplateAsync(home, parse.GetValue(template), context, cancellationToken).ConfigureAwait(false);
            var secretNames = parse.GetValue(secrets) ?? [];
            ISecretStore? store = secretNames.Length > 0 || sandboxTemplate.Secrets.Count > 0 ? new FileSecretStore(home) : null;
            var secretValues = await SecretValuesAsync(store, secretNames.Concat(sandboxTemplate.Secrets.Select(s => s.Name)), cancellationToken).ConfigureAwait(false);

            string? temporary = null;
            var folder = parse.GetValue(workspace);
            if (folder is not null)
            {
                var check = WorkspaceGuard.Validate(ApiaryHomePath(folder, context), context.UserHome, home.Root);
                folder = check.Path ?? throw CliException.BadInput(check.Reason!);
            }

            var sessionId = "exec-" + Guid.NewGuid().ToString("N");
            await using var governance = await LocalGovernance.OpenForDecisionsAsync(home, context, secretValues, sessionId, limits, cancellationToken).ConfigureAwait(false);
            if (folder is null)
            {
                temporary = Directory.CreateTempSubdirectory("apiary-exec-").FullName;
                folder = temporary;
            }

            try
            {
                var argv = parse.GetValue(program)!;
                var principal = new Principal(principalName, role, sessionId);
                var proposal = Proposal.Exec(principal, folder, argv[0], argv[1..]);
                var estimate = new BudgetEstimate(1, timeoutMs is { } ms ? TimeSpan.FromMilliseconds(ms) : sandboxTemplate.Timeout, 0, 0m);
                var allowed = await GovernAsync(governance.Pipeline, proposal, estimate, waitForApproval, context, cancellationToken).ConfigureAwait(false);
                if (allowed is null)
                {
                    return ExitCodes.Refused;
                }

                var exec = new ExecCommand
                {
                    RequestId = "exec-1",
                    Command = argv[0],
                    Args = argv[1..],
                    Env = environment,
                    Workdir = parse.GetValue(workdir),
                    TimeoutMs = timeoutMs,
                    Secrets = secretNames,
                };
                var run = new RunRecord();
                try
                {
                    var backend = CreateBackend(parse.GetValue(unconfined), context);
                    using var owned = backend as IDisposable;
                    await using var session = await backend.OpenSessionAsync(new SandboxSessionOptions { Workspace = folder, Template = sandboxTemplate, Secrets = store }, cancellationToken).ConfigureAwait(false);

                    // An engaged kill switch covering this agent or session, here or in another process, stops the command.
                    var killed = governance.Pipeline.KillTokenFor(principal);
                    using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, killed);
                    var code = await StreamAsync(session, exec, context, run, stop.Token).ConfigureAwait(false);
                    if (killed.IsCancellationRequested && governance.Pipeline.IsBlocked(principal) is { } engaged)
                    {
                        await context.Error.WriteLineAsync($"apiary: stopped by the kill switch: {engaged}").ConfigureAwait(false);
                    }

                    return code;
                }
                finally
                {
                    // The work ran (or tried to): the record and the budget must say so, also when it failed or was cancelled.
                    var outcome = new ProposalOutcome(run.ExitCode, run.Reason, run.Duration ?? run.Clock.Elapsed, run.Output.ToString());
                    var actual = new BudgetAmounts(1, outcome.Duration, 0, 0m);
                    await governance.Pipeline.CompleteAsync(allowed, outcome, actual, CancellationToken.None).ConfigureAwait(false);
                }
            }
            finally
            {
                if (temporary is not null)
                {
                    Directory.Delete(temporary, recursive: true);
                }
            }
        });
        return command;
    }

    /// <summary>
    /// Submits the proposal and, when it waits for approval, waits for the answer. Returns what may run, or null when
    /// governance refused it (after saying why on stderr).
    /// </summary>
    private static async Task<AllowedProposal?> GovernAsync(
        GovernancePipeline pipeline,
        Proposal proposal,
        BudgetEstimate estimate,
        TimeSpan waitForApproval,
        CliContext context,
        CancellationToken cancellationToken)
    {
        var result = await pipeline.SubmitAsync(proposal, estimate, cancellationToken).ConfigureAwait(false);
        if (result.Decision.Kind == DecisionKind.Pending && result.Ticket is { } ticket)
        {
            await context.Error.WriteLineAsync(
                $"apiary: waiting for approval of proposal {proposal.Id} (rule {result.Decision.Rule}); approve it with: apiary approvals approve {ticket.Id} [--for-session]  " +
                $"or deny it with: apiary approvals deny {ticket.Id} --reason \"...\"").ConfigureAwait(false);
            await context.Error.FlushAsync(cancellationToken).ConfigureAwait(false);
            ApprovalAnswer answer;
            try
            {
                answer = await pipeline.WaitForApprovalAsync(ticket.Id, waitForApproval, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Interrupted (Ctrl-C): nobody will run the command, so close the ticket rather than leave it approvable.
                await pipeline.DenyAsync(ticket.Id, "the waiting 'apiary exec' was interrupted; the command did not run", "apiary exec", CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            if (answer.State == ApprovalState.Open)
            {
                // Nobody is left to run it once this command ends, so the ticket must not stay open to be approved.
                answer = await pipeline.DenyAsync(ticket.Id, $"nobody answered within {DurationText.Format(waitForApproval)}; the command did not run", "apiary exec", CancellationToken.None).ConfigureAwait(false);
            }

            switch (answer.State)
            {
                case ApprovalState.Granted:
                    result = await pipeline.ResumeAsync(ticket.Id, cancellationToken).ConfigureAwait(false);
                    break;
                case ApprovalState.Denied:
                    await context.Error.WriteLineAsync($"apiary: approval of proposal {proposal.Id} denied by {answer.By}: {answer.Reason}").ConfigureAwait(false);
                    return null;
                default:
                    var state = answer.State == ApprovalState.Expired ? "expired unanswered" : "already consumed";
                    await context.Error.WriteLineAsync($"apiary: approval ticket {ticket.Id} of proposal {proposal.Id} {state}; the command did not run").ConfigureAwait(false);
                    return null;
            }
        }

        switch (result.Decision.Kind)
        {
            case DecisionKind.Allow when result.Allowed is { } allowed:
                await context.Error.WriteLineAsync($"apiary: proposal {proposal.Id} allowed by rule {result.Decision.Rule}").ConfigureAwait(false);
                return allowed;
            case DecisionKind.Steer:
                await context.Error.WriteLineAsync($"apiary: steered by rule '{result.Decision.Rule}': {result.Decision.Reason}").ConfigureAwait(false);
                break;
            default:
                await context.Error.WriteLineAsync($"apiary: denied by rule '{result.Decision.Rule}': {result.Decision.Reason}").ConfigureAwait(false);
                break;
        }

        await context.Error.WriteLineAsync($"apiary: the command did not run; 'apiary explain {proposal.Id}' shows what decided").ConfigureAwait(false);
        return null;
    }

    private static async Task<(AgentName Name, AgentRole Role, BudgetLimits? Limits)> ResolvePrincipalAsync(ParseResult parse, string? agent, CliContext context, CancellationToken cancellationToken)
    {
        if (agent is null)
        {
            // The person at the terminal: a manager, with no budget beyond what the policies allow.
            return (LocalGovernance.Operator, AgentRole.Manager, null);
        }

        var catalog = await CommonOptions.OpenCatalogAsync(parse, context, cancellationToken).ConfigureAwait(false);
        var entry = await CommonOptions.LoadAgentAsync(catalog, agent, AgentOverrides.None, cancellationToken).ConfigureAwait(false);
        await CommonOptions.ReportAsync(context, entry.Diagnostics).ConfigureAwait(false);
        var definition = entry.Definition ?? throw CliException.Failure($"agent '{entry.Name}' cannot be used until the errors above are fixed");
        return (definition.Name, definition.Settings.Role.Value, LocalGovernance.LimitsOf(definition.Settings));
    }

    private static async Task<List<string>> SecretValuesAsync(ISecretStore? store, IEnumerable<string> names, CancellationToken cancellationToken)
    {
        var values = new List<string>();
        if (store is null)
        {
            return values;
        }

        foreach (var name in names.Distinct(StringComparer.Ordinal))
        {
            // A missing secret is reported by the sandbox, with the command that sets it.
            if (await store.GetAsync(name, cancellationToken).ConfigureAwait(false) is { Length: > 0 } value)
            {
                values.Add(value);
            }
        }

        return values;
    }

    private static TimeSpan ParseApprovalTimeout(string? text) =>
        text is null
            ? DefaultApprovalTimeout
            : DurationText.TryParse(text, out var duration) && duration >= TimeSpan.Zero
                ? duration
                : throw CliException.BadInput($"--approval-timeout must be {DurationText.Expected}, not '{text}'");

    private static async Task<int> StreamAsync(ISandboxSession session, ExecCommand exec, CliContext context, RunRecord run, CancellationToken cancellationToken)
    {
        var stdout = Encoding.UTF8.GetDecoder();
        var stderr = Encoding.UTF8.GetDecoder();
        await foreach (var observation in session.ExecuteAsync(exec, cancellationToken).ConfigureAwait(false))
        {
            switch (observation)
            {
                case OutputObservation { Stream: OutputChannel.Stdout } output:
                    run.Keep(await WriteAsync(context.Out, stdout, output.Data).ConfigureAwait(false));
                    break;
                case OutputObservation output:
                    run.Keep(await WriteAsync(context.Error, stderr, output.Data).ConfigureAwait(false));
                    break;
                case ErrorObservation error:
                    run.Reason = "error";
                    throw error.Code is "start_failed" or "io_error"
                        ? CliException.Failure(error.Message)
                        : CliException.BadInput(error.Message);
                case CompleteObservation complete:
                    run.ExitCode = complete.ExitCode;
                    run.Reason = SnakeCase(complete.Reason.ToString());
                    run.Duration = TimeSpan.FromMilliseconds(complete.DurationMs);
                    return await ExitCodeAsync(complete, exec, context).ConfigureAwait(false);
            }
        }

        throw CliException.Failure("the sandbox ended without reporting how the command ended");
    }

    private static async Task<int> ExitCodeAsync(CompleteObservation complete, ExecCommand exec, CliContext context)
    {
        var note = complete.Truncated ? " (output truncated at the limit)" : "";
        switch (complete.Reason)
        {
            case CompletionReason.TimedOut:
                await context.Error.WriteLineAsync($"apiary: '{exec.Command}' timed out after {complete.DurationMs} ms and was stopped{note}").ConfigureAwait(false);
                return TimedOutExitCode;
            case CompletionReason.Cancelled:
                await context.Error.WriteLineAsync($"apiary: '{exec.Command}' was cancelled and stopped{note}").ConfigureAwait(false);
                return KilledExitCode;
            case CompletionReason.OutputLimit:
                await context.Error.WriteLineAsync($"apiary: '{exec.Command}' wrote more than its output limit and was stopped").ConfigureAwait(false);
                return KilledExitCode;
            default:
                if (complete.Truncated)
                {
                    await context.Error.WriteLineAsync($"apiary: output truncated at the limit").ConfigureAwait(false);
                }

                return complete.ExitCode ?? KilledExitCode;
        }
    }

    private static async Task<char[]> WriteAsync(TextWriter writer, Decoder decoder, byte[] data)
    {
        var chars = new char[decoder.GetCharCount(data, flush: false)];
        decoder.GetChars(data, chars, flush: false);
        await writer.WriteAsync(chars).ConfigureAwait(false);
        await writer.FlushAsync().ConfigureAwait(false);
        return chars;
    }

    private static string SnakeCase(string name) =>
        string.Concat(name.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "_" : "") + char.ToLowerInvariant(c) : c.ToString()));

    /// <summary>What <c>proposal.completed</c> records of a run: how it ended and the start of its output.</summary>
    private sealed class RunRecord
    {
        public System.Diagnostics.Stopwatch Clock { get; } = System.Diagnostics.Stopwatch.StartNew();

        public StringBuilder Output { get; } = new();

        public int? ExitCode { get; set; }

        public string Reason { get; set; } = "not_started";

        public TimeSpan? Duration { get; set; }

        public void Keep(char[] chars)
        {
            var room = RecordedOutputChars - Output.Length;
            if (room > 0)
            {
                Output.Append(chars, 0, Math.Min(room, chars.Length));
            }
        }
    }

    private static ISandboxBackend CreateBackend(bool unconfined, CliContext context)
    {
        if (unconfined)
        {
            return new UnconfinedBackend(context.Error);
        }

        try
        {
            return BubblewrapBackend.Create();
        }
        catch (SandboxUnavailableException ex)
        {
            throw CliException.Failure($"{ex.Message}; or run with --unconfined, for development only");
        }
    }

    private static async Task<SandboxTemplate> LoadTemplateAsync(Home.ApiaryHome home, string? name, CliContext context, CancellationToken cancellationToken)
    {
        if (name is null && !File.Exists(Path.Combine(home.TemplatesDirectory, "default" + SandboxTemplateLoader.Extension)))
        {
            return SandboxTemplate.Default;
        }

        var loader = new SandboxTemplateLoader(home.TemplatesDirectory, home.Root);
        var result = await loader.LoadAsync(name ?? "default", cancellationToken).ConfigureAwait(false);
        await CommonOptions.ReportAsync(context, result.Diagnostics).ConfigureAwait(false);

        return result.Template ?? throw CliException.BadInput($"template '{name ?? "default"}' cannot be used: {string.Join("; ", result.Errors.Select(e => e.Message))}");
    }

    private static long? ParseTimeout(string? text)
    {
        if (text is null)
        {
            return null;
        }

        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            return seconds * 1000;
        }

        return DurationText.TryParse(text, out var duration) && duration > TimeSpan.Zero
            ? (long)duration.TotalMilliseconds
            : throw CliException.BadInput($"--timeout must be a number of seconds or {DurationText.Expected}, not '{text}'");
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

    private static string ApiaryHomePath(string path, CliContext context) =>
        Home.ApiaryHome.Expand(path, context.UserHome, context.CurrentDirectory);
}
