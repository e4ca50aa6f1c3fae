using Apiary.Events;
using Microsoft.Data.Sqlite;

namespace Apiary.Storage.Sqlite;

public sealed partial class SqliteEventStore
{
    /// <summary>Raised after a passive checkpoint, with the position it covered; tests wait on it.</summary>
    internal event Action<long>? Checkpointed;

    /// <summary>
    /// Makes every event committed so far durable, so that a power loss cannot take it back: a full checkpoint of the
    /// write-ahead log, which syncs the log and the database file to disk. Appends wait while it runs; an audit checkpoint
    /// runs it before it signs a position outside the log.
    /// </summary>
    /// <exception cref="EventStoreException">The store cannot be reached.</exception>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        try
        {
            await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();

            // A reader of an older snapshot can keep it from finishing within the busy timeout; the log is synced anyway
            // as far as it got, and the commits before are as durable as the next passive checkpoint makes them.
            command.CommandText = "PRAGMA wal_checkpoint(FULL);";
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException ex)
        {
            throw new EventStoreException($"cannot flush the event store {Path}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Copies committed WAL pages into the database file, off the writer's path. SQLite's automatic checkpoint would run
    /// inside a commit and make that commit wait for the database file's fsync; the writer's connection turns it off, and
    /// this task runs a passive checkpoint (which never blocks readers or the writer) at most once per interval while
    /// appends arrive. Closing the store's last connection checkpoints what is left.
    /// </summary>
    private async Task RunCheckpointerAsync(CancellationToken stopping)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            var checkpointed = Volatile.Read(ref _committedPosition);
            while (!stopping.IsCancellationRequested)
            {
                // Wait for a commit after the last checkpoint, then for the interval, so a quiet store costs nothing.
                // The signal is taken before the position is read, so a commit in between is never missed.
                var signal = Volatile.Read(ref _commitSignal).Task;
                if (Volatile.Read(ref _committedPosition) == checkpointed)
                {
                    await signal.WaitAsync(stopping).ConfigureAwait(false);
                    continue;
                }

                await Task.Delay(_checkpointInterval, stopping).ConfigureAwait(false);
                checkpointed = Volatile.Read(ref _committedPosition);
                if (SharedMemoryGuard.Refusal(Path) is not null)
                {
                    // The writer reports it; checkpointing would touch the index too.
                    continue;
                }

                try
                {
                    // Opened at the first checkpoint, and again after a fault closed it.
                    if (connection.State != System.Data.ConnectionState.Open)
                    {
                        connection.Open();
                    }

                    using var command = connection.CreateCommand();
                    command.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
                    command.ExecuteNonQuery();
                    Checkpointed?.Invoke(checkpointed);
                }
                catch (SqliteException)
                {
                    // Busy or locked by another process, or the file cannot be written now: the next interval tries again;
                    // nothing committed depends on it.
                    connection.Close();
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        finally
        {
            if (connection.State == System.Data.ConnectionState.Open && SharedMemoryGuard.Refusal(Path) is not null)
            {
                Unclosable.Add(connection);
            }
            else
            {
                connection.Dispose();
            }
        }
    }
}
