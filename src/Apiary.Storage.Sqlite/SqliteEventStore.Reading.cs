using System.Runtime.CompilerServices;
using Apiary.Events;
using Microsoft.Data.Sqlite;

namespace Apiary.Storage.Sqlite;

public sealed partial class SqliteEventStore
{
    // Reads go page by page, so no read transaction stays open while a slow consumer looks at an event.
    private const int PageSize = 512;

    private const string Columns = "position, stream, version, type, timestamp, data, body, body_hash, previous_hash, hash";

    /// <inheritdoc />
    public IAsyncEnumerable<RecordedEvent> ReadStreamAsync(string stream, long fromVersion = 1, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(stream);
        ArgumentOutOfRangeException.ThrowIfLessThan(fromVersion, 1);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return ReadStreamCoreAsync(stream, fromVersion, cancellationToken);
    }

    /// <inheritdoc />
    public IAsyncEnumerable<RecordedEvent> ReadAllAsync(long fromPosition = 1, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fromPosition, 1);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return ReadAllCoreAsync(fromPosition, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>New commits are noticed when this store committed them; appends by another process are not waited for.</remarks>
    public IAsyncEnumerable<RecordedEvent> SubscribeAsync(long fromPosition = 1, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fromPosition, 1);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return SubscribeCoreAsync(fromPosition, cancellationToken);
    }

    /// <summary>
    /// The events of <paramref name="type"/> whose data contains <paramref name="text"/> (its UTF-8 bytes; any when
    /// null), in order: how a record is found by an id it carries (a proposal's decision by the proposal's id) without
    /// reading and parsing the whole log.
    /// </summary>
    public async Task<IReadOnlyList<RecordedEvent>> FindAsync(string type, string? text = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(type);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        var needle = System.Text.Encoding.UTF8.GetBytes(text ?? "");
        var found = new List<RecordedEvent>();
        var from = 1L;
        while (true)
        {
            var page = await ReadPageAsync(
                $"SELECT {Columns} FROM events WHERE type = $type AND instr(data, $text) > 0 AND position >= $from ORDER BY position LIMIT {PageSize};",
                command =>
                {
                    command.Parameters.AddWithValue("$type", type);
                    command.Parameters.AddWithValue("$text", needle);
                },
                from,
                cancellationToken).ConfigureAwait(false);
            found.AddRange(page);
            if (page.Count < PageSize)
            {
                return found;
            }

            from = page[^1].Position + 1;
        }
    }

    /// <summary>The position of the newest committed event in the file (by any process), or 0 when there is none.</summary>
    public async Task<long> LastPositionAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COALESCE(MAX(position), 0) FROM events;";
        return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <inheritdoc />
    public Task<ChainVerification> VerifyChainAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return EventChain.VerifyAsync(ReadAllCoreAsync(1, cancellationToken), cancellationToken);
    }

    /// <inheritdoc />
    public async Task<Snapshot?> LoadSnapshotAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT position, state FROM snapshots WHERE name = $name;";
        command.Parameters.AddWithValue("$name", name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? new Snapshot(name, reader.GetInt64(0), (byte[])reader.GetValue(1))
            : null;
    }

    private IAsyncEnumerable<RecordedEvent> ReadStreamCoreAsync(string stream, long fromVersion, CancellationToken cancellationToken) =>
        PagesAsync(
            fromVersion,
            (from, ct) => ReadPageAsync(
                $"SELECT {Columns} FROM events WHERE stream = $stream AND version >= $from ORDER BY version LIMIT {PageSize};",
                command => command.Parameters.AddWithValue("$stream", stream),
                from,
                ct),
            last => last.StreamVersion + 1,
            cancellationToken);

    private IAsyncEnumerable<RecordedEvent> ReadAllCoreAsync(long fromPosition, CancellationToken cancellationToken) =>
        PagesAsync(fromPosition, ReadAllPageAsync, last => last.Position + 1, cancellationToken);

    /// <summary>Every event of the pages <paramref name="readPage"/> reads, each from after the last of the one before, to the first short page.</summary>
    private static async IAsyncEnumerable<RecordedEvent> PagesAsync(
        long from, Func<long, CancellationToken, Task<List<RecordedEvent>>> readPage, Func<RecordedEvent, long> after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (true)
        {
            var page = await readPage(from, cancellationToken).ConfigureAwait(false);
            foreach (var e in page)
            {
                yield return e;
            }

            if (page.Count < PageSize)
            {
                yield break;
            }

            from = after(page[^1]);
        }
    }

    private async IAsyncEnumerable<RecordedEvent> SubscribeCoreAsync(long fromPosition, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var next = fromPosition;
        while (!IsDisposed)
        {
            // Take the signal before reading, so a commit that lands after the read still wakes us.
            var signal = Volatile.Read(ref _commitSignal).Task;
            List<RecordedEvent> page;
            try
            {
                page = await ReadAllPageAsync(next, cancellationToken).ConfigureAwait(false);
            }
            catch (EventStoreException) when (!IsDisposed)
            {
                // A fault (a file made unusable for a while) pauses a subscriber; it does not end it: it looks again.
                await Task.Delay(CrossProcessPollInterval, cancellationToken).ConfigureAwait(false);
                continue;
            }

            foreach (var e in page)
            {
                yield return e;
                next = e.Position + 1;
            }

            if (page.Count == PageSize || Volatile.Read(ref _committedPosition) >= next)
            {
                continue;
            }

            // A commit in this process wakes us at once; one by another process on the same file (a second apiary
            // command) is found by the next look, a moment later.
            await Task.WhenAny(signal, Task.Delay(CrossProcessPollInterval, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>How often a caught-up subscriber looks for commits made by other processes.</summary>
    private static readonly TimeSpan CrossProcessPollInterval = TimeSpan.FromMilliseconds(200);

    private Task<List<RecordedEvent>> ReadAllPageAsync(long fromPosition, CancellationToken cancellationToken) =>
        ReadPageAsync($"SELECT {Columns} FROM events WHERE position >= $from ORDER BY position LIMIT {PageSize};", null, fromPosition, cancellationToken);

    private async Task<List<RecordedEvent>> ReadPageAsync(string sql, Action<SqliteCommand>? bind, long from, CancellationToken cancellationToken)
    {
        var page = new List<RecordedEvent>();
        try
        {
            await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddWithValue("$from", from);
            bind?.Invoke(command);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                page.Add(new RecordedEvent(
                    reader.GetInt64(0),
                    reader.GetString(1),
                    reader.GetInt64(2),
                    reader.GetString(3),
                    new DateTimeOffset(reader.GetInt64(4), TimeSpan.Zero),
                    Blob(reader, 5),
                    reader.IsDBNull(6) ? null : (ReadOnlyMemory<byte>?)Blob(reader, 6),
                    Blob(reader, 7),
                    Blob(reader, 8),
                    Blob(reader, 9)));
            }
        }
        catch (SqliteException ex)
        {
            throw new EventStoreException($"cannot read the event store {Path}: {ex.Message}", ex);
        }

        return page;
    }

    private async Task<SqliteConnection> OpenReaderAsync(CancellationToken cancellationToken)
    {
        SharedMemoryGuard.ThrowIfRefused(Path);
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // A value edited by hand may have become TEXT; read it as its bytes so verification can report it.
    private static byte[] Blob(SqliteDataReader reader, int ordinal) => reader.GetValue(ordinal) switch
    {
        byte[] bytes => bytes,
        string text => System.Text.Encoding.UTF8.GetBytes(text),
        var other => System.Text.Encoding.UTF8.GetBytes(Convert.ToString(other, System.Globalization.CultureInfo.InvariantCulture) ?? ""),
    };
}
