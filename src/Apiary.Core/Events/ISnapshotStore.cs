namespace Apiary.Events;

/// <summary>The folded state of a named projection as of a global position: what a replay can start from.</summary>
/// <param name="Name">The projection's name.</param>
/// <param name="Position">The position of the last event folded into <paramref name="State"/>.</param>
/// <param name="State">The serialized state.</param>
public sealed record Snapshot(string Name, long Position, ReadOnlyMemory<byte> State);

/// <summary>Keeps the latest snapshot of each projection. Snapshots hold folded state, never copies of events.</summary>
public interface ISnapshotStore
{
    /// <summary>Saves <paramref name="state"/> as projection <paramref name="name"/>'s latest snapshot at <paramref name="position"/>.</summary>
    Task SaveSnapshotAsync(string name, long position, ReadOnlyMemory<byte> state, CancellationToken cancellationToken = default);

    /// <summary>Projection <paramref name="name"/>'s latest snapshot, or null when it has none.</summary>
    Task<Snapshot?> LoadSnapshotAsync(string name, CancellationToken cancellationToken = default);
}
