using Apiary.Runtime.Messaging;

namespace Apiary.Runtime.Telemetry;

/// <summary>
/// An agent's figures over a window, folded from its <c>turn.completed</c> events: totals, the spread of turn duration and
/// model latency, and the latest turns one by one (at most <see cref="MaxSeries"/>), for <c>GET /api/agents/{name}/stats</c>.
/// </summary>
internal sealed class AgentStats
{
    /// <summary>The most turns the series carries; older turns of the window count in the totals only.</summary>
    public const int MaxSeries = 1000;

    private readonly string _agent;
    private readonly DateTimeOffset _since;
    private readonly HashSet<string> _runs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _tools = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _denials = new(StringComparer.Ordinal);
    private readonly List<long> _durations = [];
    private readonly List<long> _latencies = [];
    private readonly Queue<TurnPointDto> _series = new();
    private long _inputTokens;
    private long _outputTokens;
    private decimal _costUsd;
    private int _approvals;
    private long _approvalWaitMs;
    private int _sent;
    private int _received;

    private AgentStats(string agent, DateTimeOffset since)
    {
        _agent = agent;
        _since = since;
    }

    /// <summary>
    /// Reads the log for <paramref name="agent"/>'s turns that ended at or after <paramref name="since"/>. The store has no
    /// index by type, so this reads every event and decodes only the <c>turn.completed</c> ones.
    /// </summary>
    public static async Task<AgentStats> ReadAsync(IEventStore store, string agent, DateTimeOffset since, CancellationToken cancellationToken = default)
    {
        var stats = new AgentStats(agent, since);
        await foreach (var e in store.ReadAllAsync(1, cancellationToken).ConfigureAwait(false))
        {
            // A turn's event is committed after its 'at', so an event committed before the window holds no turn of it.
            if (e.Type == TelemetryEventTypes.TurnCompleted && e.Timestamp >= since)
            {
                stats.Add(JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.TurnCompletedData));
            }
        }

        return stats;
    }

    /// <summary>How many of <paramref name="agent"/>'s messages wait after its acknowledged cursor.</summary>
    public static async Task<long> InboxDepthAsync(ApiaryRuntime runtime, string agent, CancellationToken cancellationToken = default)
    {
        var cursor = await runtime.Messaging.Broker.CursorAsync(agent, cancellationToken).ConfigureAwait(false);
        long depth = 0;
        await foreach (var e in runtime.Store.ReadStreamAsync(MessageEventTypes.InboxStream(agent), cursor + 1, cancellationToken).ConfigureAwait(false))
        {
            if (e.Type == MessageEventTypes.MessageSent)
            {
                depth++;
            }
        }

        return depth;
    }

    /// <summary>The figures as the API returns them, for the window up to <paramref name="until"/>.</summary>
    public AgentStatsDto ToDto(DateTimeOffset until, long inboxDepth) => new(
        _agent,
        _since,
        until,
        _runs.Count,
        _durations.Count,
        new AgentStatsTotalsDto(
            _inputTokens,
            _outputTokens,
            _costUsd,
            _tools.Values.Sum(),
            new SortedDictionary<string, int>(_tools, StringComparer.Ordinal),
            _denials.Values.Sum(),
            new SortedDictionary<string, int>(_denials, StringComparer.Ordinal),
            _approvals,
            _approvalWaitMs,
            _sent,
            _received),
        Spread(_durations),
        Spread(_latencies),
        inboxDepth,
        [.. _series],
        _durations.Count > _series.Count);

    private void Add(TurnCompletedData? turn)
    {
        if (turn is null || turn.Agent != _agent || turn.At < _since)
        {
            return;
        }

        _runs.Add(turn.Run);
        _durations.Add(turn.DurationMs);
        _latencies.Add(turn.ModelLatencyMs);
        _inputTokens += turn.InputTokens;
        _outputTokens += turn.OutputTokens;
        _costUsd += turn.CostUsd;
        _approvals += turn.ApprovalsWaited;
        _approvalWaitMs += turn.ApprovalWaitMs;
        _sent += turn.MessagesSent;
        _received += turn.MessagesReceived;
        foreach (var (tool, count) in turn.ToolCalls)
        {
            _tools[tool] = _tools.GetValueOrDefault(tool) + count;
        }

        foreach (var (kind, count) in turn.Denials)
        {
            _denials[kind] = _denials.GetValueOrDefault(kind) + count;
        }

        _series.Enqueue(new TurnPointDto(
            turn.At,
            turn.Run,
            turn.Turn,
            turn.DurationMs,
            turn.ModelLatencyMs,
            turn.InputTokens,
            turn.OutputTokens,
            turn.CostUsd,
            turn.ToolCalls.Values.Sum(),
            turn.Denials.Values.Sum(),
            turn.ApprovalsWaited,
            turn.MessagesSent,
            turn.MessagesReceived,
            turn.InboxDepth));
        if (_series.Count > MaxSeries)
        {
            _series.Dequeue();
        }
    }

    /// <summary>The median, 95th percentile (nearest rank) and maximum of <paramref name="values"/>; zeros when there are none.</summary>
    private static SpreadDto Spread(List<long> values)
    {
        if (values.Count == 0)
        {
            return new SpreadDto(0, 0, 0);
        }

        var sorted = values.Order().ToArray();
        return new SpreadDto(Rank(sorted, 0.50), Rank(sorted, 0.95), sorted[^1]);
    }

    private static long Rank(long[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <summary>Builds a turn's <c>turn.completed</c> event at its end.</summary>
internal sealed class TurnTelemetry(RuntimeContext context, MessageBroker broker)
{
    /// <summary>The <c>turn.completed</c> event of <paramref name="tally"/>, with <paramref name="run"/>'s agent's inbox depth now.</summary>
    public async Task<EventData> CompletedAsync(AgentRun run, TurnTally tally, bool resumed, CancellationToken cancellationToken = default)
    {
        var depth = await broker.DepthAsync(run.Agent, cancellationToken).ConfigureAwait(false);
        return tally.Completed(run, depth, resumed, context.Time.GetUtcNow()).ToEvent();
    }

    /// <summary>Records <paramref name="data"/> in <paramref name="run"/>'s session stream and, in the same append when <paramref name="completesTurn"/>, the turn's <c>turn.completed</c>.</summary>
    public async Task AppendAsync(AgentRun run, EventData data, bool completesTurn, CancellationToken cancellationToken = default)
    {
        EventData[] events = completesTurn && run.Tally is { } tally ? [data, await CompletedAsync(run, tally, false, cancellationToken).ConfigureAwait(false)] : [data];
        await context.Store.AppendAsync("session-" + run.Session.Id, ExpectedVersion.Any, events, cancellationToken).ConfigureAwait(false);
    }
}
