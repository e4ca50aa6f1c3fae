namespace Apiary.Runtime.Telemetry;

/// <summary>
/// The figures of one turn of an agent run, counted while the turn goes on: the model call's latency, tokens and cost,
/// the tool calls by name, the denials by kind, the approvals waited for and the messages sent and received. Safe to
/// feed from any thread; <see cref="Snapshot"/> reads them all at once for <c>turn.completed</c>.
/// </summary>
internal sealed class TurnTally(int turn, TimeProvider time)
{
    /// <summary>A governance decision or a message policy refused the call.</summary>
    public const string Denied = "denied";

    /// <summary>A policy steered the call to something else.</summary>
    public const string Steered = "steered";

    /// <summary>The recipient of a message is not among the agent's allowed recipients.</summary>
    public const string NotAllowed = "not_allowed";

    /// <summary>The call could not become a proposal (bad arguments, an unknown tool): nothing ran.</summary>
    public const string Invalid = "invalid";

    private readonly Lock _gate = new();
    private readonly long _started = time.GetTimestamp();
    private readonly Dictionary<string, int> _tools = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _denials = new(StringComparer.Ordinal);
    private long _modelLatencyMs;
    private long _inputTokens;
    private long _outputTokens;
    private decimal _costUsd;
    private int _approvals;
    private long _approvalWaitMs;
    private int _sent;
    private int _received;
    private int _unanswered;

    /// <summary>The turn's number in its run, from 1.</summary>
    public int Turn { get; } = turn;

    /// <summary>The turn's model call: how long it took, the tokens it used and what they cost.</summary>
    public void Model(long latencyMs, long inputTokens, long outputTokens, decimal costUsd)
    {
        lock (_gate)
        {
            _modelLatencyMs += latencyMs;
            _inputTokens += inputTokens;
            _outputTokens += outputTokens;
            _costUsd += costUsd;
        }
    }

    /// <summary>The model asked for <paramref name="calls"/> tool calls: the turn ends with the last one's <see cref="Tool"/>.</summary>
    public void Expect(int calls)
    {
        lock (_gate)
        {
            _unanswered = calls;
        }
    }

    /// <summary>
    /// A tool call of the turn answered and, when governance refused it, how (<c>deny</c> or <c>steer</c> as a decision
    /// names it). True when it was the last of those <see cref="Expect"/> announced: the turn is complete.
    /// </summary>
    public bool Tool(string name, string? decision)
    {
        lock (_gate)
        {
            _tools[name] = _tools.GetValueOrDefault(name) + 1;
            switch (decision)
            {
                case "deny":
                    Count(_denials, Denied);
                    break;
                case "steer":
                    Count(_denials, Steered);
                    break;
            }

            return _unanswered > 0 && --_unanswered == 0;
        }
    }

    /// <summary>A refusal of one of the kinds above that no governance decision of a tool call carries.</summary>
    public void Denial(string kind)
    {
        lock (_gate)
        {
            Count(_denials, kind);
        }
    }

    /// <summary>What a send or an answer became: sent, or refused (<c>denied</c>, <c>steered</c>, <c>not_allowed</c>).</summary>
    public void Send(SendOutcome outcome)
    {
        lock (_gate)
        {
            switch (outcome.Status)
            {
                case SendOutcome.Sent:
                    _sent++;
                    break;
                case SendOutcome.Denied:
                    Count(_denials, Denied);
                    break;
                case SendOutcome.Steered:
                    Count(_denials, Steered);
                    break;
                case SendOutcome.NotAllowed:
                    Count(_denials, NotAllowed);
                    break;
            }
        }
    }

    /// <summary>Messages handed to the model (by <c>recv</c>, or as the answer of an <c>ask</c>).</summary>
    public void Received(int count)
    {
        lock (_gate)
        {
            _received += count;
        }
    }

    /// <summary>An approval wait begins; pass what this returns to <see cref="ApprovalWaited"/> when it ends.</summary>
    public long WaitingForApproval() => time.GetTimestamp();

    /// <summary>An approval wait that began at <paramref name="since"/> (from <see cref="WaitingForApproval"/>) ended.</summary>
    public void ApprovalWaited(long since)
    {
        var waited = (long)time.GetElapsedTime(since).TotalMilliseconds;
        lock (_gate)
        {
            _approvals++;
            _approvalWaitMs += waited;
        }
    }

    /// <summary>The turn's <c>turn.completed</c> record: its figures so far, with its duration from its start until now.</summary>
    public TurnCompletedData Completed(AgentRun run, long inboxDepth, bool resumed, DateTimeOffset at)
    {
        var duration = (long)time.GetElapsedTime(_started).TotalMilliseconds;
        lock (_gate)
        {
            return new TurnCompletedData(
                run.Id,
                run.Agent,
                run.Session.Id,
                Turn,
                duration,
                _modelLatencyMs,
                _inputTokens,
                _outputTokens,
                _costUsd,
                new Dictionary<string, int>(_tools, StringComparer.Ordinal),
                new Dictionary<string, int>(_denials, StringComparer.Ordinal),
                _approvals,
                _approvalWaitMs,
                _sent,
                _received,
                inboxDepth,
                resumed,
                at);
        }
    }

    private static void Count(Dictionary<string, int> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;
}
