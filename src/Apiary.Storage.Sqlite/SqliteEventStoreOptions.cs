using Apiary.Events;

namespace Apiary.Storage.Sqlite;

/// <summary>How a <see cref="SqliteEventStore"/> runs. The defaults suit one Apiary node.</summary>
public sealed class SqliteEventStoreOptions
{
    /// <summary>The clock that stamps events. Default: <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>How many append requests may wait for the writer before appenders wait for room. Default: 4096.</summary>
    public int QueueCapacity { get; init; } = 4096;

    /// <summary>The most append requests one transaction commits together. Default: 1024.</summary>
    public int MaxBatchSize { get; init; } = 1024;

    /// <summary>
    /// How long a statement waits for a lock held by another process (such as the <c>sqlite3</c> shell) before it fails.
    /// Rounded up to whole seconds, at least 1; default: 5 seconds.
    /// </summary>
    public TimeSpan BusyTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How often, at most, committed pages are copied from the write-ahead log into the database file while appends
    /// arrive. Longer intervals let the log grow larger between checkpoints. Default: 500 milliseconds.
    /// </summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// While a write fault lasts (a full disk, an I/O error, a locked or read-only file), how often the writer tries a
    /// small write of its own, so that the store reports itself healthy again as soon as the fault clears even when
    /// nothing is appended. Default: 2 seconds.
    /// </summary>
    public TimeSpan FaultProbeInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Applied to every event as it is appended, before it is hashed and written (the server keeps secrets out of the
    /// log with it). None when null.
    /// </summary>
    public Func<EventData, EventData>? BeforeAppend { get; init; }

    internal void Validate()
    {
        if (CheckpointInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(CheckpointInterval), CheckpointInterval, "CheckpointInterval must be positive; the default is 500 milliseconds.");
        }

        if (FaultProbeInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(FaultProbeInterval), FaultProbeInterval, "FaultProbeInterval must be positive; the default is 2 seconds.");
        }

        // Zero would mean "wait forever" to Microsoft.Data.Sqlite, which would hang appends behind a stuck lock.
        if (BusyTimeout < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(BusyTimeout), BusyTimeout, "BusyTimeout must be at least 1 second; the default is 5 seconds.");
        }

        ArgumentNullException.ThrowIfNull(TimeProvider);
        if (QueueCapacity < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(QueueCapacity), QueueCapacity, "QueueCapacity must be at least 1; the default is 4096.");
        }

        if (MaxBatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBatchSize), MaxBatchSize, "MaxBatchSize must be at least 1; the default is 1024.");
        }
    }
}
