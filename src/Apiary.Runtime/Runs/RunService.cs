using System.Collections.Concurrent;
using System.Text;
using Apiary.Agents;
using Apiary.Models;
using Apiary.Runtime.Supervision;
using Apiary.Runtime.Telemetry;

namespace Apiary.Runtime;

/// <summary>
/// The turn loop: an agent works on a task with a model, every model call and every tool call a proposal of its own
/// session through the one executor, every step an event. Runs outlive the runtime: on start, every run whose end is
/// not on the record is taken up again from its events; the supervisor restarts crashed ones.
/// </summary>
internal sealed class RunService(RuntimeContext context, SessionHost sessions, GovernedExecutor executor, ModelCalls modelCalls, TurnTelemetry turns, IModelCatalog models, ToolRegistry tools)
{
    /// <summary>The most model calls of a run unless the request says otherwise.</summary>
    public const int DefaultMaxTurns = 50;

    /// <summary>The most model calls a request may allow.</summary>
    public const int MaxMaxTurns = 1000;

    /// <summary>The most output tokens each model call may produce; reserved with each call, so a call never overruns the budget by more.</summary>
    private const int OutputAllowance = 4096;

    /// <summary>The most of a tool result a progress step carries; the model gets all of it.</summary>
    private const int ProgressOutputChars = 2000;

    private readonly ConcurrentDictionary<string, AgentRun> _agentRuns = new(StringComparer.Ordinal);

    public IEnumerable<AgentRun> AgentRuns => _agentRuns.Values;

    /// <summary>The models runs call, as <c>models.yaml</c> configures them (or as the runtime's options replaced them).</summary>
    public IModelCatalog Models => models;

    /// <summary>The tools runs offer their models.</summary>
    public ToolRegistry Tools => tools;

    public AgentRun? FindAgentRun(string id) => _agentRuns.GetValueOrDefault(id);

    /// <summary>
    /// The most ended runs kept in memory, for late readers (a client reading how a run it watched ended); an older one
    /// is read from the log (<see cref="RunHistory"/>, <c>GET /api/agents/{name}/runs</c>).
    /// </summary>
    public const int KeptEndedRuns = 64;

    private readonly ConcurrentQueue<string> _ended = new();

    /// <summary>Holds <paramref name="run"/> while it lasts; once it ended, only among the <see cref="KeptEndedRuns"/> most recent.</summary>
    private void Track(AgentRun run)
    {
        // Older runs are let go of before this one's end is announced, so whoever waited for the end finds it done.
        run.OnEnd = ended =>
        {
            _ended.Enqueue(ended.Id);
            while (_ended.Count > KeptEndedRuns && _ended.TryDequeue(out var oldest))
            {
                _agentRuns.TryRemove(oldest, out AgentRun? _);
            }
        };
        _agentRuns[run.Id] = run;
    }

    /// <summary>
    /// Starts agent <paramref name="agentName"/> on a task: resolves its model (a configuration problem is the request's
    /// answer, before anything opens), composes its prompt, opens its session, and runs the loop in the background.
    /// </summary>
    public async Task<AgentRun> StartRunAsync(string agentName, StartRunRequest request, string by, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.Task))
        {
            throw new RequestRefusedException(Refusal.Invalid, "Bad request", "'task' is required: what the agent is to do");
        }

        var maxTurns = request.MaxTurns ?? DefaultMaxTurns;
        if (maxTurns is < 1 or > MaxMaxTurns)
        {
            throw new RequestRefusedException(Refusal.Invalid, "Bad request", $"'max_turns' must be between 1 and {MaxMaxTurns}");
        }

        context.ThrowIfPoliciesBroken();

        var agent = await context.LoadAgentAsync(agentName, cancellationToken).ConfigureAwait(false);
        ModelBinding binding;
        try
        {
            binding = models.Resolve(request.Model ?? agent.Settings.Model.Value);
        }
        catch (ModelConfigurationException ex)
        {
            throw new RequestRefusedException(Refusal.Conflict, "Model not configured", ex.Message);
        }

        var prompt = await context.Catalog.ComposePromptAsync(agent, cancellationToken: cancellationToken).ConfigureAwait(false);
        var fingerprint = AgentFingerprint.Of(agent.Directory).Value;
        var (session, _) = await sessions.OpenAsync(new OpenSessionRequest(agent.Name.Value), by, null, cancellationToken).ConfigureAwait(false);
        var run = new AgentRun(Guid.NewGuid().ToString("N"), agent.Name.Value, session, binding.Reference);
        try
        {
            await context.RecordAsync("session-" + session.Id, RuntimeJsonContext.Event(
                ServerEventTypes.RunStarted,
                new RunStartedData(run.Id, run.Agent, session.Id, run.Model, maxTurns, by, context.Time.GetUtcNow(), fingerprint),
                RuntimeJsonContext.Default.RunStartedData,
                request.Task), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await sessions.CloseAsync(session, by, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        Track(run);
        var conversation = new RunConversation([new(ChatRole.System, prompt.Text), new(ChatRole.User, request.Task)]);
        _ = context.Run(() => RunLoopAsync(run, agent, binding, conversation, maxTurns));
        return run;
    }

    private async Task RunLoopAsync(AgentRun run, AgentDefinition agent, ModelBinding binding, RunConversation conversation, int maxTurns)
    {
        var session = run.Session;
        var killed = context.Pipeline.KillTokenFor(session.Principal);
        (string Status, string? Answer, string? Error) outcome;
        using var activity = RuntimeTelemetry.StartRun(run.Id, run.Agent, session.Id, run.Model);
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(context.Stopping, session.Closing, killed))
        {
            try
            {
                outcome = await TurnsAsync(run, binding, conversation, maxTurns, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.IsStopping && !killed.IsCancellationRequested)
            {
                // Not an end: nothing is recorded and the session stays open on the record, so the next server on this home
                // resumes the run from its events (a waiting approval ticket stays open for it).
                run.End(run.ToDto().Status, null, "the server stopped; the run resumes when the server starts again");
                RuntimeTelemetry.RunEnded(activity, run.Agent, "suspended");
                return;
            }
            catch (OperationCanceledException)
            {
                outcome = killed.IsCancellationRequested
                    ? (RunStatus.Killed, null, $"stopped by the kill switch: {context.Pipeline.IsBlocked(session.Principal)?.ToString() ?? "engaged"}")
                    : (RunStatus.Failed, null, "its session was closed before the run ended");
            }
#pragma warning disable CA1031 // Whatever escapes the loop (a bug, a tool failing in a way it does not handle) is a crash: the run must still end with a status, for the supervisor to restart it.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                // A failed model call, a refusal, the budget and the turn cap are outcomes TurnsAsync returns; only the unexpected reaches here.
                outcome = (RunStatus.Crashed, null, $"{ex.GetType().Name} escaped turn {run.ToDto().Turns}: {ex.Message}");
                RuntimeLog.RunCrashed(context.Log, run.Id, run.Agent, outcome.Error!, ex);
            }
        }

        await FinishRunAsync(run, agent, outcome).ConfigureAwait(false);
        RuntimeTelemetry.RunEnded(activity, run.Agent, outcome.Status, outcome.Error);
    }

    private async Task<(string Status, string? Answer, string? Error)> TurnsAsync(
        AgentRun run, ModelBinding binding, RunConversation conversation, int maxTurns, CancellationToken cancellationToken)
    {
        var principal = run.Session.Principal;
        var messages = conversation.Messages;
        var options = new ChatOptions { ModelId = binding.Model, Tools = Tools.Declarations, ToolMode = ChatToolMode.Auto, MaxOutputTokens = OutputAllowance };
        var sent = conversation.Sent;
        if (conversation.OpenCalls is { } open)
        {
            // Resumed: the last recorded model call asked for tools whose results were not all sent back yet.
            run.SetTurn(conversation.Turn);
            var resumed = run.StartTally(conversation.Turn, context.Time);
            var results = new List<AIContent>(open.Count);
            foreach (var call in open)
            {
                results.Add(conversation.Results.TryGetValue(call.CallId, out var known) ? new FunctionResultContent(call.CallId, known)
                    : conversation.Tickets.TryGetValue(call.CallId, out var ticket) ? await ResumeToolAsync(run, conversation.Turn, call, ticket, cancellationToken).ConfigureAwait(false)
                    : await CallToolAsync(run, conversation.Turn, call, cancellationToken).ConfigureAwait(false));
            }

            messages.Add(new ChatMessage(ChatRole.Tool, results));
            await context.RecordAsync("session-" + run.Session.Id, await turns.CompletedAsync(run, resumed, true, CancellationToken.None).ConfigureAwait(false), CancellationToken.None).ConfigureAwait(false);
        }

        for (var turn = conversation.Turn + 1; turn <= maxTurns; turn++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            run.SetTurn(turn);

            // An update reloaded the agent's definition: this and later model calls are given its new prompt.
            if (run.TakeReloadedPrompt() is { } reloaded && messages.Count > 0 && messages[0].Role == ChatRole.System)
            {
                messages[0] = new ChatMessage(ChatRole.System, reloaded);
            }

            var tally = run.StartTally(turn, context.Time);
            var turnStarted = System.Diagnostics.Stopwatch.GetTimestamp();
            using var turnActivity = RuntimeTelemetry.StartTurn(run.Id, run.Agent, turn);
            var inputEstimate = EstimateTokens(messages);
            var sentBefore = sent;
            var made = await modelCalls.CallAsync(run, turn, binding, messages, options, inputEstimate, OutputAllowance, $"model call {turn} of run {run.Id}", async (reply, took) =>
            {
                var (usedIn, usedOut) = (reply.Usage?.InputTokenCount, reply.Usage?.OutputTokenCount);
                var cost = binding.Price?.Cost(usedIn ?? inputEstimate, usedOut ?? OutputAllowance) ?? 0m;
                var asked = reply.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().Count();
                tally.Model(took, usedIn ?? inputEstimate, usedOut ?? OutputAllowance, cost);
                var body = JsonSerializer.Serialize(new ModelCallBody(ToRecords(messages.Skip(sentBefore)), ToRecords(reply.Messages)), RuntimeJsonContext.Default.ModelCallBody);
                var called = RuntimeJsonContext.Event(
                    ServerEventTypes.ModelCalled,
                    new ModelCalledData(run.Id, run.Agent, run.Session.Id, turn, binding.Reference, usedIn, usedOut, took, asked, reply.FinishReason?.Value, null, context.Time.GetUtcNow()),
                    RuntimeJsonContext.Default.ModelCalledData,
                    body);

                // The call and what it spent are one append (its proposal's completion): a restarted server folds the
                // spending from it. A final answer ends the turn, so its turn.completed goes in the same append.
                return asked == 0 ? [called, await turns.CompletedAsync(run, tally, false, CancellationToken.None).ConfigureAwait(false)] : [called];
            }, cancellationToken).ConfigureAwait(false);
            if (made.Failed is { } failed)
            {
                RuntimeTelemetry.TurnEnded(turnActivity, run.Agent, "failed", 0, turnStarted, failed);
                RuntimeLog.RunModelCallFailed(context.Log, run.Id, run.Agent, failed);
                return (RunStatus.Failed, null, $"model call {turn} failed: {failed}");
            }

            if (made.Response is not { } response)
            {
                RuntimeTelemetry.TurnEnded(turnActivity, run.Agent, "failed", 0, turnStarted, made.Refused);
                return made.BudgetExhausted
                    ? (RunStatus.BudgetExhausted, null, $"the budget cannot cover model call {turn}: {made.Refused}")
                    : (RunStatus.Failed, null, $"model call {turn} was refused: {made.Refused}");
            }

            var (input, output) = (response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
            var duration = made.DurationMs;
            var calls = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().ToList();
            messages.AddMessages(response);
            sent = messages.Count;
            run.Add(new RunProgressDto("model_call", turn, Model: binding.Reference, InputTokens: input, OutputTokens: output, DurationMs: duration));

            if (calls.Count == 0)
            {
                RuntimeTelemetry.TurnEnded(turnActivity, run.Agent, "answer", 0, turnStarted);
                var answer = response.Text;
                run.Add(new RunProgressDto("answer", turn, Answer: answer));
                return (RunStatus.Finished, answer, null);
            }

            // The last tool result's append carries the turn's turn.completed.
            tally.Expect(calls.Count);
            var results = new List<AIContent>(calls.Count);
            foreach (var call in calls)
            {
                results.Add(await CallToolAsync(run, turn, call, cancellationToken).ConfigureAwait(false));
            }

            messages.Add(new ChatMessage(ChatRole.Tool, results));
            RuntimeTelemetry.TurnEnded(turnActivity, run.Agent, "tool_calls", calls.Count, turnStarted);
        }

        return (RunStatus.Failed, null, $"turn cap: the model was called {maxTurns} times (max_turns) without giving a final answer");
    }

    /// <summary>One tool call, dispatched by name through the registry; what the model is told back, whatever governance decided.</summary>
    private async Task<FunctionResultContent> CallToolAsync(AgentRun run, int turn, FunctionCallContent call, CancellationToken cancellationToken)
    {
        var arguments = AgentTools.ArgumentsJson(call);
        run.Add(new RunProgressDto("tool_call", turn, Tool: call.Name, Arguments: arguments));
        var outcome = await DispatchAsync(new ToolCall(run, turn, call, arguments), cancellationToken).ConfigureAwait(false);
        return await ToolResultAsync(run, turn, call, arguments, outcome.ProposalId, outcome.Decision, outcome.Text).ConfigureAwait(false);
    }

    /// <summary>Carries out <paramref name="call"/> with the registered tool of its name; a name no tool has is what the model is told.</summary>
    public async Task<ToolOutcome> DispatchAsync(ToolCall call, CancellationToken cancellationToken)
    {
        if (Tools.Find(call.Call.Name) is { } tool)
        {
            return await tool.CallAsync(call, cancellationToken).ConfigureAwait(false);
        }

        call.Run.Tally?.Denial(TurnTally.Invalid);
        return new ToolOutcome($"error: there is no tool named '{call.Call.Name}'; the tools are {string.Join(", ", Tools.All.Select(t => t.Descriptor.Name))}; nothing ran");
    }

    /// <summary>A workspace tool's call (<c>exec</c>, <c>read_file</c>, <c>write_file</c>, <c>list_dir</c>): a proposal run in the session's sandbox, its approval ticket kept for the run to resume after a restart.</summary>
    public async Task<ToolOutcome> CallWorkspaceToolAsync(ToolCall call, CancellationToken cancellationToken)
    {
        var run = call.Run;
        var (request, problem) = AgentTools.ToProposal(call.Call);
        if (request is null)
        {
            run.Tally?.Denial(TurnTally.Invalid);
            return new ToolOutcome($"error: {problem}; nothing ran");
        }

        ProposalRun proposal;
        try
        {
            proposal = await executor.SubmitAsync(run.Session, request, keepTicketOnStop: true, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestRefusedException ex)
        {
            run.Tally?.Denial(TurnTally.Invalid);
            return new ToolOutcome($"error: {ex.Message}; nothing ran");
        }

        return await AwaitToolAsync(run, call.Turn, call.Call, proposal, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for a submitted tool call's proposal to end (through its approval, when pending) and tells the model.</summary>
    private async Task<ToolOutcome> AwaitToolAsync(AgentRun run, int turn, FunctionCallContent call, ProposalRun proposal, CancellationToken cancellationToken)
    {
        var proposalId = proposal.Id;
        var decision = proposal.ToDto().Decision;
        if (decision.Decision == "pending")
        {
            // The status first: whoever sees the pending step may ask for it at once.
            run.SetStatus(RunStatus.WaitingApproval);
        }

        run.Add(Step(turn, call.Name, proposalId, decision));
        if (decision.Decision == "pending")
        {
            // Recorded so that a restarted server waits for the same ticket; it is answered through the API, and the
            // proposal's own wait runs it (or denies it) then.
            await context.RecordAsync("session-" + run.Session.Id, RuntimeJsonContext.Event(
                ServerEventTypes.RunWaiting,
                new RunWaitingData(run.Id, run.Agent, run.Session.Id, turn, call.Name, call.CallId, proposalId, decision.TicketId!, context.Time.GetUtcNow()),
                RuntimeJsonContext.Default.RunWaitingData), CancellationToken.None).ConfigureAwait(false);
            var waiting = run.Tally?.WaitingForApproval() ?? 0;
            await proposal.Terminal.WaitAsync(cancellationToken).ConfigureAwait(false);
            run.Tally?.ApprovalWaited(waiting);
            cancellationToken.ThrowIfCancellationRequested();
            run.SetStatus(RunStatus.Running);
            decision = proposal.ToDto().Decision;
            run.Add(Step(turn, call.Name, proposalId, decision));
        }
        else
        {
            await proposal.Terminal.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        // Work cut short by the server stopping is not a result to tell the model: the run resumes and the call with it.
        cancellationToken.ThrowIfCancellationRequested();
        var done = proposal.ToDto();
        return new ToolOutcome(Describe(done), proposalId, done.Decision);
    }

    private async Task<FunctionResultContent> ToolResultAsync(AgentRun run, int turn, FunctionCallContent call, string arguments, string? proposalId, DecisionDto? decision, string text)
    {
        var completesTurn = run.Tally?.Tool(call.Name, decision?.Decision) == true;
        await turns.AppendAsync(run, RuntimeJsonContext.Event(
            ServerEventTypes.ToolCalled,
            new ToolCalledData(run.Id, run.Agent, run.Session.Id, turn, call.Name, call.CallId, proposalId, decision?.Decision ?? "invalid", decision?.Rule, decision?.Reason, context.Time.GetUtcNow()),
            RuntimeJsonContext.Default.ToolCalledData,
            JsonSerializer.Serialize(new ToolCallBody(arguments, text), RuntimeJsonContext.Default.ToolCallBody)), completesTurn, CancellationToken.None).ConfigureAwait(false);
        run.Add(new RunProgressDto("tool_result", turn, Tool: call.Name, Proposal: proposalId, Output: text.Length <= ProgressOutputChars ? text : text[..ProgressOutputChars] + "…"));
        return new FunctionResultContent(call.CallId, text);
    }

    private static RunProgressDto Step(int turn, string tool, string proposal, DecisionDto decision) =>
        new("decision", turn, Tool: tool, Proposal: proposal, Decision: decision.Decision, Rule: decision.Rule, Reason: decision.Reason, TicketId: decision.TicketId);

    /// <summary>What the model is told of a proposal: enough to act on (the rule and reason of a refusal, the output of a run).</summary>
    private static string Describe(ProposalDto proposal)
    {
        var d = proposal.Decision;
        if (proposal.Status == "denied")
        {
            return d.Decision == "steer"
                ? $"steered by rule '{d.Rule}': {d.Reason}. It did not run; do what the message says instead."
                : $"denied by rule '{d.Rule}' (stage {d.Stage}): {d.Reason}. It did not run.";
        }

        var r = proposal.Result;
        if (r is null)
        {
            return $"no result: the proposal is {proposal.Status}";
        }

        var text = new StringBuilder();
        switch (proposal.Kind)
        {
            case "exec":
                text.Append(CultureInfo.InvariantCulture, $"exit code {r.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"} ({r.Reason}, {r.DurationMs} ms)\n");
                if (!string.IsNullOrEmpty(r.Stdout))
                {
                    text.Append("stdout:\n").Append(r.Stdout).Append('\n');
                }

                if (!string.IsNullOrEmpty(r.Stderr))
                {
                    text.Append("stderr:\n").Append(r.Stderr).Append('\n');
                }

                break;
            case "read_file" when r.Error is null:
                text.Append(r.Content);
                break;
            case "list_dir" when r.Error is null:
                foreach (var e in r.Entries ?? [])
                {
                    text.Append(e.Name).Append(e.Type == "dir" ? "/" : "").Append(e.Size is { } size ? $" {size.ToString(CultureInfo.InvariantCulture)} bytes" : "").Append('\n');
                }

                break;
            case "write_file" when r.Error is null:
                text.Append("written");
                break;
        }

        if (r.Truncated)
        {
            text.Append("(output truncated)\n");
        }

        if (r.Error is not null)
        {
            text.Append("error: ").Append(r.Error);
        }

        return text.ToString();
    }

    /// <summary>Records how the run ended, consumes BOOTSTRAP.md after a first finished run, closes the session, and ends the run.</summary>
    private async Task FinishRunAsync(AgentRun run, AgentDefinition agent, (string Status, string? Answer, string? Error) outcome)
    {
        var session = run.Session;
        var stream = "session-" + session.Id;
        var by = "run " + run.Id;
        try
        {
            if (outcome.Status == RunStatus.Finished && agent.Bootstrap is null)
            {
                var record = await BootstrapRecord.MarkAsync(agent.Directory, session.Id, context.Time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
                if (record.SessionId == session.Id)
                {
                    await context.RecordAsync(stream, RuntimeJsonContext.Event(
                        ServerEventTypes.BootstrapConsumed,
                        new BootstrapConsumedData(run.Agent, session.Id, run.Id, record.CompletedAt),
                        RuntimeJsonContext.Default.BootstrapConsumedData), CancellationToken.None).ConfigureAwait(false);
                }
            }

            run.SetStatus(outcome.Status);
            var dto = run.ToDto();
            await context.RecordAsync(stream, RuntimeJsonContext.Event(
                ServerEventTypes.RunEnded,
                new RunEndedData(run.Id, run.Agent, session.Id, outcome.Status, dto.Turns, outcome.Error, context.Time.GetUtcNow(), outcome.Status == RunStatus.Crashed ? true : null),
                RuntimeJsonContext.Default.RunEndedData,
                outcome.Answer), CancellationToken.None).ConfigureAwait(false);
            await sessions.CloseAsync(session, by, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            outcome = outcome with { Error = (outcome.Error is null ? "" : outcome.Error + "; ") + $"its end could not be recorded: {ex.Message}" };
        }
        finally
        {
            run.End(outcome.Status, outcome.Answer, outcome.Error);
        }
    }

    /// <summary>A rough count of the tokens of <paramref name="messages"/> (four characters each), for reserving before a call; the call's reported usage settles it.</summary>
    private static long EstimateTokens(List<ChatMessage> messages)
    {
        long chars = 0;
        foreach (var message in messages)
        {
            foreach (var content in message.Contents)
            {
                chars += content switch
                {
                    TextContent t => t.Text.Length,
                    FunctionCallContent f => f.Name.Length + AgentTools.ArgumentsJson(f).Length,
                    FunctionResultContent r => r.Result?.ToString()?.Length ?? 0,
                    _ => 0,
                };
            }
        }

        return (chars / 4) + 1;
    }

    /// <summary>Messages as an event's body records them: role, text, tool calls and their results.</summary>
    private static List<MessageRecord> ToRecords(IEnumerable<ChatMessage> messages) =>
    [
        .. messages.Select(m => new MessageRecord(
            m.Role.Value,
            m.Contents.OfType<TextContent>().Any() ? string.Concat(m.Contents.OfType<TextContent>().Select(t => t.Text)) : null,
            m.Contents.OfType<FunctionCallContent>().Select(f => new ToolCallRecord(f.CallId, f.Name, AgentTools.ArgumentsJson(f))).ToList() is { Count: > 0 } calls ? calls : null,
            m.Contents.OfType<FunctionResultContent>().Select(r => new ToolResultRecord(r.CallId, r.Result?.ToString() ?? "")).ToList() is { Count: > 0 } results ? results : null)),
    ];

    /// <summary>
    /// Restarts crashed run <paramref name="crashed"/> as restart number <paramref name="attempt"/>: a new run in the same
    /// session (so its budget is the same budget), going on from the crashed run's recorded conversation with the
    /// agent's current definition.
    /// </summary>
    public async Task<AgentRun> RestartRunAsync(CrashedRun crashed, int attempt, int maxRestarts, CancellationToken cancellationToken)
    {
        context.ThrowIfPoliciesBroken();

        var agent = await context.LoadAgentAsync(crashed.Agent, cancellationToken).ConfigureAwait(false);
        var (recorded, conversation, fingerprint) = await LoadConversationAsync(agent, crashed.Session, crashed.Run, cancellationToken).ConfigureAwait(false);
        var s = recorded.Started;
        ModelBinding binding;
        try
        {
            binding = models.Resolve(s.Model);
        }
        catch (ModelConfigurationException ex)
        {
            throw new RequestRefusedException(Refusal.Conflict, "Model not configured", ex.Message);
        }

        // The restart reopens the crashed run's session. When that run was this server's, its end (recorded, then its
        // session closed) may still be under way as a short backoff falls due: wait for it, or the session is still held.
        if (FindAgentRun(crashed.Run) is { } previous)
        {
            await previous.Ended.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        var by = $"apiary supervisor (restart {attempt} of {maxRestarts} after run {crashed.Run} crashed)";
        var (session, _) = await sessions.OpenAsync(new OpenSessionRequest(agent.Name.Value), by, crashed.Session, cancellationToken).ConfigureAwait(false);
        var run = new AgentRun(Guid.NewGuid().ToString("N"), agent.Name.Value, session, binding.Reference);
        try
        {
            await context.RecordAsync("session-" + session.Id, RuntimeJsonContext.Event(
                ServerEventTypes.RunStarted,
                new RunStartedData(run.Id, run.Agent, session.Id, run.Model, s.MaxTurns, by, context.Time.GetUtcNow(), fingerprint, crashed.Run, attempt),
                RuntimeJsonContext.Default.RunStartedData,
                recorded.Task), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await sessions.CloseAsync(session, by, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        Continue(run, agent, binding, conversation, s.MaxTurns);
        return run;
    }


    /// <summary>
    /// Resumes every run that a previous server left unended (waiting for an approval, or running): its conversation is
    /// rebuilt from its <c>model.called</c> and <c>tool.called</c> bodies, its session reopened under the same id (so its
    /// tickets and budget are still its own), and its loop continues; a run that cannot be resumed is ended
    /// <c>failed</c> with why. Returns the approval tickets those runs wait for, which are theirs to take up.
    /// </summary>
    public async Task<IReadOnlySet<string>> ResumeRunsAsync(CancellationToken cancellationToken)
    {
        var open = new Dictionary<string, RunStartedData>(StringComparer.Ordinal);
        var waits = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        await foreach (var e in context.Store.ReadAllAsync(1, cancellationToken).ConfigureAwait(false))
        {
            if (e.Type == ServerEventTypes.RunStarted)
            {
                var started = Read(e, RuntimeJsonContext.Default.RunStartedData);
                open[started.Run] = started;
            }
            else if (e.Type == ServerEventTypes.RunEnded)
            {
                open.Remove(Read(e, RuntimeJsonContext.Default.RunEndedData).Run);
            }
            else if (e.Type == ServerEventTypes.RunWaiting)
            {
                var waiting = Read(e, RuntimeJsonContext.Default.RunWaitingData);
                (waits.TryGetValue(waiting.Run, out var tickets) ? tickets : waits[waiting.Run] = []).Add(waiting.Ticket);
            }
        }

        foreach (var started in open.Values)
        {
            await ResumeRunAsync(started, cancellationToken).ConfigureAwait(false);
        }

        // The tickets of runs not ended are the runs' own: a resumed run waits for them itself; one that could not be
        // resumed ended failed, and its tickets must not run on their own.
        return open.Keys.SelectMany(run => waits.GetValueOrDefault(run) ?? []).ToHashSet(StringComparer.Ordinal);
    }

    private async Task ResumeRunAsync(RunStartedData s, CancellationToken cancellationToken)
    {
        const string by = "apiary server (resumed after a restart)";
        AgentRun? run = null;
        AgentDefinition agent;
        ModelBinding binding;
        RunConversation conversation;
        string fingerprint;
        try
        {
            agent = await context.LoadAgentAsync(s.Agent, cancellationToken).ConfigureAwait(false);
            binding = models.Resolve(s.Model);
            (_, conversation, fingerprint) = await LoadConversationAsync(agent, s.Session, s.Run, cancellationToken).ConfigureAwait(false);
            var (session, _) = await sessions.OpenAsync(new OpenSessionRequest(agent.Name.Value), by, s.Session, cancellationToken).ConfigureAwait(false);
            run = new AgentRun(s.Run, s.Agent, session, s.Model);
            var ticket = conversation.Tickets.Values.FirstOrDefault();
            await context.RecordAsync("session-" + s.Session, RuntimeJsonContext.Event(
                ServerEventTypes.RunResumed,
                new RunResumedData(s.Run, s.Agent, s.Session, conversation.Turn, ticket, context.Time.GetUtcNow(), fingerprint),
                RuntimeJsonContext.Default.RunResumedData), cancellationToken).ConfigureAwait(false);
            if (ticket is not null)
            {
                run.SetStatus(RunStatus.WaitingApproval);
            }
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException or JsonException or FormatException)
        {
            if (run is not null)
            {
                await sessions.CloseAsync(run.Session, by, CancellationToken.None).ConfigureAwait(false);
            }

            await context.RecordAsync("session-" + s.Session, RuntimeJsonContext.Event(
                ServerEventTypes.RunEnded,
                new RunEndedData(s.Run, s.Agent, s.Session, RunStatus.Failed, 0, $"it could not be resumed after a restart: {ex.Message}", context.Time.GetUtcNow()),
                RuntimeJsonContext.Default.RunEndedData), cancellationToken).ConfigureAwait(false);
            return;
        }

        Continue(run, agent, binding, conversation, s.MaxTurns);
    }

    /// <summary>Registers a run whose session is open and runs its loop (or, when its conversation already has the answer, ends it).</summary>
    private void Continue(AgentRun run, AgentDefinition agent, ModelBinding binding, RunConversation conversation, int maxTurns)
    {
        Track(run);
        run.SetTurn(conversation.Turn);
        _ = context.Run(conversation.Answer is { } answer
            ? () => FinishRunAsync(run, agent, (RunStatus.Finished, answer, null))
            : () => RunLoopAsync(run, agent, binding, conversation, maxTurns));
    }

    /// <summary>
    /// Where run <paramref name="runId"/> of session <paramref name="session"/> stands, from the session's events: the
    /// conversation its recorded model calls left, with the agent's prompt composed now (so a resumed or restarted run
    /// works with the agent's current definition, whose fingerprint is returned). A restart that had made no model call
    /// of its own continues the conversation of the run it restarted; its first model call then records all of it.
    /// </summary>
    private async Task<(RecordedRun Run, RunConversation Conversation, string Fingerprint)> LoadConversationAsync(
        AgentDefinition agent, string session, string runId, CancellationToken cancellationToken)
    {
        var runs = new Dictionary<string, RecordedRun>(StringComparer.Ordinal);
        await foreach (var e in context.Store.ReadStreamAsync("session-" + session, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            switch (e.Type)
            {
                case ServerEventTypes.RunStarted:
                    var started = Read(e, RuntimeJsonContext.Default.RunStartedData);
                    runs[started.Run] = new RecordedRun(started, Text(e));
                    break;
                case ServerEventTypes.ModelCalled:
                    var called = Read(e, RuntimeJsonContext.Default.ModelCalledData);
                    runs.GetValueOrDefault(called.Run)?.ModelCalls.Add((called, Text(e)));
                    break;
                case ServerEventTypes.ToolCalled:
                    var tool = Read(e, RuntimeJsonContext.Default.ToolCalledData);
                    runs.GetValueOrDefault(tool.Run)?.ToolCalls.Add((tool, Text(e)));
                    break;
                case ServerEventTypes.RunWaiting:
                    var waiting = Read(e, RuntimeJsonContext.Default.RunWaitingData);
                    runs.GetValueOrDefault(waiting.Run)?.Waits.Add(waiting);
                    break;
            }
        }

        var run = runs.GetValueOrDefault(runId) ?? throw new ApiaryException($"run {runId} is not on the record of session {session}");
        var source = run;
        while (source.ModelCalls.Count == 0 && source.Started.RestartOf is { } earlier && runs.TryGetValue(earlier, out var restarted))
        {
            source = restarted;
        }

        var prompt = await context.Catalog.ComposePromptAsync(agent, cancellationToken: cancellationToken).ConfigureAwait(false);
        var fingerprint = AgentFingerprint.Of(agent.Directory).Value;
        var conversation = source.ModelCalls.Count > 0
            ? Rebuild(source, prompt.Text, resend: !ReferenceEquals(source, run))
            : new RunConversation([
                new(ChatRole.System, prompt.Text),
                new(ChatRole.User, run.Task ?? source.Task ?? throw new ApiaryException("its task was purged from the record")),
            ]);
        return (run, conversation, fingerprint);
    }

    /// <summary>
    /// The conversation as the recorded model calls left it, with the last call's tool calls still to answer and the
    /// system prompt replaced by <paramref name="prompt"/>. With <paramref name="resend"/>, none of it counts as recorded
    /// by the run that continues it, so its next model call records all of it.
    /// </summary>
    private static RunConversation Rebuild(RecordedRun recorded, string prompt, bool resend)
    {
        var messages = new List<ChatMessage>();
        ModelCallBody? last = null;
        foreach (var (called, body) in recorded.ModelCalls)
        {
            last = JsonSerializer.Deserialize(body ?? throw new ApiaryException($"the conversation of model call {called.Turn} was purged from the record"), RuntimeJsonContext.Default.ModelCallBody)
                ?? throw new ApiaryException($"model call {called.Turn} records no conversation");
            messages.AddRange(last.Sent.Select(ToMessage));
            messages.AddRange(last.Output.Select(ToMessage));
        }

        if (messages.Count > 0 && messages[0].Role == ChatRole.System)
        {
            messages[0] = new ChatMessage(ChatRole.System, prompt);
        }

        var turn = recorded.ModelCalls[^1].Data.Turn;
        var calls = messages.Skip(messages.Count - last!.Output.Count).SelectMany(m => m.Contents).OfType<FunctionCallContent>().ToList();
        var conversation = new RunConversation(messages)
        {
            Sent = resend ? 0 : messages.Count,
            Turn = turn,
            OpenCalls = calls.Count > 0 ? calls : null,
            Answer = calls.Count > 0 ? null : string.Concat(last.Output.Select(m => m.Text)),
        };
        foreach (var (tool, body) in recorded.ToolCalls.Where(t => t.Data.Turn == turn))
        {
            conversation.Results[tool.CallId] = body is null
                ? "its result was purged from the record"
                : JsonSerializer.Deserialize(body, RuntimeJsonContext.Default.ToolCallBody)?.Result ?? "";
        }

        foreach (var wait in recorded.Waits.Where(w => w.Turn == turn && !conversation.Results.ContainsKey(w.CallId)))
        {
            conversation.Tickets[wait.CallId] = wait.Ticket;
        }

        return conversation;
    }

    /// <summary>A tool call whose approval a previous server was waiting for: the wait is taken up for the same ticket.</summary>
    private async Task<FunctionResultContent> ResumeToolAsync(AgentRun run, int turn, FunctionCallContent call, string ticketId, CancellationToken cancellationToken)
    {
        var arguments = AgentTools.ArgumentsJson(call);
        run.Add(new RunProgressDto("tool_call", turn, Tool: call.Name, Arguments: arguments));
        var ticket = context.Pipeline.OpenTickets.FirstOrDefault(t => t.Id.ToString() == ticketId);
        if (ticket is null)
        {
            return await ToolResultAsync(run, turn, call, arguments, null, null, $"error: approval ticket {ticketId} is no longer open (answered or expired while the server was stopped); it did not run").ConfigureAwait(false);
        }

        var proposal = executor.AttachPending(run.Session, ticket);
        var outcome = await AwaitToolAsync(run, turn, call, proposal, cancellationToken).ConfigureAwait(false);
        return await ToolResultAsync(run, turn, call, arguments, outcome.ProposalId, outcome.Decision, outcome.Text).ConfigureAwait(false);
    }

    private static ChatMessage ToMessage(MessageRecord record)
    {
        var contents = new List<AIContent>();
        if (record.Text is not null)
        {
            contents.Add(new TextContent(record.Text));
        }

        foreach (var call in record.Calls ?? [])
        {
            var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
            using (var json = JsonDocument.Parse(call.Arguments))
            {
                foreach (var property in json.RootElement.EnumerateObject())
                {
                    arguments[property.Name] = property.Value.Clone();
                }
            }

            contents.Add(new FunctionCallContent(call.Id, call.Name, arguments));
        }

        foreach (var result in record.Results ?? [])
        {
            contents.Add(new FunctionResultContent(result.Id, result.Result));
        }

        return new ChatMessage(new ChatRole(record.Role), contents);
    }

    private static T Read<T>(RecordedEvent e, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        JsonSerializer.Deserialize(e.Data.Span, info) ?? throw new JsonException($"event {e.Position} ({e.Type}) has no data");

    private static string? Text(RecordedEvent e) => e.Body is { } body ? System.Text.Encoding.UTF8.GetString(body.Span) : null;

    /// <summary>What the log says of one run.</summary>
    private sealed record RecordedRun(RunStartedData Started, string? Task)
    {
        public List<(ModelCalledData Data, string? Body)> ModelCalls { get; } = [];

        public List<(ToolCalledData Data, string? Body)> ToolCalls { get; } = [];

        public List<RunWaitingData> Waits { get; } = [];
    }
}
