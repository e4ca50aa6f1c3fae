namespace Apiary.Runtime;

/// <summary>What became of a send: sent, pending a person's approval (<see cref="Delivery"/> completes then), or refused and why.</summary>
internal sealed record SendOutcome(string Status, MessageDto? Message = null, long Position = 0, string? TicketId = null, string? Rule = null, string? Reason = null, Task<SendOutcome>? Delivery = null)
{
    public const string Sent = "sent";
    public const string Pending = "pending";
    public const string Denied = "denied";
    public const string Steered = "steered";
    public const string NotAllowed = "not_allowed";
}
