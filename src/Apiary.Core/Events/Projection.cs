namespace Apiary.Events;

/// <summary>A projection's state and the position of the last event folded into it.</summary>
/// <param name="State">The folded state.</param>
/// <param name="Position">The last position folded, 0 when none.</param>
/// <typeparam name="TState">The state type.</typeparam>
public sealed record ProjectionResult<TState>(TState State, long Position);

/// <summary>
/// Folds the global log into a <typeparamref name="TState"/>. <see cref="CatchUpAsync"/> starts from the latest
/// snapshot, replays only the events after it, and saves a new snapshot every <see cref="SnapshotEvery"/> events.
/// </summary>
/// <typeparam name="TState">The folded state; treated as a value, never mutated after <see cref="Apply"/> returns it.</typeparam>
public abstract class Projection<TState>
{
    private readonly int _snapshotEvery;

    /// <summary>Creates a projection that snapshots every <paramref name="snapshotEvery"/> events.</summary>
    protected Projection(int snapshotEvery = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(snapshotEvery, 1);
        _snapshotEvery = snapshotEvery;
    }

    /// <summary>The name snapshots are saved under; change it when the state's shape changes.</summary>
    public abstract string Name { get; }

    /// <summary>How many events are folded between two snapshots.</summary>
    public int SnapshotEvery => _snapshotEvery;

    /// <summary>The state before any event.</summary>
    public abstract TState Initial { get; }

    /// <summary>The state after <paramref name="e"/>.</summary>
    public abstract TState Apply(TState state, RecordedEvent e);

    /// <summary>The bytes a snapshot stores for <paramref name="state"/>.</summary>
    public abstract byte[] Serialize(TState state);

    /// <summary>The state a snapshot's bytes stand for.</summary>
    public abstract TState Deserialize(ReadOnlyMemory<byte> bytes);

    /// <summary>
    /// The state as of the last committed event: the latest snapshot (or <see cref="Initial"/>) plus the tail of the log
    /// after it, saving a snapshot every <see cref="SnapshotEvery"/> events along the way.
    /// </summary>
    public async Task<ProjectionResult<TState>> CatchUpAsync(IEventStore events, ISnapshotStore snapshots, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(snapshots);
        var snapshot = await snapshots.LoadSnapshotAsync(Name, cancellationToken).ConfigureAwait(false);
        var state = snapshot is null ? Initial : Deserialize(snapshot.State);
        var position = snapshot?.Position ?? 0;
        var snapshotPosition = position;
        await foreach (var e in events.ReadAllAsync(position + 1, cancellationToken).ConfigureAwait(false))
        {
            state = Apply(state, e);
            position = e.Position;
            if (position - snapshotPosition >= _snapshotEvery)
            {
                await snapshots.SaveSnapshotAsync(Name, position, Serialize(state), cancellationToken).ConfigureAwait(false);
                snapshotPosition = position;
            }
        }

        return new ProjectionResult<TState>(state, position);
    }
}
