using System.Text.Json.Serialization;

namespace Apiary.Runtime.Telemetry;

/// <summary>The event types of per-agent telemetry (stream <c>session-&lt;id&gt;</c> of the run).</summary>
internal static class TelemetryEventTypes
{
    /// <summary>A turn of an agent run ended: its model call's tool calls were all answered, or it gave the final answer.</summary>
    public const string TurnCompleted = "turn.completed";
}

/// <summary>
/// The figures of one turn of an agent run (see docs/events.md). A turn is one model call and the tool calls it asked
/// for; <see cref="DurationMs"/> runs from the start of the model call to the last tool result.
/// </summary>
/// <param name="Run">The run.</param>
/// <param name="Agent">The agent.</param>
/// <param name="Session">The run's session.</param>
/// <param name="Turn">The turn's number in the run, from 1.</param>
/// <param name="DurationMs">The whole turn.</param>
/// <param name="ModelLatencyMs">The model call; 0 when a restarted server resumed the turn after it.</param>
/// <param name="InputTokens">Input tokens the model reported (or the estimate charged when it reported none).</param>
/// <param name="OutputTokens">Output tokens the model reported (or the allowance charged when it reported none).</param>
/// <param name="CostUsd">What the model call cost by the model's price; 0 without a price.</param>
/// <param name="ToolCalls">Tool calls by tool name.</param>
/// <param name="Denials">Refused calls by kind: <c>denied</c>, <c>steered</c>, <c>not_allowed</c>, <c>invalid</c>.</param>
/// <param name="ApprovalsWaited">Approval tickets the turn waited for.</param>
/// <param name="ApprovalWaitMs">How long it waited for them in all.</param>
/// <param name="MessagesSent">Messages the agent sent (send, ask, answer) that were delivered.</param>
/// <param name="MessagesReceived">Messages handed to the model (recv, the answer of an ask).</param>
/// <param name="InboxDepth">The agent's unacknowledged messages when the turn ended.</param>
/// <param name="Resumed">True when a restarted server finished the turn: its model figures are in the earlier server's <c>model.called</c>.</param>
/// <param name="At">When the turn ended.</param>
internal sealed record TurnCompletedData(
    string Run,
    string Agent,
    string Session,
    int Turn,
    long DurationMs,
    long ModelLatencyMs,
    long InputTokens,
    long OutputTokens,
    decimal CostUsd,
    IReadOnlyDictionary<string, int> ToolCalls,
    IReadOnlyDictionary<string, int> Denials,
    int ApprovalsWaited,
    long ApprovalWaitMs,
    int MessagesSent,
    int MessagesReceived,
    long InboxDepth,
    bool Resumed,
    DateTimeOffset At)
{
    /// <summary>This record as the event it is recorded as.</summary>
    public EventData ToEvent() => new(TelemetryEventTypes.TurnCompleted, JsonSerializer.SerializeToUtf8Bytes(this, RuntimeJsonContext.Default.TurnCompletedData));
}
