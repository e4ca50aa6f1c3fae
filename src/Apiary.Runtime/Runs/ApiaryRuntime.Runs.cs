using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Apiary.Agents;
using Apiary.Contracts;
using Apiary.Governance.Budgets;
using Apiary.Home;
using Apiary.Models;
using Apiary.Secrets;
using Apiary.Runtime.Telemetry;
using Microsoft.Extensions.AI;

namespace Apiary.Runtime;

// The turn loop: an agent works on a task with a model, every tool call a proposal of its own session, every model
// call reserved in and settled with the session's budget, every step an event.
internal sealed partial class ApiaryRuntime
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
    private ModelCatalog? _ownedModels;

    /// <summary>The models runs call, as <c>models.yaml</c> configures them (or as the server's options replaced them).</summary>
    public IModelCatalog Models { get; private set; } = null!;

    public IEnumerable<AgentRun> AgentRuns => _agentRuns.Values;

    public AgentRun? FindAgentRun(string id) => _agentRuns.GetValueOrDefault(id);

    /// <summary>
    /// The models of the home's <c>models.yaml</c>. A file with errors does not stop the server (governance of other
    /// tools still works); runs are refused with what is wrong until it is fixed and the server restarted.
    /// </summary>
    private async Task<IModelCatalog> LoadModelsAsync(ApiaryHome home, ISecretStore secrets, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            _ownedModels = await ModelCatalog.LoadAsync(home, secrets, new ModelCatalogOptions { TimeProvider = time }, cancellationToken).ConfigureAwait(false);
            return _ownedModels;
        }
        catch (ModelConfigurationException ex)
        {
            return new UnavailableModelCatalog($"{ex.Message}{Environment.NewLine}Fix it and restart the server (see docs/models.md)");
        }
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

        if (PolicyProblem is not null)
        {
            throw new RequestRefusedException(Refusal.Unavailable, "Policies not loaded", PolicyProblem);
        }

        var agent = await LoadAgentAsync(agentName, cancellationToken).ConfigureAwait(false);
        ModelBinding binding;
        try
        {
            binding = Models.Resolve(request.Model ?? agent.Settings.Model.Value);
        }
        catch (ModelConfigurationException ex)
        {
            throw new RequestRefusedException(Refusal.Conflict, "Model not configured", ex.Message);
        }

        var prompt = await Catalog.ComposePromptAsync(agent, cancellationToken: cancellationToken).ConfigureAwait(false);
        var fingerprint = Supervision.AgentFingerprint.Of(agent.Directory).Value;
        var opened = await OpenSessionAsync(new OpenSessionRequest(agent.Name.Value), by, cancellationToken).ConfigureAwait(false);
        var session = FindSession(opened.Session.Id)!;
        var run = new AgentRun(Guid.NewGuid().ToString("N"), agent.Name.Value, session, binding.Reference);
        try
        {
            await RecordAsync("session-" + session.Id, ServerEventJsonContext.Event(
                ServerEventTypes.RunStarted,
                new RunStartedData(run.Id, run.Agent, session.Id, run.Model, maxTurns, by, Time.GetUtcNow(), fingerprint),
                ServerEventJsonContext.Default.RunStartedData,
                request.Task), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await CloseSessionAsync(session, by, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        _agentRuns[run.Id] = run;
        var conversation = new RunConversation([new(ChatRole.System, prompt.Text), new(ChatRole.User, request.Task)]);
        Track(Task.Run(() => RunLoopAsync(run, agent, binding, conversation, maxTurns), CancellationToken.None));
        return run;
    }

    private async Task RunLoopAsync(AgentRun run, AgentDefinition agent, ModelBinding binding, RunConversation conversation, int maxTurns)
    {
        var session = run.Session;
        var killed = Pipeline.KillTokenFor(session.Principal);
        (string Status, string? Answer, string? Error) outcome;
        var crashed = false;
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, session.Closing, killed))
        {
            try
            {
                outcome = await TurnsAsync(run, binding, conversation, maxTurns, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested && !killed.IsCancellationRequested)
            {
                // Not an end: nothing is recorded and the session stays open on the record, so the next server on this home
                // resumes the run from its events (a waiting approval ticket stays open for it).
                run.End(run.ToDto().Status, null, "the server stopped; the run resumes when the server starts again");
                return;
            }
            catch (OperationCanceledException)
            {
                outcome = killed.IsCancellationRequested
                    ? (RunStatus.Killed, null, $"stopped by the kill switch: {Pipeline.IsBlocked(session.Principal)?.ToString() ?? "engaged"}")
                    : (RunStatus.Failed, null, "its session was closed before the run ended");
            }
#pragma warning disable CA1031 // A provider may fail in ways no list can name (its SDK's own exceptions); the run must still end with a status.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                outcome = (RunStatus.Failed, null, $"the model call failed: {ex.Message}");
                crashed = true;
            }
        }

        await FinishRunAsync(run, agent, outcome, crashed).ConfigureAwait(false);
    }

    private async Task<(string Status, string? Answer, string? Error)> TurnsAsync(
        AgentRun run, ModelBinding binding, RunConversation conversation, int maxTurns, CancellationToken cancellationToken)
    {
        var principal = run.Session.Principal;
        var messages = conversation.Messages;
        var options = new ChatOptions { ModelId = binding.Model, Tools = AgentTools.Declarations, ToolMode = ChatToolMode.Auto, MaxOutputTokens = OutputAllowance };
        var sent = conversation.Sent;
        if (conversation.OpenCalls is { } open)
        {
            // Resumed: the last recorded model call asked for tools whose results were not all sent back yet.
            run.SetTurn(conversation.Turn);
            var resumed = run.StartTally(conversation.Turn, Time);
            var results = new List<AIContent>(open.Count);
            foreach (var call in open)
            {
                results.Add(conversation.Results.TryGetValue(call.CallId, out var known) ? new FunctionResultContent(call.CallId, known)
                    : conversation.Tickets.TryGetValue(call.CallId, out var ticket) ? await ResumeToolAsync(run, conversation.Turn, call, ticket, cancellationToken).ConfigureAwait(false)
                    : await CallToolAsync(run, conversation.Turn, call, cancellationToken).ConfigureAwait(false));
            }

            messages.Add(new ChatMessage(ChatRole.Tool, results));
            await RecordAsync("session-" + run.Session.Id, await TurnTelemetry.CompletedAsync(this, run, resumed, true, CancellationToken.None).ConfigureAwait(false), CancellationToken.None).ConfigureAwait(false);
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

            var tally = run.StartTally(turn, Time);
            var inputEstimate = EstimateTokens(messages);
            var estimate = new BudgetEstimate(0, TimeSpan.Zero, inputEstimate + OutputAllowance, binding.Price?.Cost(inputEstimate, OutputAllowance) ?? 0m);
            if (!_ledger.TryReserve(principal, estimate, out var reservation, out var denial))
            {
                return (RunStatus.BudgetExhausted, null, $"the budget cannot cover model call {turn}: {denial.Reason}");
            }

            var clock = Stopwatch.StartNew();
            ChatResponse response;
            try
            {
                response = await binding.Client.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                _ledger.Release(reservation);
                throw;
            }

            var duration = clock.ElapsedMilliseconds;
            var (input, output) = (response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);

            // A model that reports no usage is charged what was reserved: a budget must not count unknown use as none.
            var tokens = input is null && output is null ? inputEstimate + OutputAllowance : (input ?? 0) + (output ?? 0);
            var cost = binding.Price?.Cost(input ?? inputEstimate, output ?? OutputAllowance) ?? 0m;
            var calls = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().ToList();
            tally.Model(duration, input ?? inputEstimate, output ?? OutputAllowance, cost);
            var body = JsonSerializer.Serialize(new ModelCallBody(ToRecords(messages.Skip(sent)), ToRecords(response.Messages)), ServerEventJsonContext.Default.ModelCallBody);
            var called = ServerEventJsonContext.Event(
                ServerEventTypes.ModelCalled,
                new ModelCalledData(run.Id, run.Agent, run.Session.Id, turn, binding.Reference, input, output, duration, calls.Count, response.FinishReason?.Value, null, Time.GetUtcNow()),
                ServerEventJsonContext.Default.ModelCalledData,
                body);

            // The call and what it spent are one append: a restarted server folds the spending from it (budget.settled).
            // A final answer ends the turn, so its turn.completed goes in the same append.
            Events.EventData[] recorded = calls.Count == 0 ? [called, await TurnTelemetry.CompletedAsync(this, run, tally, false, CancellationToken.None).ConfigureAwait(false)] : [called];
            await Pipeline.SettleAsync(
                "session-" + run.Session.Id, principal, reservation, new BudgetAmounts(0, TimeSpan.Zero, tokens, cost), $"model call {turn} of run {run.Id}", recorded, CancellationToken.None).ConfigureAwait(false);
            messages.AddMessages(response);
            sent = messages.Count;
            run.Add(new RunProgressDto("model_call", turn, Model: binding.Reference, InputTokens: input, OutputTokens: output, DurationMs: duration));

            if (calls.Count == 0)
            {
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
        }

        return (RunStatus.Failed, null, $"turn cap: the model was called {maxTurns} times (max_turns) without giving a final answer");
    }

    /// <summary>One tool call: a proposal through governance; what the model is told back, whatever the decision.</summary>
    private async Task<FunctionResultContent> CallToolAsync(AgentRun run, int turn, FunctionCallContent call, CancellationToken cancellationToken)
    {
        var arguments = AgentTools.ArgumentsJson(call);
        run.Add(new RunProgressDto("tool_call", turn, Tool: call.Name, Arguments: arguments));

        // Messaging tools (send, recv, ask, answer) go through the message broker, which governs each send itself.
        if (await CallMessagingToolAsync(run, call, cancellationToken).ConfigureAwait(false) is { } said)
        {
            return await ToolResultAsync(run, turn, call, arguments, null, null, said).ConfigureAwait(false);
        }

        // Manager tools (request_spawn, start, stop, restart, update): refused to any agent whose role is not manager.
        if (await CallManagerToolAsync(run, call, cancellationToken).ConfigureAwait(false) is { } managed)
        {
            return await ToolResultAsync(run, turn, call, arguments, null, null, managed).ConfigureAwait(false);
        }

        // Memory tools (remember): governed like a write of MEMORY.md, carried out on the agent's own folder.
        if (await CallMemoryToolAsync(run, call, cancellationToken).ConfigureAwait(false) is { } remembered)
        {
            return await ToolResultAsync(run, turn, call, arguments, null, null, remembered).ConfigureAwait(false);
        }

        var (request, problem) = AgentTools.ToProposal(call);
        if (request is null)
        {
            run.Tally?.Denial(TurnTally.Invalid);
            return await ToolResultAsync(run, turn, call, arguments, null, null, $"error: {problem}; nothing ran").ConfigureAwait(false);
        }

        ProposalRun proposal;
        try
        {
            proposal = await SubmitAsync(run.Session, request, keepTicketOnStop: true, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestRefusedException ex)
        {
            run.Tally?.Denial(TurnTally.Invalid);
            return await ToolResultAsync(run, turn, call, arguments, null, null, $"error: {ex.Message}; nothing ran").ConfigureAwait(false);
        }

        return await AwaitToolAsync(run, turn, call, arguments, proposal, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for a submitted tool call's proposal to end (through its approval, when pending) and tells the model.</summary>
    private async Task<FunctionResultContent> AwaitToolAsync(AgentRun run, int turn, FunctionCallContent call, string arguments, ProposalRun proposal, CancellationToken cancellationToken)
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
            await RecordAsync("session-" + run.Session.Id, ServerEventJsonContext.Event(
                ServerEventTypes.RunWaiting,
                new RunWaitingData(run.Id, run.Agent, run.Session.Id, turn, call.Name, call.CallId, proposalId, decision.TicketId!, Time.GetUtcNow()),
                ServerEventJsonContext.Default.RunWaitingData), CancellationToken.None).ConfigureAwait(false);
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
        return await ToolResultAsync(run, turn, call, arguments, proposalId, done.Decision, Describe(done)).ConfigureAwait(false);
    }

    private async Task<FunctionResultContent> ToolResultAsync(AgentRun run, int turn, FunctionCallContent call, string arguments, string? proposalId, DecisionDto? decision, string text)
    {
        var completesTurn = run.Tally?.Tool(call.Name, decision?.Decision) == true;
        await TurnTelemetry.AppendAsync(this, run, ServerEventJsonContext.Event(
            ServerEventTypes.ToolCalled,
            new ToolCalledData(run.Id, run.Agent, run.Session.Id, turn, call.Name, call.CallId, proposalId, decision?.Decision ?? "invalid", decision?.Rule, decision?.Reason, Time.GetUtcNow()),
            ServerEventJsonContext.Default.ToolCalledData,
            JsonSerializer.Serialize(new ToolCallBody(arguments, text), ServerEventJsonContext.Default.ToolCallBody)), completesTurn, CancellationToken.None).ConfigureAwait(false);
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
    private async Task FinishRunAsync(AgentRun run, AgentDefinition agent, (string Status, string? Answer, string? Error) outcome, bool crashed = false)
    {
        var session = run.Session;
        var stream = "session-" + session.Id;
        var by = "run " + run.Id;
        try
        {
            if (outcome.Status == RunStatus.Finished && agent.Bootstrap is null)
            {
                var record = await BootstrapRecord.MarkAsync(agent.Directory, session.Id, Time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
                if (record.SessionId == session.Id)
                {
                    await RecordAsync(stream, ServerEventJsonContext.Event(
                        ServerEventTypes.BootstrapConsumed,
                        new BootstrapConsumedData(run.Agent, session.Id, run.Id, record.CompletedAt),
                        ServerEventJsonContext.Default.BootstrapConsumedData), CancellationToken.None).ConfigureAwait(false);
                }
            }

            run.SetStatus(outcome.Status);
            var dto = run.ToDto();
            await RecordAsync(stream, ServerEventJsonContext.Event(
                ServerEventTypes.RunEnded,
                new RunEndedData(run.Id, run.Agent, session.Id, outcome.Status, dto.Turns, outcome.Error, Time.GetUtcNow(), crashed ? true : null),
                ServerEventJsonContext.Default.RunEndedData,
                outcome.Answer), CancellationToken.None).ConfigureAwait(false);
            await CloseSessionAsync(session, by, CancellationToken.None).ConfigureAwait(false);
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
}
