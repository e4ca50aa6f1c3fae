using Apiary.Events;
using Microsoft.Data.Sqlite;

namespace Apiary.Storage.Sqlite;

public sealed partial class SqliteEventStore
{
    /// <summary>
    /// How many bodies <see cref="PurgeBodiesAsync"/> would delete for <paramref name="olderThan"/> and every type: the
    /// events committed before it that still have a body. Reads only, on a connection of its own.
    /// </summary>
    /// <exception cref="EventStoreException">The store cannot be read.</exception>
    public async Task<long> CountBodiesAsync(DateTimeOffset olderThan, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        try
        {
            await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();

            // The same condition as the purge, so the partial index events_bodies_by_time answers it.
            command.CommandText = "SELECT COUNT(*) FROM events WHERE body IS NOT NULL AND timestamp < $before;";
            command.Parameters.AddWithValue("$before", olderThan.UtcTicks);
            return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
        catch (SqliteException ex)
        {
            throw new EventStoreException($"cannot read the event store {Path}: {ex.Message}", ex);
        }
    }
}
