namespace Apiary.Events;

/// <summary>Where an append landed: the stream's new version and the global positions of its events.</summary>
/// <param name="StreamVersion">The version of the last appended event, to pass as the next expected version.</param>
/// <param name="FirstPosition">The global position of the first appended event.</param>
/// <param name="LastPosition">The global position of the last appended event.</param>
public sealed record AppendResult(long StreamVersion, long FirstPosition, long LastPosition);
