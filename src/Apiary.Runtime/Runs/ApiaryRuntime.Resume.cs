using System.Text.Json;
using Apiary.Agents;
using Apiary.Contracts;
using Apiary.Events;
using Apiary.Models;
using Apiary.Runtime.Supervision;
using Microsoft.Extensions.AI;

namespace Apiary.Runtime;

// Runs outlive the server: on start, every run whose end is not on the record is taken up again from its events.
internal sealed partial class ApiaryRuntime
{
    /// <summary>
    /// Resumes every run that a previous server left unended (waiting for an approval, or running): its conversation is
    /// rebuilt from its <c>model.called</c> and <c>tool.called</c> bodies, its session reopened under the same id (so its
    /// tickets and budget are still its own), and its loop continues; a run that cannot be resumed is ended
    /// <c>failed</c> with why.
    /// </summary>
    private async Task ResumeRunsAsync(CancellationToken cancellationToken)
    {
        var open = new Dictionary<string, RunStartedData>(StringComparer.Ordinal);
        await foreach (var e in Store.ReadAllAsync(1, cancellationToken).ConfigureAwait(false))
        {
            if (e.Type == ServerEventTypes.RunStarted)
            {
                var started = Read(e, ServerEventJsonContext.Default.RunStartedData);
                open[started.Run] = started;
            }
            else if (e.Type == ServerEventTypes.RunEnded)
            {
                open.Remove(Read(e, ServerEventJsonContext.Default.RunEndedData).Run);
            }
        }

        foreach (var started in open.Values)
        {
            await ResumeRunAsync(started, cancellationToken).ConfigureAwait(false);
        }
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
            agent = await LoadAgentAsync(s.Agent, cancellationToken).ConfigureAwait(false);
            binding = Models.Resolve(s.Model);
            (_, conversation, fingerprint) = await LoadConversationAsync(agent, s.Session, s.Run, cancellationToken).ConfigureAwait(false);
            var opened = await OpenSessionAsync(new OpenSessionRequest(agent.Name.Value), by, s.Session, cancellationToken).ConfigureAwait(false);
            run = new AgentRun(s.Run, s.Agent, FindSession(opened.Session.Id)!, s.Model);
            var ticket = conversation.Tickets.Values.FirstOrDefault();
            await RecordAsync("session-" + s.Session, ServerEventJsonContext.Event(
                ServerEventTypes.RunResumed,
                new RunResumedData(s.Run, s.Agent, s.Session, conversation.Turn, ticket, Time.GetUtcNow(), fingerprint),
                ServerEventJsonContext.Default.RunResumedData), cancellationToken).ConfigureAwait(false);
            if (ticket is not null)
            {
                run.SetStatus(RunStatus.WaitingApproval);
            }
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException or JsonException or FormatException)
        {
            if (run is not null)
            {
                await CloseSessionAsync(run.Session, by, CancellationToken.None).ConfigureAwait(false);
            }

            await RecordAsync("session-" + s.Session, ServerEventJsonContext.Event(
                ServerEventTypes.RunEnded,
                new RunEndedData(s.Run, s.Agent, s.Session, RunStatus.Failed, 0, $"it could not be resumed after a restart: {ex.Message}", Time.GetUtcNow()),
                ServerEventJsonContext.Default.RunEndedData), cancellationToken).ConfigureAwait(false);
            return;
        }

        Continue(run, agent, binding, conversation, s.MaxTurns);
    }

    /// <summary>Registers a run whose session is open and runs its loop (or, when its conversation already has the answer, ends it).</summary>
    private void Continue(AgentRun run, AgentDefinition agent, ModelBinding binding, RunConversation conversation, int maxTurns)
    {
        _agentRuns[run.Id] = run;
        run.SetTurn(conversation.Turn);
        Track(conversation.Answer is { } answer
            ? Task.Run(() => FinishRunAsync(run, agent, (RunStatus.Finished, answer, null)), CancellationToken.None)
            : Task.Run(() => RunLoopAsync(run, agent, binding, conversation, maxTurns), CancellationToken.None));
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
        await foreach (var e in Store.ReadStreamAsync("session-" + session, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            switch (e.Type)
            {
                case ServerEventTypes.RunStarted:
                    var started = Read(e, ServerEventJsonContext.Default.RunStartedData);
                    runs[started.Run] = new RecordedRun(started, Text(e));
                    break;
                case ServerEventTypes.ModelCalled:
                    var called = Read(e, ServerEventJsonContext.Default.ModelCalledData);
                    runs.GetValueOrDefault(called.Run)?.ModelCalls.Add((called, Text(e)));
                    break;
                case ServerEventTypes.ToolCalled:
                    var tool = Read(e, ServerEventJsonContext.Default.ToolCalledData);
                    runs.GetValueOrDefault(tool.Run)?.ToolCalls.Add((tool, Text(e)));
                    break;
                case ServerEventTypes.RunWaiting:
                    var waiting = Read(e, ServerEventJsonContext.Default.RunWaitingData);
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

        var prompt = await Catalog.ComposePromptAsync(agent, cancellationToken: cancellationToken).ConfigureAwait(false);
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
            last = JsonSerializer.Deserialize(body ?? throw new ApiaryException($"the conversation of model call {called.Turn} was purged from the record"), ServerEventJsonContext.Default.ModelCallBody)
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
                : JsonSerializer.Deserialize(body, ServerEventJsonContext.Default.ToolCallBody)?.Result ?? "";
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
        var ticket = Pipeline.OpenTickets.FirstOrDefault(t => t.Id.ToString() == ticketId);
        if (ticket is null)
        {
            return await ToolResultAsync(run, turn, call, arguments, null, null, $"error: approval ticket {ticketId} is no longer open (answered or expired while the server was stopped); it did not run").ConfigureAwait(false);
        }

        var proposal = AttachPending(run.Session, ticket);
        return await AwaitToolAsync(run, turn, call, arguments, proposal, cancellationToken).ConfigureAwait(false);
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
