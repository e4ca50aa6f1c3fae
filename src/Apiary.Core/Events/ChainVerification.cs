namespace Apiary.Events;

/// <summary>What checking the hash chain found: intact, or the first broken link and why.</summary>
/// <param name="EventCount">How many events were checked (up to and including the broken one).</param>
/// <param name="BrokenPosition">The position of the first event that breaks the chain, or null when it is intact.</param>
/// <param name="Reason">Why that event breaks the chain, or null when it is intact.</param>
public sealed record ChainVerification(long EventCount, long? BrokenPosition, string? Reason)
{
    /// <summary>True when every event's hash matches its content and its predecessor.</summary>
    public bool IsIntact => BrokenPosition is null;

    /// <summary>An intact chain of <paramref name="eventCount"/> events.</summary>
    public static ChainVerification Intact(long eventCount) => new(eventCount, null, null);

    /// <summary>A chain broken at <paramref name="position"/> for <paramref name="reason"/>.</summary>
    public static ChainVerification Broken(long eventCount, long position, string reason) => new(eventCount, position, reason);
}
