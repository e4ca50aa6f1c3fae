namespace Apiary.Events;

/// <summary>
/// The event store: Apiary's source of truth. Every decision and side effect is an event in a stream; the store gives
/// each event a stream version (from 1 per stream) and a global position (from 1), and chains every event to its
/// predecessor with SHA-256 so that tampering is detectable.
/// </summary>
public interface IEventStore
{
    /// <summary>
    /// Appends <paramref name="events"/> to <paramref name="stream"/> atomically, when the stream is at
    /// <paramref name="expectedVersion"/>. Returns only once the events are committed; if they cannot be, throws.
    /// </summary>
    /// <exception cref="WrongExpectedVersionException">The stream is not at <paramref name="expectedVersion"/>.</exception>
    /// <exception cref="EventStoreException">The events could not be committed.</exception>
    Task<AppendResult> AppendAsync(string stream, ExpectedVersion expectedVersion, IReadOnlyList<EventData> events, CancellationToken cancellationToken = default);

    /// <summary>The events of <paramref name="stream"/> from version <paramref name="fromVersion"/>, in version order.</summary>
    IAsyncEnumerable<RecordedEvent> ReadStreamAsync(string stream, long fromVersion = 1, CancellationToken cancellationToken = default);

    /// <summary>Every committed event from position <paramref name="fromPosition"/>, in position order.</summary>
    IAsyncEnumerable<RecordedEvent> ReadAllAsync(long fromPosition = 1, CancellationToken cancellationToken = default);

    /// <summary>
    /// Every event from position <paramref name="fromPosition"/>: first those already committed, then each new one as it
    /// commits, in position order with no gap and no duplicate, until <paramref name="cancellationToken"/> is cancelled.
    /// To resume, subscribe again from the last position seen plus one.
    /// </summary>
    IAsyncEnumerable<RecordedEvent> SubscribeAsync(long fromPosition = 1, CancellationToken cancellationToken = default);

    /// <summary>Recomputes the hash chain over the whole log and reports whether it is intact or where it first breaks.</summary>
    Task<ChainVerification> VerifyChainAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes the bodies of events committed before <paramref name="olderThan"/> (of the given <paramref name="types"/>,
    /// or of every type when null) and keeps everything else, so the chain still verifies. Returns how many bodies were deleted.
    /// A purge that deletes any is recorded in the same transaction as <see cref="AuditEvents.BodiesPurgedEvent"/>, so that
    /// <see cref="AuditVerifier"/> can tell a purged body from one removed behind the store's back.
    /// </summary>
    Task<long> PurgeBodiesAsync(DateTimeOffset olderThan, IReadOnlyCollection<string>? types = null, CancellationToken cancellationToken = default);
}
