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
    private EventStoreFault? _fault;

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

    /// <summary>
    /// Why the store cannot write, since when; null while it can. Set by the writer when a commit fails, and cleared by
    /// its first commit that succeeds: an append, or the small write it tries every
    /// <see cref="SqliteEventStoreOptions.FaultProbeInterval"/> while the fault lasts.
    /// </summary>
    public EventStoreFault? WriteFault => Volatile.Read(ref _fault);

    /// <summary>
    /// Raised on the writer's thread when the store begins to fail to write (with the fault) and when it can again (with
    /// null). A handler must return quickly and not throw: the writer waits for it.
    /// </summary>
    public event Action<EventStoreFault?>? WriteFaultChanged;

    /// <summary>
    /// The writer: the only task that writes. It outlives any failed commit; every request of a commit that fails hears
    /// so (fail closed), and the next commit tries again, on a fresh connection.
    /// </summary>
    private async Task RunWriterAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<AppendRequest>();
        Task<bool>? waiting = null;
        while (true)
        {
            waiting ??= reader.WaitToReadAsync().AsTask();
            if (WriteFault is not null && await Task.WhenAny(waiting, Task.Delay(_faultProbeInterval, _time)).ConfigureAwait(false) != waiting)
            {
                Probe();
                continue;
            }

            if (!await waiting.ConfigureAwait(false))
            {
                return;
            }

            waiting = null;

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

    private void RunExclusive(ExclusiveRequest request)
    {
        if (request.CancellationToken.IsCancellationRequested)
        {
            request.Completion.TrySetCanceled(request.CancellationToken);
            return;
        }

        SqliteTransaction? transaction = null;
        try
        {
            var writer = Writer();
            transaction = writer.BeginTransaction();
            var result = request.Work(writer, transaction);
            transaction.Commit();
            transaction.Dispose();
            Healed();
            request.Completion.TrySetResult(result);
        }
        catch (Exception ex)
        {
            Faulted(transaction, ex);
            request.Completion.TrySetException(new EventStoreException($"the event store {Path} failed: {ex.Message}", ex));
        }
    }

    /// <summary>A write of the store's own, while a fault lasts: when it commits, the fault has cleared.</summary>
    private void Probe()
    {
        SqliteTransaction? transaction = null;
        try
        {
            var writer = Writer();
            transaction = writer.BeginTransaction(deferred: false);
            using var command = writer.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "INSERT INTO write_probe (id, written) VALUES (1, $written) ON CONFLICT (id) DO UPDATE SET written = excluded.written;";
            command.Parameters.AddWithValue("$written", _time.GetUtcNow().UtcTicks);
            command.ExecuteNonQuery();
            transaction.Commit();
            transaction.Dispose();
            Healed();
        }
        catch (Exception ex)
        {
            Faulted(transaction, ex);
        }
    }

    /// <summary>The writing connection, opened again when a fault closed the last one; checked before every commit.</summary>
    private SqliteConnection Writer()
    {
        SharedMemoryGuard.ThrowIfRefused(Path);
        return _writer ??= OpenWriter(_connectionString);
    }

    /// <summary>
    /// After a failed commit: rolls back what is left of it, drops the connection and what the writer believed of the
    /// file (a failed commit can leave either unusable or stale), and records the fault.
    /// </summary>
    private void Faulted(SqliteTransaction? transaction, Exception exception)
    {
        try
        {
            transaction?.Dispose();
        }
        catch (Exception)
        {
            // Rolling back failed too: closing the connection rolls back whatever SQLite kept of the transaction.
        }

        CloseWriter();
        _streamVersions.Clear();
        var began = WriteFault is null;
        var fault = new EventStoreFault(exception.Message, WriteFault?.Since ?? _time.GetUtcNow());
        Volatile.Write(ref _fault, fault);
        if (began)
        {
            WriteFaultChanged?.Invoke(fault);
        }
    }

    private void Healed()
    {
        if (WriteFault is not null)
        {
            Volatile.Write(ref _fault, null);
            WriteFaultChanged?.Invoke(null);
        }
    }

    /// <summary>Closes the writing connection, never throwing: a fault or the store's end may have broken it.</summary>
    private void CloseWriter()
    {
        FinalizeInsert();
        if (_writer is not null && SharedMemoryGuard.Refusal(Path) is not null)
        {
            // Closing writes to the index, which would kill the process now: the connection stays open until it ends.
            Unclosable.Add(_writer);
            _writer = null;
            return;
        }

        try
        {
            _writer?.Dispose();
        }
        catch (Exception)
        {
            // Closing checkpoints the log when it can; it is tried again when the store next opens.
        }

        _writer = null;
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
            transaction = Writer().BeginTransaction(deferred: false);
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
        catch (Exception ex)
        {
            // Fail closed: nothing of this batch is committed (the transaction rolled back), and every caller hears so.
            Faulted(transaction, ex);
            foreach (var request in batch)
            {
                request.Completion.TrySetException(new EventStoreException($"the append to stream '{request.Stream}' was not committed: {ex.Message}", ex));
            }

            batch.Clear();
            return;
        }

        transaction.Dispose();
        Healed();
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
        using var command = transaction.Connection!.CreateCommand();
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

    private static long PurgeBodies(SqliteTransaction transaction, DateTimeOffset olderThan, string[]? types)
    {
        using var command = transaction.Connection!.CreateCommand();
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

        using var command = transaction.Connection!.CreateCommand();
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
        var db = _writer!.Handle!;
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

    /// <summary>Connections that could not be closed safely; held here so that no finalizer closes them either.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentBag<SqliteConnection> Unclosable = [];

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
