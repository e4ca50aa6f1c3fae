namespace Apiary.Events;

/// <summary>An event as the store recorded it, with the place and the hashes the store gave it.</summary>
/// <param name="Position">The global position, from 1, without gaps.</param>
/// <param name="Stream">The stream the event belongs to, such as <c>agent-alice</c>.</param>
/// <param name="StreamVersion">The version within <paramref name="Stream"/>, from 1, without gaps.</param>
/// <param name="Type">What happened.</param>
/// <param name="Timestamp">When the store committed the event (UTC).</param>
/// <param name="Data">The audit skeleton (UTF-8 JSON).</param>
/// <param name="Body">The purgeable content, or null when there was none or it has been purged.</param>
/// <param name="BodyHash">SHA-256 of the body, or 32 zero bytes when there was no body; kept after a purge.</param>
/// <param name="PreviousHash">The hash of the event at <c>Position - 1</c>, or 32 zero bytes for the first event.</param>
/// <param name="Hash">The hash of this event; see <see cref="EventChain"/>.</param>
public sealed record RecordedEvent(
    long Position,
    string Stream,
    long StreamVersion,
    string Type,
    DateTimeOffset Timestamp,
    ReadOnlyMemory<byte> Data,
    ReadOnlyMemory<byte>? Body,
    ReadOnlyMemory<byte> BodyHash,
    ReadOnlyMemory<byte> PreviousHash,
    ReadOnlyMemory<byte> Hash);
