using System.Text.Json.Serialization;

namespace Apiary.Runtime.Messaging;

/// <summary>The event types and streams of messaging.</summary>
internal static class MessageEventTypes
{
    /// <summary>A message delivered to an inbox (stream <c>inbox-&lt;recipient&gt;</c>); its stream version is its sequence number.</summary>
    public const string MessageSent = "message.sent";

    /// <summary>A recipient acknowledged its inbox through a sequence number (stream <c>ack-&lt;recipient&gt;</c>).</summary>
    public const string InboxAcked = "inbox.acked";

    /// <summary>The control plane refused an agent's message before governance: the recipient is not in its allowed recipients (stream <c>session-&lt;id&gt;</c>).</summary>
    public const string MessageRefused = "message.refused";

    /// <summary>The stream of <paramref name="recipient"/>'s messages.</summary>
    public static string InboxStream(string recipient) => "inbox-" + recipient;

    /// <summary>The stream of <paramref name="recipient"/>'s acknowledgements; its last event is the durable cursor.</summary>
    public static string AckStream(string recipient) => "ack-" + recipient;
}

/// <summary>
/// A message as its <c>message.sent</c> event records it; the text is the event's body (retention may purge it).
/// <see cref="From"/> is who the server authenticated, never what a request claimed.
/// </summary>
internal sealed record MessageSentData(
    string Id, string From, string To, string Role, string Thread, string? ReplyTo, string? Session, string? Proposal, DateTimeOffset At);

/// <summary>A recipient acknowledged every message of its inbox up to <see cref="Through"/>.</summary>
internal sealed record InboxAckedData(string Agent, long Through, string By, DateTimeOffset At);

/// <summary>An agent tried to message someone it may not; the text is not kept.</summary>
internal sealed record MessageRefusedData(string From, string To, string Session, string Rule, string Reason, DateTimeOffset At);
