namespace Apiary.Runtime;

/// <summary>
/// An agent's runs as the event log records them (<c>run.started</c> and <c>run.ended</c>), newest first, for
/// <c>GET /api/agents/{name}/runs</c> and the agent's dashboard page. Nothing is kept between reads: each read folds the
/// log again, holding at most the newest runs it will return, so its memory does not grow with the log.
/// </summary>
internal static class RunHistory
{
    /// <summary>The most runs one read returns, unless it asks for fewer.</summary>
    public const int MaxRuns = 500;

    /// <summary>The most characters of a task a record carries.</summary>
    public const int TaskChars = 500;

    /// <summary>
    /// The newest <paramref name="limit"/> runs of <paramref name="agent"/>, newest first. A run not ended on the record
    /// takes its status and turns from <paramref name="runs"/> when this server runs it. The store has no index by
    /// type, so this reads every event and decodes only the runs' starts and ends.
    /// </summary>
    public static async Task<IReadOnlyList<RunRecordDto>> ReadAsync(IEventStore store, RunService runs, string agent, int limit, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var kept = new Dictionary<string, RunRecordDto>(StringComparer.Ordinal);
        var order = new Queue<string>();
        await foreach (var e in store.ReadAllAsync(1, cancellationToken).ConfigureAwait(false))
        {
            if (e.Type == ServerEventTypes.RunStarted && JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.RunStartedData) is { } s && s.Agent == agent)
            {
                var task = e.Body is { } body ? System.Text.Encoding.UTF8.GetString(body.Span) : null;
                kept[s.Run] = new RunRecordDto(
                    s.Run, s.Session, RunStatus.Running, s.Model, 0, s.At, s.By, Task: task is { Length: > TaskChars } ? task[..TaskChars] + "…" : task, RestartOf: s.RestartOf, Attempt: s.Attempt);
                order.Enqueue(s.Run);
                if (order.Count > limit)
                {
                    kept.Remove(order.Dequeue());
                }
            }
            else if (e.Type == ServerEventTypes.RunEnded && JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.RunEndedData) is { } d && kept.TryGetValue(d.Run, out var started))
            {
                // A log of an earlier version marks a crash with status failed.
                var status = d.Crashed == true ? RunStatus.Crashed : d.Status;
                kept[d.Run] = started with { Status = status, Turns = d.Turns, EndedAt = d.At, Reason = d.Error };
            }
        }

        return order.Reverse()
            .Select(id => kept[id] is { EndedAt: null } open && runs.FindAgentRun(id)?.ToDto() is { } live ? open with { Status = live.Status, Turns = live.Turns } : kept[id])
            .ToList();
    }
}
