using System.Diagnostics;
using System.Text;
using Apiary.Contracts;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.Pipeline;
using Apiary.Protocol;

namespace Apiary.Runtime;

internal sealed partial class ApiaryRuntime
{
    /// <summary>How long a proposal waits for a person before its ticket is denied.</summary>
    private static readonly TimeSpan ApprovalWait = TimeSpan.FromHours(24);

    /// <summary>
    /// Submits a tool call of <paramref name="session"/> to governance. A file tool that is allowed runs before this
    /// returns; an allowed <c>exec</c> runs in the background; a pending one waits for its ticket in the background.
    /// When the server stops first, the ticket is denied, unless the caller says (<c>keepTicketOnStop</c>) that whoever
    /// submitted it (an agent run) takes the wait up again after a restart.
    /// </summary>
    public Task<ProposalRun> SubmitAsync(ApiSession session, ProposalRequest request, CancellationToken cancellationToken) =>
        SubmitAsync(session, request, keepTicketOnStop: false, cancellationToken);

    /// <inheritdoc cref="SubmitAsync(ApiSession, ProposalRequest, CancellationToken)"/>
    public async Task<ProposalRun> SubmitAsync(ApiSession session, ProposalRequest request, bool keepTicketOnStop, CancellationToken cancellationToken)
    {
        if (PolicyProblem is not null)
        {
            throw new RequestRefusedException(Refusal.Unavailable, "Policies not loaded", PolicyProblem);
        }

        if (!session.IsOpen)
        {
            throw new RequestRefusedException(Refusal.Conflict, "Session closed", $"session {session.Id} is closed; open a new one with POST /api/sessions");
        }

        var (proposal, estimate) = ProposalBuilder.Build(session, request);
        var run = new ProposalRun(proposal, session);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var result = await Pipeline.SubmitAsync(proposal, estimate, linked.Token).ConfigureAwait(false);
        _runs[run.Id] = run;
        switch (result.Decision.Kind)
        {
            case DecisionKind.Pending when result.Ticket is { } ticket:
                run.SetPending(ToDto(result));
                Track(Task.Run(() => AwaitApprovalAsync(run, ticket, keepTicketOnStop), CancellationToken.None));
                break;
            case DecisionKind.Allow when result.Allowed is { } allowed:
                run.SetRunning(ToDto(result));
                var work = Task.Run(() => ExecuteAsync(run, allowed), CancellationToken.None);
                Track(work);
                if (proposal.Kind != ProposalKind.Exec)
                {
                    await work.ConfigureAwait(false);
                }

                break;
            default:
                run.Deny(ToDto(result));
                break;
        }

        return run;
    }

    /// <summary>
    /// Takes up the wait for an open approval ticket of a run's tool call after a restart: the ticket's own proposal, in
    /// <paramref name="session"/> (reopened with the ticket's session id), runs once the ticket is granted.
    /// </summary>
    public ProposalRun AttachPending(ApiSession session, ApprovalTicket ticket)
    {
        var run = new ProposalRun(ticket.Proposal, session);
        run.SetPending(new DecisionDto("pending", "approval", ticket.Rule, ticket.Risk.ToString().ToLowerInvariant(), ticket.Reason, ticket.Id.ToString()));
        _runs[run.Id] = run;
        Track(Task.Run(() => AwaitApprovalAsync(run, ticket, keepTicketOnStop: true), CancellationToken.None));
        return run;
    }

    private async Task AwaitApprovalAsync(ProposalRun run, ApprovalTicket ticket, bool keepTicketOnStop)
    {
        var pending = run.Decision;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, run.Session.Closing);
        try
        {
            ApprovalAnswer answer;
            try
            {
                answer = await Pipeline.WaitForApprovalAsync(ticket.Id, ApprovalWait, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Nobody will run it once the session or the server is gone, so the ticket must not stay approvable.
                var why = _stopping.IsCancellationRequested ? "the server stopped" : "the session closed";
                if (keepTicketOnStop && _stopping.IsCancellationRequested)
                {
                    // The run that submitted it resumes after a restart and waits for the same ticket.
                    run.Deny(pending with { Decision = "deny", Stage = "approval", Reason = $"{why}; the ticket stays open for the run to resume" });
                    return;
                }

                await Pipeline.DenyAsync(ticket.Id, $"{why} before anyone answered; it did not run", "apiary server", CancellationToken.None).ConfigureAwait(false);
                run.Deny(pending with { Decision = "deny", Stage = "approval", Reason = $"{why} before anyone answered; it did not run" });
                return;
            }

            if (answer.State == ApprovalState.Open)
            {
                answer = await Pipeline.DenyAsync(ticket.Id, "nobody answered in time; it did not run", "apiary server", CancellationToken.None).ConfigureAwait(false);
            }

            switch (answer.State)
            {
                case ApprovalState.Granted:
                    var resumed = await Pipeline.ResumeAsync(ticket.Id, stop.Token).ConfigureAwait(false);
                    if (resumed.Decision.Kind == DecisionKind.Allow && resumed.Allowed is { } allowed)
                    {
                        run.SetRunning(ToDto(resumed) with { TicketId = ticket.Id.ToString() });
                        await ExecuteAsync(run, allowed).ConfigureAwait(false);
                    }
                    else
                    {
                        run.Deny(ToDto(resumed));
                    }

                    break;
                case ApprovalState.Denied:
                    run.Deny(pending with { Decision = "deny", Stage = "approval", Reason = $"denied by {answer.By}: {answer.Reason}" });
                    break;
                default:
                    run.Deny(pending with { Decision = "deny", Stage = "approval", Reason = $"approval ticket {ticket.Id} {answer.State.ToString().ToLowerInvariant()}; it did not run" });
                    break;
            }
        }
        catch (Exception ex) when (ex is ApiaryException or OperationCanceledException)
        {
            run.Deny(pending with { Decision = "deny", Stage = "approval", Reason = $"it did not run: {ex.Message}" });
        }
    }

    private async Task ExecuteAsync(ProposalRun run, AllowedProposal allowed)
    {
        var killed = Pipeline.KillTokenFor(run.Session.Principal);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, run.Session.Closing, killed);
        var clock = Stopwatch.StartNew();
        ResultDto result;
        try
        {
            result = await RunAsync(run, allowed.Proposal, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            result = new ResultDto(null, "cancelled", clock.ElapsedMilliseconds);
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            result = new ResultDto(null, "error", clock.ElapsedMilliseconds, Error: ex.Message);
        }

        if (result.Reason == "cancelled")
        {
            var why = killed.IsCancellationRequested && Pipeline.IsBlocked(run.Session.Principal) is { } engaged ? $"stopped by the kill switch: {engaged}"
                : _stopping.IsCancellationRequested ? "stopped because the server is shutting down"
                : run.Session.Closing.IsCancellationRequested ? "stopped because its session closed"
                : "cancelled";
            result = result with { Error = result.Error ?? why };
        }

        var elapsed = clock.Elapsed;
        try
        {
            // The work ran (or tried to): the record and the budget must say so, also when it failed or was cancelled.
            var outcome = new ProposalOutcome(result.ExitCode, result.Reason, elapsed, run.RecordedOutput() ?? result.Content);
            var commands = run.Proposal.Kind == ProposalKind.Exec ? 1 : 0;
            await Pipeline.CompleteAsync(allowed, outcome, new BudgetAmounts(commands, elapsed, 0, 0m), CancellationToken.None).ConfigureAwait(false);
        }
        catch (ApiaryException ex)
        {
            result = result with { Error = (result.Error is null ? "" : result.Error + "; ") + $"its completion could not be recorded: {ex.Message}" };
        }
        finally
        {
            run.Complete(result);
        }
    }

    /// <summary>
    /// Carries out the decided proposal: the sandbox command is built from its arguments alone (the resolved program,
    /// arguments, environment, secret names, standard input, working folder and time limit), never from the request
    /// that asked for it.
    /// </summary>
    private static async Task<ResultDto> RunAsync(ProposalRun run, Proposal proposal, CancellationToken cancellationToken)
    {
        var sandbox = run.Session.Sandbox;
        var clock = Stopwatch.StartNew();
        var a = proposal.Arguments;
        if (proposal.Kind == ProposalKind.Exec && a.Template != run.Session.Template.Name)
        {
            throw new ApiaryException($"the proposal was decided for sandbox template '{a.Template}', but its session runs '{run.Session.Template.Name}'");
        }

        if (proposal.Kind == ProposalKind.Exec && a.Program is null)
        {
            // Nothing is searched for after the decision: a program that was not found then is not run now.
            run.AppendOutput("stderr", $"apiary: {a.Command}: no such program on the sandbox's search path ({sandbox.SearchPath})\n");
            return new ResultDto(127, "exited", clock.ElapsedMilliseconds);
        }

        Protocol.Command command = proposal.Kind switch
        {
            ProposalKind.Exec => new ExecCommand
            {
                RequestId = run.Id,
                Command = a.Program!,
                Args = a.Args,
                Env = a.Env,
                Workdir = a.Workdir,
                Stdin = a.Stdin is null ? null : Encoding.UTF8.GetBytes(a.Stdin),
                TimeoutMs = a.TimeoutSeconds is { } s ? s * 1000L : null,
                Secrets = a.Secrets,
            },
            ProposalKind.ReadFile => new ReadFileCommand { RequestId = run.Id, Path = a.Path! },
            ProposalKind.WriteFile => new WriteFileCommand { RequestId = run.Id, Path = a.Path!, Content = Encoding.UTF8.GetBytes(a.Content ?? "") },
            _ => new ListDirCommand { RequestId = run.Id, Path = a.Path ?? "" },
        };

        var stdout = Encoding.UTF8.GetDecoder();
        var stderr = Encoding.UTF8.GetDecoder();
        var (exitCode, reason, truncated) = ((int?)null, "done", false);
        string? error = null, content = null;
        List<DirEntryDto>? entries = null;
        await foreach (var observation in sandbox.ExecuteAsync(command, cancellationToken).ConfigureAwait(false))
        {
            switch (observation)
            {
                case OutputObservation { Stream: OutputChannel.Stdout } output:
                    run.AppendOutput("stdout", Decode(stdout, output.Data));
                    break;
                case OutputObservation output:
                    run.AppendOutput("stderr", Decode(stderr, output.Data));
                    break;
                case CompleteObservation complete:
                    (exitCode, reason, truncated) = (complete.ExitCode, Reason(complete.Reason), complete.Truncated);
                    return new ResultDto(exitCode, reason, complete.DurationMs, Truncated: truncated);
                case ErrorObservation failed:
                    (reason, error) = ("error", $"{failed.Code}: {failed.Message}");
                    break;
                case FileContentObservation file:
                    (content, truncated) = (Encoding.UTF8.GetString(file.Content), file.Truncated);
                    break;
                case FileWrittenObservation:
                    break;
                case DirListingObservation listing:
                    entries = listing.Entries.Select(e => new DirEntryDto(e.Name, EntryType(e.Kind), e.Kind == EntryKind.File ? e.Size : null)).ToList();
                    break;
            }
        }

        return new ResultDto(exitCode, reason, clock.ElapsedMilliseconds, Truncated: truncated, Content: content, Entries: entries, Error: error);
    }

    private static string Decode(Decoder decoder, byte[] data)
    {
        var chars = new char[decoder.GetCharCount(data, flush: false)];
        decoder.GetChars(data, chars, flush: false);
        return new string(chars);
    }

    private static string Reason(CompletionReason reason) => reason switch
    {
        CompletionReason.Exited => "exited",
        CompletionReason.TimedOut => "timed_out",
        CompletionReason.Cancelled => "cancelled",
        CompletionReason.DiskQuota => "disk_quota",
        _ => "output_limit",
    };

    private static string EntryType(EntryKind kind) => kind switch
    {
        EntryKind.File => "file",
        EntryKind.Directory => "dir",
        EntryKind.Symlink => "symlink",
        _ => "other",
    };

    /// <summary>The wire form of a governance result.</summary>
    public static DecisionDto ToDto(GovernanceResult result) => new(
        result.Decision.Kind.ToString().ToLowerInvariant(),
        StageName(result.Stage),
        result.Decision.Rule,
        result.Decision.Risk.ToString().ToLowerInvariant(),
        result.Decision.Reason,
        result.Ticket?.Id.ToString());

    public static string StageName(PipelineStage stage) => stage switch
    {
        PipelineStage.KillSwitch => "kill_switch",
        _ => stage.ToString().ToLowerInvariant(),
    };
}
