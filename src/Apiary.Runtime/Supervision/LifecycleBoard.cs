using Apiary.Governance.Pipeline;
using Apiary.Runtime.Manager;

namespace Apiary.Runtime.Supervision;

/// <summary>An agent's state changed.</summary>
internal sealed record LifecycleTransition(string Agent, string From, string To, string Reason, string? Run);

/// <summary>
/// Something an agent's managers are told (<see cref="LifecycleNotice"/>); <see cref="To"/> names the one recipient when
/// the event names it (a spawn's parent), otherwise the agent's managers are.
/// </summary>
internal sealed record LifecycleNote(string Kind, string Agent, string Text, string? To = null);

/// <summary>A run that crashed: which restart would be next.</summary>
internal sealed record CrashedRun(string Agent, string Run, string Session, int Attempt, string? Error);

/// <summary>
/// Every agent's lifecycle state, folded from the event log (and from the fingerprints of the agents' files, which are
/// not events): pure and single-threaded, so the same events always give the same states. Each input returns the
/// transitions and the notes it causes; the supervisor records and sends them, or, while seeding, drops them.
/// </summary>
internal sealed class LifecycleBoard(int maxRestarts = 3)
{
    private readonly Dictionary<string, ActiveRun> _runs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _runOfSession = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TicketInfo> _tickets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _rebuilding = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CrashedRun> _crashed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _states = new(StringComparer.Ordinal);
    private readonly Dictionary<string, AgentFailureDto> _failures = new(StringComparer.Ordinal);

    /// <summary>Each agent the board has seen, and its state.</summary>
    public IReadOnlyDictionary<string, string> States => _states;

    /// <summary>The agents whose last run crashed and has not been followed by another run.</summary>
    public IEnumerable<CrashedRun> Crashed => _crashed.Values;

    /// <summary>Each agent's last run that did not finish (one per agent, so bounded by the agents), while no later run finished.</summary>
    public IReadOnlyDictionary<string, AgentFailureDto> Failures => _failures;

    public string StateOf(string agent) => _states.GetValueOrDefault(agent) ?? LifecycleState.Stopped;

    /// <summary>Folds one event of the log.</summary>
    public (List<LifecycleTransition> Transitions, List<LifecycleNote> Notes) Apply(RecordedEvent e)
    {
        var notes = new List<LifecycleNote>();
        string? agent = null;
        string reason;
        string? run = null;
        switch (e.Type)
        {
            case ServerEventTypes.RunStarted:
            {
                var d = Read(e, RuntimeJsonContext.Default.RunStartedData);
                (agent, run) = (d.Agent, d.Run);
                _runs[d.Run] = new ActiveRun(d.Run, d.Agent, d.Session) { Phase = LifecycleState.Starting, Fingerprint = d.Fingerprint, Attempt = d.Attempt ?? 0 };
                _runOfSession[d.Session] = d.Run;
                _crashed.Remove(d.Agent);
                if (d.RestartOf is not null && _failures.GetValueOrDefault(d.Agent) is { } failure && failure.Run == d.RestartOf)
                {
                    _failures[d.Agent] = failure with { Restart = $"restarted as run {d.Run} (restart {d.Attempt} of {maxRestarts})" };
                }

                reason = d.RestartOf is null ? $"run {d.Run} started" : $"run {d.Run} restarted run {d.RestartOf} (restart {d.Attempt})";
                break;
            }

            case ServerEventTypes.RunResumed:
            {
                var d = Read(e, RuntimeJsonContext.Default.RunResumedData);
                (agent, run) = (d.Agent, d.Run);
                var active = _runs.GetValueOrDefault(d.Run) ?? new ActiveRun(d.Run, d.Agent, d.Session);
                _runs[d.Run] = active with { Phase = d.Ticket is null ? LifecycleState.Running : LifecycleState.Idle, Fingerprint = d.Fingerprint ?? active.Fingerprint };
                _runOfSession[d.Session] = d.Run;
                reason = $"run {d.Run} resumed after a restart";
                break;
            }

            case ServerEventTypes.ModelCalled:
            {
                var d = Read(e, RuntimeJsonContext.Default.ModelCalledData);
                (agent, run, reason) = (d.Agent, d.Run, $"run {d.Run} called its model (turn {d.Turn})");
                SetPhase(d.Run, LifecycleState.Running);
                break;
            }

            case ServerEventTypes.ToolCalled:
            {
                var d = Read(e, RuntimeJsonContext.Default.ToolCalledData);
                (agent, run, reason) = (d.Agent, d.Run, $"run {d.Run} called {d.Tool}");
                SetPhase(d.Run, LifecycleState.Running);
                break;
            }

            case LifecycleEventTypes.RunReceiving:
            {
                var d = Read(e, RuntimeJsonContext.Default.RunReceivingData);
                (agent, run, reason) = (d.Agent, d.Run, $"run {d.Run} waits up to {d.WaitSeconds} s for messages");
                SetPhase(d.Run, LifecycleState.Idle);
                break;
            }

            case PipelineEventTypes.ApprovalRequested:
            {
                using var json = JsonDocument.Parse(e.Data);
                var proposal = json.RootElement.GetProperty("proposal");
                var ticket = new TicketInfo(
                    json.RootElement.GetProperty("ticket_id").GetString()!,
                    proposal.GetProperty("agent").GetString()!,
                    proposal.GetProperty("session").GetString()!,
                    proposal.GetProperty("kind").GetString()!);
                _tickets[ticket.Id] = ticket;
                agent = ticket.Agent;
                reason = $"waiting for approval ticket {ticket.Id} ({ticket.Kind})";
                if (_runOfSession.GetValueOrDefault(ticket.Session) is { } waiting && _runs.ContainsKey(waiting))
                {
                    run = waiting;
                    SetPhase(waiting, LifecycleState.Idle);
                }

                break;
            }

            case PipelineEventTypes.ApprovalGranted or PipelineEventTypes.ApprovalDenied or PipelineEventTypes.ApprovalExpired:
            {
                using var json = JsonDocument.Parse(e.Data);
                var id = json.RootElement.GetProperty("ticket_id").GetString()!;
                if (!_tickets.Remove(id, out var ticket))
                {
                    return ([], []);
                }

                agent = ticket.Agent;
                var answer = e.Type switch
                {
                    PipelineEventTypes.ApprovalGranted => $"granted by {json.RootElement.GetProperty("by").GetString()}",
                    PipelineEventTypes.ApprovalDenied => $"denied by {json.RootElement.GetProperty("by").GetString()}: {json.RootElement.GetProperty("reason").GetString()}",
                    _ => "expired unanswered",
                };
                reason = $"approval ticket {id} {answer}";
                notes.Add(new LifecycleNote(LifecycleNotice.ApprovalResolved, ticket.Agent, $"agent '{ticket.Agent}''s {ticket.Kind} (approval ticket {id}) was {answer}"));
                if (_runOfSession.GetValueOrDefault(ticket.Session) is { } waiting && _runs.ContainsKey(waiting))
                {
                    run = waiting;
                    SetPhase(waiting, LifecycleState.Running);
                }

                break;
            }

            case ServerEventTypes.RunEnded:
            {
                var d = Read(e, RuntimeJsonContext.Default.RunEndedData);
                (agent, run) = (d.Agent, d.Run);
                var attempt = _runs.Remove(d.Run, out var ended) ? ended.Attempt : 0;
                // Only a crash is restarted; a run that ended on its own with a failure (its model call failed, the turn cap,
                // the budget, a refusal) would fail the same way again, so it is shown with its reason and left stopped.
                if (d.Crashed == true || d.Status == RunStatus.Crashed)
                {
                    _crashed[d.Agent] = new CrashedRun(d.Agent, d.Run, d.Session, attempt, d.Error);
                    reason = $"run {d.Run} crashed: {d.Error}";
                    var next = attempt + 1;
                    _failures[d.Agent] = new AgentFailureDto(d.Run, d.Session, RunStatus.Crashed, d.Error ?? "it crashed", d.At, true,
                        maxRestarts == 0 ? "not restarted: restarts are turned off"
                        : next <= maxRestarts ? $"restart {next} of {maxRestarts} to be scheduled"
                        : $"not restarted again: {maxRestarts} restarts in a row crashed");
                }
                else
                {
                    _crashed.Remove(d.Agent);
                    reason = $"run {d.Run} ended {d.Status}" + (d.Error is null ? "" : $": {d.Error}");
                    if (d.Status == RunStatus.Finished)
                    {
                        _failures.Remove(d.Agent);
                    }
                    else if (d.Status != RunStatus.Killed)
                    {
                        _failures[d.Agent] = new AgentFailureDto(d.Run, d.Session, d.Status, d.Error ?? d.Status, d.At, false, "not restarted: the run ended on its own");
                    }
                }

                break;
            }

            case LifecycleEventTypes.RestartScheduled:
            {
                var d = Read(e, RuntimeJsonContext.Default.RestartScheduledData);
                if (_failures.GetValueOrDefault(d.Agent) is { } failure && failure.Run == d.Run)
                {
                    _failures[d.Agent] = failure with { Restart = $"restart {d.Attempt} of {d.MaxRestarts} due at {d.DueAt.ToString("u", CultureInfo.InvariantCulture)}" };
                }

                return ([], []);
            }

            case LifecycleEventTypes.RestartFailed:
            {
                var d = Read(e, RuntimeJsonContext.Default.RestartFailedData);
                if (_failures.GetValueOrDefault(d.Agent) is { } failure && failure.Run == d.Run)
                {
                    _failures[d.Agent] = failure with { Restart = $"restart {d.Attempt} could not be made: {d.Reason}" };
                }

                return ([], []);
            }

            case LifecycleEventTypes.Rebuilding:
            {
                var d = Read(e, RuntimeJsonContext.Default.RebuildData);
                agent = d.Agent;
                _rebuilding[d.Agent] = _rebuilding.GetValueOrDefault(d.Agent) + 1;
                reason = $"{d.By} reloads its definition";
                break;
            }

            case LifecycleEventTypes.Rebuilt:
            {
                var d = Read(e, RuntimeJsonContext.Default.RebuildData);
                agent = d.Agent;
                if (_rebuilding.GetValueOrDefault(d.Agent) <= 1)
                {
                    _rebuilding.Remove(d.Agent);
                }
                else
                {
                    _rebuilding[d.Agent]--;
                }

                if (d.Fingerprint is { } fingerprint)
                {
                    _files[d.Agent] = fingerprint;
                    foreach (var id in d.Runs ?? [])
                    {
                        if (_runs.TryGetValue(id, out var active))
                        {
                            _runs[id] = active with { Fingerprint = fingerprint };
                        }
                    }
                }

                reason = d.Fingerprint is null ? $"its definition could not be reloaded: {d.Summary}" : "its definition was reloaded";
                notes.Add(new LifecycleNote(LifecycleNotice.Rebuilt, d.Agent, d.Fingerprint is null
                    ? $"agent '{d.Agent}' could not be reloaded: {d.Summary}"
                    : $"agent '{d.Agent}' reloaded its definition ({d.Summary}); {(d.Runs is { Count: > 0 } runs ? $"its run{(runs.Count == 1 ? "" : "s")} {string.Join(", ", runs)} use{(runs.Count == 1 ? "s" : "")} it from the next model call" : "its next run uses it")}"));
                break;
            }

            case ManagerEventTypes.AgentSpawned:
            {
                var d = JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.AgentSpawnedData)!;
                agent = d.Agent;
                reason = $"spawned by {d.Parent}";
                notes.Add(new LifecycleNote(LifecycleNotice.Spawned, d.Agent, $"agent '{d.Agent}' was {(d.Replaced ? "updated" : "created")} from your draft ({d.Files.Count} files, depth {d.Depth}); start it with start", d.Parent));
                break;
            }

            default:
                return ([], []);
        }

        return (Settle(agent, reason, run), notes);
    }

    /// <summary>The agent's files now have <paramref name="fingerprint"/> (null: the agent's folder is gone).</summary>
    public List<LifecycleTransition> SetFiles(string agent, string? fingerprint, string reason)
    {
        if (fingerprint is null)
        {
            _files.Remove(agent);
        }
        else
        {
            _files[agent] = fingerprint;
        }

        return Settle(agent, reason, null);
    }

    private void SetPhase(string run, string phase)
    {
        if (_runs.TryGetValue(run, out var active))
        {
            _runs[run] = active with { Phase = phase };
        }
    }

    /// <summary>Derives <paramref name="agent"/>'s state and, when it differs from the last, records the transition.</summary>
    private List<LifecycleTransition> Settle(string agent, string reason, string? run)
    {
        var state = Derive(agent);
        var before = StateOf(agent);
        _states[agent] = state;
        return before == state ? [] : [new LifecycleTransition(agent, before, state, reason, run)];
    }

    private string Derive(string agent)
    {
        if (_rebuilding.ContainsKey(agent))
        {
            return LifecycleState.Rebuilding;
        }

        var runs = _runs.Values.Where(r => r.Agent == agent).ToList();
        if (runs.Count > 0)
        {
            if (_files.TryGetValue(agent, out var files) && runs.Any(r => r.Fingerprint is not null && r.Fingerprint != files))
            {
                return LifecycleState.NeedsUpdate;
            }

            return runs.Any(r => r.Phase == LifecycleState.Running) ? LifecycleState.Running
                : runs.Any(r => r.Phase == LifecycleState.Starting) ? LifecycleState.Starting
                : LifecycleState.Idle;
        }

        return _crashed.ContainsKey(agent) ? LifecycleState.Crashed : LifecycleState.Stopped;
    }

    private static T Read<T>(RecordedEvent e, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        JsonSerializer.Deserialize(e.Data.Span, info) ?? throw new JsonException($"event {e.Position} ({e.Type}) has no data");

    private sealed record ActiveRun(string Id, string Agent, string Session)
    {
        public string Phase { get; init; } = LifecycleState.Starting;

        public string? Fingerprint { get; init; }

        public int Attempt { get; init; }
    }

    private sealed record TicketInfo(string Id, string Agent, string Session, string Kind);
}
