using System.Threading.Channels;
using Apiary.Events;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Apiary.Storage.Sqlite;

public sealed partial class SqliteEventStore
{
    // Owned by the writer task alone: the stream versions it has seen committed, and the tail of the chain.
    private readonly Dictionary<string, long> _streamVersions = new(StringComparer.Ordinal);
    private long _lastPosition;
    private byte[] _lastHash;
    private sqlite3_stmt? _insert;

    // Read by subscribers: the last committed position, and a signal completed (and replaced) after each commit.
    private long _committedPosition;
    private TaskCompletionSource _commitSignal = NewSignal();

    /// <inheritdoc />
    public async Task<AppendResult> AppendAsync(string stream, ExpectedVersion expectedVersion, IReadOnlyList<EventData> events, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(stream);
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count == 0)
        {
            throw new ArgumentException("an append needs at least one event", nameof(events));
        }

        foreach (var e in events)
        {
            ArgumentNullException.ThrowIfNull(e, nameof(events));
            ArgumentException.ThrowIfNullOrEmpty(e.Type, nameof(events));
        }

        var request = new AppendRequest(stream, expectedVersion, _beforeAppend is { } transform ? [.. events.Select(transform)] : [.. events], cancellationToken);
        await EnqueueAsync(request, cancellationToken).ConfigureAwait(false);

        // Not cancellable once queued: the caller must learn whether its events were committed.
        return await request.Completion.Task.ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The purge is recorded as an <c>audit.bodies-purged</c> event in stream <c>audit</c>, in the same transaction, so that
    /// verification can tell a purged body from one removed behind the store's back. A purge that deletes nothing records
    /// nothing.
    /// </remarks>
    public async Task<long> PurgeBodiesAsync(DateTimeOffset olderThan, IReadOnlyCollection<string>? types = null, CancellationToken cancellationToken = default)
    {
        var typeList = types?.ToArray();
        if (typeList is { Length: 0 })
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return 0;
        }

        long purged = 0;
        var request = new AppendRequest(AuditEvents.Stream, ExpectedVersion.Any, [], cancellationToken)
        {
            Produce = (transaction, timestamp) =>
            {
                purged = PurgeBodies(transaction, olderThan, typeList);
                return purged == 0 ? [] : [AuditEvents.BodiesPurgedEvent(olderThan, typeList, purged, timestamp)];
            },
        };
        await EnqueueAsync(request, cancellationToken).ConfigureAwait(false);
        await request.Completion.Task.ConfigureAwait(false);
        return purged;
    }

    /// <inheritdoc />
    public async Task SaveSnapshotAsync(string name, long position, ReadOnlyMemory<byte> state, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        var bytes = state.ToArray();
        var request = new ExclusiveRequest((connection, transaction) =>
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;

            // An older snapshot never replaces a newer one.
            command.CommandText = """
                INSERT INTO snapshots (name, position, state) VALUES ($name, $position, $state)
                ON CONFLICT (name) DO UPDATE SET position = excluded.position, state = excluded.state
                WHERE excluded.position >= snapshots.position;
                """;
            command.Parameters.AddWithValue("$name", name);
            command.Parameters.AddWithValue("$position", position);
            command.Parameters.AddWithValue("$state", bytes);
            return command.ExecuteNonQuery();
        }, cancellationToken);
        await EnqueueAsync(request, cancellationToken).ConfigureAwait(false);
        await request.Completion.Task.ConfigureAwait(false);
    }

    private async ValueTask EnqueueAsync(WriteRequest request, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        try
        {
            await _queue.Writer.WriteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(SqliteEventStore));
        }
    }

    private async Task RunWriterAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<AppendRequest>();
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                // Group commit: take everything pending, and commit the appends among it together.
                while (reader.TryRead(out var request))
                {
                    if (request is AppendRequest append)
                    {
                        batch.Add(append);
                        if (batch.Count >= _maxBatchSize)
                        {
                            CommitBatch(batch);
                        }
                    }
                    else
                    {
                        CommitBatch(batch);
                        RunExclusive((ExclusiveRequest)request);
                    }
                }

                CommitBatch(batch);
            }
        }
        catch (Exception ex)
        {
            // Unreachable unless there is a bug; fail closed: nobody waits forever or is told an append committed.
            var failure = new EventStoreException("the event store's writer stopped", ex);
            foreach (var request in batch)
            {
                request.Fail(failure);
            }

            _queue.Writer.TryComplete(failure);
            while (reader.TryRead(out var request))
            {
                request.Fail(failure);
            }
        }
    }

    private void RunExclusive(ExclusiveRequest request)
    {
        if (request.CancellationToken.IsCancellationRequested)
        {
            request.Completion.TrySetCanceled(request.CancellationToken);
            return;
        }

        try
        {
            using var transaction = _writer.BeginTransaction();
            var result = request.Work(_writer, transaction);
            transaction.Commit();
            request.Completion.TrySetResult(result);
        }
        catch (SqliteException ex)
        {
            request.Completion.TrySetException(new EventStoreException($"the event store {Path} failed: {ex.Message}", ex));
        }
    }

    private void CommitBatch(List<AppendRequest> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }

        var pendingVersions = new Dictionary<string, long>(StringComparer.Ordinal);
        var accepted = new List<(AppendRequest Request, AppendResult Result)>(batch.Count);
        var rows = new List<Row>();
        var timestamp = _time.GetUtcNow();
        SqliteTransaction? transaction = null;
        try
        {
            // BEGIN IMMEDIATE takes SQLite's write lock first, so the tail read next is the tail this batch extends,
            // even when another process (a second apiary command on the same home) appended since the last batch.
            transaction = _writer.BeginTransaction(deferred: false);
            SyncTail(transaction);
            var position = _lastPosition;
            var previousHash = _lastHash;
            foreach (var request in batch)
            {
                if (request.CancellationToken.IsCancellationRequested)
                {
                    request.Completion.TrySetCanceled(request.CancellationToken);
                    continue;
                }

                var current = pendingVersions.TryGetValue(request.Stream, out var pending) ? pending : CommittedVersion(request.Stream, transaction);
                if (!request.Expected.Accepts(current))
                {
                    // A conflict fails this request alone; the rest of the batch commits.
                    request.Completion.TrySetException(new WrongExpectedVersionException(request.Stream, request.Expected, current));
                    continue;
                }

                // A purge deletes its bodies here, in this transaction, and records itself as the events it returns.
                var events = request.Produce is { } produce ? produce(transaction, timestamp) : request.Events;
                var version = current;
                var first = position + 1;
                foreach (var e in events)
                {
                    position++;
                    version++;
                    var bodyHash = EventChain.HashBody(e.Body);
                    var hash = EventChain.ComputeHash(previousHash, position, request.Stream, version, e.Type, timestamp, e.Data.Span, bodyHash);
                    rows.Add(new Row(position, request.Stream, version, e.Type, e.Data, e.Body, bodyHash, previousHash, hash));
                    previousHash = hash;
                }

                pendingVersions[request.Stream] = version;
                accepted.Add((request, new AppendResult(version, first, position)));
            }

            if (rows.Count > 0)
            {
                Insert(rows, timestamp);
            }

            transaction.Commit();
        }
        catch (SqliteException ex)
        {
            transaction?.Dispose();

            // Fail closed: nothing of this batch is committed (the transaction rolled back), and every caller hears so.
            foreach (var request in batch)
            {
                request.Completion.TrySetException(new EventStoreException($"the append to stream '{request.Stream}' was not committed: {ex.Message}", ex));
            }

            batch.Clear();
            return;
        }

        transaction.Dispose();
        batch.Clear();
        if (rows.Count > 0)
        {
            _lastPosition = rows[^1].Position;
            _lastHash = rows[^1].Hash;
            foreach (var (stream, version) in pendingVersions)
            {
                _streamVersions[stream] = version;
            }

            Volatile.Write(ref _committedPosition, _lastPosition);
            Interlocked.Exchange(ref _commitSignal, NewSignal()).TrySetResult();
        }

        // A purge that deleted nothing is done too, with no event.
        foreach (var (request, result) in accepted)
        {
            request.Completion.TrySetResult(result);
        }
    }

    /// <summary>Reloads the tail (last position and hash) when another process has appended since this one last did.</summary>
    private void SyncTail(SqliteTransaction transaction)
    {
        using var command = _writer.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1;";
        using var reader = command.ExecuteReader();
        var (position, hash) = reader.Read() ? (reader.GetInt64(0), (byte[])reader.GetValue(1)) : (0L, EventChain.ZeroHash.ToArray());
        if (position != _lastPosition)
        {
            _lastPosition = position;
            _lastHash = hash;
            _streamVersions.Clear();
        }
    }

    private long PurgeBodies(SqliteTransaction transaction, DateTimeOffset olderThan, string[]? types)
    {
        using var command = _writer.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "UPDATE events SET body = NULL WHERE body IS NOT NULL AND timestamp < $before";
        command.Parameters.AddWithValue("$before", olderThan.UtcTicks);
        if (types is not null)
        {
            var names = new List<string>();
            for (var i = 0; i < types.Length; i++)
            {
                names.Add($"$type{i}");
                command.Parameters.AddWithValue($"$type{i}", types[i]);
            }

            command.CommandText += $" AND type IN ({string.Join(", ", names)})";
        }

        return command.ExecuteNonQuery();
    }

    private long CommittedVersion(string stream, SqliteTransaction transaction)
    {
        if (_streamVersions.TryGetValue(stream, out var version))
        {
            return version;
        }

        using var command = _writer.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = $stream;";
        command.Parameters.AddWithValue("$stream", stream);
        version = (long)command.ExecuteScalar()!;
        _streamVersions[stream] = version;
        return version;
    }

    /// <summary>
    /// Inserts the batch's rows with one prepared statement bound through SQLite's own API: the appends' hot loop, where
    /// the ADO.NET layer's per-execution bookkeeping cost more than SQLite's work.
    /// </summary>
    private void Insert(List<Row> rows, DateTimeOffset timestamp)
    {
        var db = _writer.Handle!;
        if (_insert is null)
        {
            Check(raw.sqlite3_prepare_v2(db, """
                INSERT INTO events (position, stream, version, type, timestamp, data, body, body_hash, previous_hash, hash)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10);
                """, out var statement), db);
            _insert = statement;
        }

        var insert = _insert;
        foreach (var row in rows)
        {
            try
            {
                Check(raw.sqlite3_bind_int64(insert, 1, row.Position), db);
                Check(raw.sqlite3_bind_text(insert, 2, row.Stream), db);
                Check(raw.sqlite3_bind_int64(insert, 3, row.Version), db);
                Check(raw.sqlite3_bind_text(insert, 4, row.Type), db);
                Check(raw.sqlite3_bind_int64(insert, 5, timestamp.UtcTicks), db);
                Check(raw.sqlite3_bind_blob(insert, 6, row.Data.Span), db);
                Check(row.Body is { } body ? raw.sqlite3_bind_blob(insert, 7, body.Span) : raw.sqlite3_bind_null(insert, 7), db);
                Check(raw.sqlite3_bind_blob(insert, 8, row.BodyHash), db);
                Check(raw.sqlite3_bind_blob(insert, 9, row.PreviousHash), db);
                Check(raw.sqlite3_bind_blob(insert, 10, row.Hash), db);
                var result = raw.sqlite3_step(insert);
                if (result != raw.SQLITE_DONE)
                {
                    Check(result, db);
                }
            }
            finally
            {
                raw.sqlite3_reset(insert);
                raw.sqlite3_clear_bindings(insert);
            }
        }
    }

    private void FinalizeInsert()
    {
        _insert?.Dispose();
        _insert = null;
    }

    private static void Check(int result, sqlite3 db)
    {
        if (result != raw.SQLITE_OK)
        {
            throw new SqliteException(raw.sqlite3_errmsg(db).utf8_to_string(), result);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed record Row(long Position, string Stream, long Version, string Type, ReadOnlyMemory<byte> Data, ReadOnlyMemory<byte>? Body, byte[] BodyHash, byte[] PreviousHash, byte[] Hash);

    private abstract class WriteRequest(CancellationToken cancellationToken)
    {
        public CancellationToken CancellationToken { get; } = cancellationToken;

        public abstract void Fail(Exception exception);
    }

    private sealed class AppendRequest(string stream, ExpectedVersion expected, EventData[] events, CancellationToken cancellationToken)
        : WriteRequest(cancellationToken)
    {
        public string Stream { get; } = stream;

        public ExpectedVersion Expected { get; } = expected;

        public EventData[] Events { get; } = events;

        /// <summary>Makes the events inside the batch's transaction, instead of <see cref="Events"/>; none is allowed.</summary>
        public Func<SqliteTransaction, DateTimeOffset, EventData[]>? Produce { get; init; }

        public TaskCompletionSource<AppendResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Fail(Exception exception) => Completion.TrySetException(exception);
    }

    private sealed class ExclusiveRequest(Func<SqliteConnection, SqliteTransaction, long> work, CancellationToken cancellationToken = default)
        : WriteRequest(cancellationToken)
    {
        public Func<SqliteConnection, SqliteTransaction, long> Work { get; } = work;

        public TaskCompletionSource<long> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Fail(Exception exception) => Completion.TrySetException(exception);
    }
}
