using Apiary.Governance.Pipeline;

namespace Apiary.Server.Dashboard;

/// <summary>
/// Every session in the log, this server's and earlier ones', as the sessions list shows them: when each opened and
/// closed, for which agent, what it was for (its run's task, or its first command, cut to <see cref="WhatChars"/>), and
/// how many proposals it made. <see cref="DashboardFeed"/> folds the whole log into it once
/// at start, then each new event before any page hears of it, so a page that reloads on an event finds it here.
/// </summary>
internal sealed class SessionDirectory
{
    private const string StreamPrefix = "session-";

    /// <summary>The most characters of a session's task or first command the list keeps.</summary>
    public const int WhatChars = 160;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _sessions = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _startedAt = long.MaxValue;

    /// <summary>Completes once the log as it was at start is folded in.</summary>
    public Task Ready => _ready.Task;

    /// <summary>How many sessions the log holds.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _sessions.Count;
            }
        }
    }

    /// <summary>Folds <paramref name="e"/> in; events of other streams are passed over.</summary>
    public void Apply(RecordedEvent e)
    {
        if (!e.Stream.StartsWith(StreamPrefix, StringComparison.Ordinal))
        {
            return;
        }

        var id = e.Stream[StreamPrefix.Length..];
        lock (_gate)
        {
            try
            {
                Fold(id, e);
            }
            catch (JsonException)
            {
                // An event this server cannot read (written by another version) leaves the list as it was, and the
                // feed every page follows goes on.
            }
        }
    }

    /// <summary>
    /// Marks the log as it was at start folded in: up to <paramref name="startPosition"/>, the last event before this
    /// server started. A session opened after it is this server's.
    /// </summary>
    public void MarkReady(long startPosition)
    {
        lock (_gate)
        {
            _startedAt = startPosition;
        }

        _ready.TrySetResult();
    }

    private void Fold(string id, RecordedEvent e)
    {
        switch (e.Type)
        {
            case ServerEventTypes.SessionOpened when JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.SessionEventData) is { } opened:
                _sessions[id] = new Entry(opened.Agent, opened.At, e.Position);
                break;
            case ServerEventTypes.SessionClosed when _sessions.TryGetValue(id, out var entry):
                entry.ClosedAt = JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.SessionEventData)?.At;
                break;
            case ServerEventTypes.SessionOrphaned when _sessions.TryGetValue(id, out var entry):
                // Recorded by the server that started after the one holding it died.
                entry.Orphaned = true;
                break;
            case ServerEventTypes.RunStarted when _sessions.TryGetValue(id, out var entry) && entry.What is null:
                entry.What = Cut(e.Body is { } body ? System.Text.Encoding.UTF8.GetString(body.Span) : "(its task was purged)");
                break;
            case PipelineEventTypes.ProposalDecided when _sessions.TryGetValue(id, out var entry):
                // A proposal that waited for a person is decided twice: it counts once.
                var decision = PipelineRecords.ReadDecision(e);
                if (!entry.Waiting.Remove(decision.ProposalId))
                {
                    entry.Proposals++;
                }

                if (decision.Decision == "pending")
                {
                    entry.Waiting.Add(decision.ProposalId);
                }

                if (entry.What is null && decision.Inputs.Kind == "exec")
                {
                    entry.What = Cut("$ " + SessionViews.CommandLine(decision.Inputs));
                }

                break;
        }
    }

    /// <summary>
    /// The newest <paramref name="limit"/> sessions: open ones first (newest first), then the others by when they
    /// ended or opened, newest first. A session opened before this server started and never closed is orphaned unless
    /// <paramref name="isLive"/> says this server took it up again (a resumed run's).
    /// </summary>
    /// <remarks>With <paramref name="agent"/> or <paramref name="state"/> (<c>open</c>, <c>closed</c>, <c>orphaned</c>), only the sessions that match.</remarks>
    public IReadOnlyList<SessionRow> List(Func<string, bool> isLive, int limit, string? agent = null, string? state = null)
    {
        lock (_gate)
        {
            return _sessions
                .Where(p => agent is null || p.Value.Agent == agent)
                .Select(p => new SessionRow(
                    p.Key, p.Value.Agent, p.Value.OpenedAt, p.Value.ClosedAt, p.Value.Proposals,
                    Orphaned: p.Value.ClosedAt is null && (p.Value.Orphaned || (p.Value.OpenedPosition <= _startedAt && !isLive(p.Key))),
                    What: p.Value.What))
                .Where(r => state is null || r.State == state)
                .OrderBy(r => r.IsOpen ? 0 : 1)
                .ThenByDescending(r => r.ClosedAt ?? r.OpenedAt)
                .Take(limit)
                .ToList();
        }
    }

    /// <summary>Each agent that has a session in the log, in order.</summary>
    public IReadOnlyList<string> Agents()
    {
        lock (_gate)
        {
            return _sessions.Values.Select(e => e.Agent).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        }
    }

    private static string Cut(string text)
    {
        var line = text.ReplaceLineEndings(" ").Trim();
        return line.Length <= WhatChars ? line : line[..WhatChars] + "…";
    }

    private sealed class Entry(string agent, DateTimeOffset openedAt, long openedPosition)
    {
        public long OpenedPosition { get; } = openedPosition;

        public string Agent { get; } = agent;

        public DateTimeOffset OpenedAt { get; } = openedAt;

        public DateTimeOffset? ClosedAt { get; set; }

        /// <summary>Whether the log says it was orphaned (<c>session.orphaned</c>).</summary>
        public bool Orphaned { get; set; }

        /// <summary>Its run's task or its first command, cut short; null until one is seen.</summary>
        public string? What { get; set; }

        /// <summary>How many proposals it has had.</summary>
        public int Proposals { get; set; }

        /// <summary>
        /// Its proposals waiting for a person, whose second decision (once answered) is not a new proposal: the only ids
        /// kept, so that a session of many proposals costs a number, not a set.
        /// </summary>
        public HashSet<string> Waiting { get; } = new(StringComparer.Ordinal);
    }
}
