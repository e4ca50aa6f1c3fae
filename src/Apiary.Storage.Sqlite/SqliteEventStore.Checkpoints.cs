using Microsoft.Data.Sqlite;

namespace Apiary.Storage.Sqlite;

public sealed partial class SqliteEventStore
{
    /// <summary>Raised after a passive checkpoint, with the position it covered; tests wait on it.</summary>
    internal event Action<long>? Checkpointed;

    /// <summary>
    /// Copies committed WAL pages into the database file, off the writer's path. SQLite's automatic checkpoint would run
    /// inside a commit and make that commit wait for the database file's fsync; the writer's connection turns it off, and
    /// this task runs a passive checkpoint (which never blocks readers or the writer) at most once per interval while
    /// appends arrive. Closing the store's last connection checkpoints what is left.
    /// </summary>
    private async Task RunCheckpointerAsync(CancellationToken stopping)
    {
        using var connection = new SqliteConnection(_connectionString);
        try
        {
            connection.Open();
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
                using var command = connection.CreateCommand();
                command.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
                try
                {
                    command.ExecuteNonQuery();
                    Checkpointed?.Invoke(checkpointed);
                }
                catch (SqliteException)
                {
                    // Busy or locked by another process: the next interval tries again; nothing committed depends on it.
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }
}
