using System.Collections.Concurrent;
using System.Diagnostics;
using Apiary.Governance.Budgets;
using Apiary.Governance.Pipeline;

namespace Apiary.Runtime;

/// <summary>
/// The work a proposal stands for, carried out once governance allowed it: exactly the decided
/// <paramref name="proposal"/>, never the request that asked for it. What it returns is what the completion records.
/// </summary>
internal delegate Task<ProposalWorkResult> ProposalWork(ProposalRun run, Proposal proposal, CancellationToken cancellationToken);

/// <summary>
/// How a proposal's work ended: its result (exit code, reason, output), what it spent (by default one command for an
/// <c>exec</c> and the time it took) and events recorded in the same append as its <c>proposal.completed</c> (a model
/// call's <c>model.called</c>).
/// </summary>
internal sealed record ProposalWorkResult(ResultDto Result, BudgetAmounts? Spent = null, IReadOnlyList<EventData>? Alongside = null);

/// <summary>How <see cref="GovernedExecutor.GovernAsync"/> treats one proposal.</summary>
internal sealed record GovernOptions
{
    /// <summary>An allowed proposal's work goes on in the background (an <c>exec</c>); otherwise it is done before the call returns.</summary>
    public bool InBackground { get; init; }

    /// <summary>
    /// When the runtime stops while a person has not answered, the ticket stays open: whoever submitted it (an agent
    /// run) takes the wait up again after a restart. Otherwise it is denied, so nothing runs on an answer nobody waits for.
    /// </summary>
    public bool KeepTicketOnStop { get; init; }

    /// <summary>Cancelled when whoever submitted it no longer waits (an agent run that stopped): a pending ticket is denied, running work is cancelled.</summary>
    public CancellationToken Abandoned { get; init; }

    /// <summary>The session's kill switch also cancels the work (everything an agent does; not the operator's own calls into the control plane).</summary>
    public bool KillSwitchCancels { get; init; } = true;
}

/// <summary>
/// The one governed executor: every side effect of the runtime (a command, a file, a message, a spawn, a start, stop,
/// restart or update of an agent, a memory write, a model call) is a proposal submitted here. It is decided by the
/// governance pipeline, waits for a person when the policies ask for one (denied when nobody answers in time or
/// nobody is left to run it), is carried out exactly as decided, and is completed on the record with what it spent.
/// </summary>
internal sealed class GovernedExecutor(RuntimeContext context)
{
    /// <summary>How long a proposal waits for a person before its ticket is denied.</summary>
    public static readonly TimeSpan ApprovalWait = TimeSpan.FromHours(24);

    /// <summary>The estimate of work that spends nothing the budget counts up front (a message, a file of the control plane).</summary>
    public static readonly BudgetEstimate NoEstimate = new(0, TimeSpan.Zero, 0, 0m);

    private readonly ConcurrentDictionary<string, ProposalRun> _runs = new(StringComparer.Ordinal);
    private readonly FinishedRuns _finished = new();

    /// <summary>How many proposals went through <see cref="GovernAsync"/> (and <see cref="AttachPending"/>): what a test counts to prove every side effect passes here.</summary>
    public long Governed => Interlocked.Read(ref _governed);

    private long _governed;

    /// <summary>The proposals not yet denied or completed.</summary>
    public IEnumerable<ProposalRun> Runs => _runs.Values;

    /// <summary>
    /// A proposal not yet ended, or one that ended a moment ago (see <see cref="FinishedRuns"/>); null for any other,
    /// whose record is in the log (<see cref="ProposalRecords"/>).
    /// </summary>
    public ProposalRun? FindRun(string id) => _runs.GetValueOrDefault(id) ?? _finished.Find(id);

    /// <summary>
    /// Submits a workspace tool call of <paramref name="session"/> (<c>exec</c>, <c>read_file</c>, <c>write_file</c>,
    /// <c>list_dir</c>) and runs it in the session's sandbox: a file tool that is allowed runs before this returns; an
    /// allowed <c>exec</c> runs in the background; a pending one waits for its ticket in the background.
    /// </summary>
    public Task<ProposalRun> SubmitAsync(ApiSession session, ProposalRequest request, bool keepTicketOnStop, CancellationToken cancellationToken)
    {
        context.ThrowIfPoliciesBroken();
        if (!session.IsOpen)
        {
            throw new RequestRefusedException(Refusal.Conflict, "Session closed", $"session {session.Id} is closed; open a new one with POST /api/sessions");
        }

        var (proposal, estimate) = ProposalBuilder.Build(session, request);
        return GovernAsync(session, proposal, estimate, SandboxWork.RunAsync, new GovernOptions { InBackground = proposal.Kind == ProposalKind.Exec, KeepTicketOnStop = keepTicketOnStop }, cancellationToken);
    }

    /// <summary>
    /// The one submit, wait, resume, execute and complete loop. Returns once the proposal is decided (and, unless
    /// <see cref="GovernOptions.InBackground"/>, once an allowed proposal's work is done); <see cref="ProposalRun.Terminal"/>
    /// completes when it is denied or completed.
    /// </summary>
    public async Task<ProposalRun> GovernAsync(ApiSession session, Proposal proposal, BudgetEstimate estimate, ProposalWork work, GovernOptions options, CancellationToken cancellationToken)
    {
        var run = new ProposalRun(proposal, session);
        Interlocked.Increment(ref _governed);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, context.Stopping);
        var result = await context.Pipeline.SubmitAsync(proposal, estimate, linked.Token).ConfigureAwait(false);
        run.DecidedBy = result.Decision.Explanation?.DecidedBy;
        Track(session, run);
        switch (result.Decision.Kind)
        {
            case DecisionKind.Pending when result.Ticket is { } ticket:
                run.SetPending(DecisionMapping.ToDto(result));
                _ = context.Run(() => AwaitApprovalAsync(run, ticket, work, options));
                break;
            case DecisionKind.Allow when result.Allowed is { } allowed:
                run.SetRunning(DecisionMapping.ToDto(result));
                var running = context.Run(() => ExecuteAsync(run, allowed, work, options));
                if (!options.InBackground)
                {
                    await running.ConfigureAwait(false);
                }

                break;
            default:
                run.Deny(DecisionMapping.ToDto(result));
                break;
        }

        return run;
    }

    /// <summary>
    /// Takes up the wait for an open approval ticket of a run's workspace tool call after a restart: the ticket's own
    /// proposal, in <paramref name="session"/> (reopened with the ticket's session id), runs once the ticket is granted.
    /// </summary>
    public ProposalRun AttachPending(ApiSession session, ApprovalTicket ticket)
    {
        var run = new ProposalRun(ticket.Proposal, session);
        Interlocked.Increment(ref _governed);
        run.SetPending(new DecisionDto("pending", "approval", ticket.Rule, ticket.Risk.ToString().ToLowerInvariant(), ticket.Reason, ticket.Id.ToString()));
        Track(session, run);
        _ = context.Run(() => AwaitApprovalAsync(run, ticket, SandboxWork.RunAsync, new GovernOptions { InBackground = true, KeepTicketOnStop = true }));
        return run;
    }

    /// <summary>Holds <paramref name="run"/> while it lasts; once it ends, only among the few kept a moment for late readers.</summary>
    private void Track(ApiSession session, ProposalRun run)
    {
        // Let go of before its end is announced, so that whoever waited for the end finds it done.
        run.OnEnd = ended =>
        {
            // Kept for late readers first, so that no lookup in between finds nothing.
            _finished.Add(ended);
            _runs.TryRemove(ended.Id, out ProposalRun? _);
            session.Detach(ended);
        };
        _runs[run.Id] = run;
        session.Attach(run);
    }

    private async Task AwaitApprovalAsync(ProposalRun run, ApprovalTicket ticket, ProposalWork work, GovernOptions options)
    {
        var pending = run.Decision;
        var pipeline = context.Pipeline;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.Stopping, run.Session.Closing, options.Abandoned);
        try
        {
            ApprovalAnswer answer;
            try
            {
                answer = await pipeline.WaitForApprovalAsync(ticket.Id, ApprovalWait, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Nobody will run it once its submitter, the session or the runtime is gone, so the ticket must not stay approvable.
                var why = context.IsStopping ? "the server stopped" : run.Session.Closing.IsCancellationRequested ? "the session closed" : "the run stopped";
                if (options.KeepTicketOnStop && context.IsStopping)
                {
                    // The run that submitted it resumes after a restart and waits for the same ticket.
                    run.Deny(pending with { Decision = "deny", Stage = "approval", Reason = $"{why}; the ticket stays open for the run to resume" });
                    return;
                }

                await ((Task)pipeline.DenyAsync(ticket.Id, $"{why} before anyone answered; it did not run", "apiary server", CancellationToken.None)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                run.Deny(pending with { Decision = "deny", Stage = "approval", Reason = $"{why} before anyone answered; it did not run" });
                return;
            }

            if (answer.State == ApprovalState.Open)
            {
                answer = await pipeline.DenyAsync(ticket.Id, "nobody answered in time; it did not run", "apiary server", CancellationToken.None).ConfigureAwait(false);
            }

            switch (answer.State)
            {
                case ApprovalState.Granted:
                    var resumed = await pipeline.ResumeAsync(ticket.Id, stop.Token).ConfigureAwait(false);
                    if (resumed.Decision.Kind == DecisionKind.Allow && resumed.Allowed is { } allowed)
                    {
                        run.SetRunning(DecisionMapping.ToDto(resumed) with { TicketId = ticket.Id.ToString() });
                        await ExecuteAsync(run, allowed, work, options).ConfigureAwait(false);
                    }
                    else
                    {
                        run.Deny(DecisionMapping.ToDto(resumed));
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

    private async Task ExecuteAsync(ProposalRun run, AllowedProposal allowed, ProposalWork work, GovernOptions options)
    {
        var pipeline = context.Pipeline;
        var killed = options.KillSwitchCancels ? pipeline.KillTokenFor(run.Session.Principal) : CancellationToken.None;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.Stopping, run.Session.Closing, killed);
        using var abandoned = options.Abandoned.Register(stop.Cancel);
        var clock = Stopwatch.StartNew();
        ProposalWorkResult done;
        try
        {
            done = await work(run, allowed.Proposal, stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            done = new ProposalWorkResult(new ResultDto(null, "cancelled", clock.ElapsedMilliseconds));
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            done = new ProposalWorkResult(new ResultDto(null, "error", clock.ElapsedMilliseconds, Error: ex.Message));
        }

        var result = done.Result;
        if (result.Reason == "cancelled")
        {
            var why = killed.IsCancellationRequested && pipeline.IsBlocked(run.Session.Principal) is { } engaged ? $"stopped by the kill switch: {engaged}"
                : context.IsStopping ? "stopped because the server is shutting down"
                : run.Session.Closing.IsCancellationRequested ? "stopped because its session closed"
                : "cancelled";
            result = result with { Error = result.Error ?? why };
        }

        var elapsed = clock.Elapsed;
        try
        {
            // The work ran (or tried to): the record and the budget must say so, also when it failed or was cancelled.
            var outcome = new ProposalOutcome(result.ExitCode, result.Reason, elapsed, run.RecordedOutput() ?? result.Content);
            var spent = done.Spent ?? new BudgetAmounts(run.Proposal.Kind == ProposalKind.Exec ? 1 : 0, elapsed, 0, 0m);
            await pipeline.CompleteAsync(allowed, outcome, spent, done.Alongside, CancellationToken.None).ConfigureAwait(false);
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
}
