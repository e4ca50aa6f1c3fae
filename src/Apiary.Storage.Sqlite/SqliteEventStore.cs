using System.Threading.Channels;
using Apiary.Events;
using Apiary.IO;
using Microsoft.Data.Sqlite;

namespace Apiary.Storage.Sqlite;

/// <summary>
/// The embedded event store: events and snapshots in one SQLite file in WAL mode with <c>synchronous=NORMAL</c>. One
/// writer task owns the only writing connection and commits every pending append in one transaction (group commit);
/// readers use connections of their own and never block it. A committed append survives the process being killed.
/// </summary>
public sealed partial class SqliteEventStore : IEventStore, ISnapshotStore, IAsyncDisposable
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS events (
            position      INTEGER PRIMARY KEY,
            stream        TEXT    NOT NULL,
            version       INTEGER NOT NULL,
            type          TEXT    NOT NULL,
            timestamp     INTEGER NOT NULL,
            data          BLOB    NOT NULL,
            body          BLOB,
            body_hash     BLOB    NOT NULL,
            previous_hash BLOB    NOT NULL,
            hash          BLOB    NOT NULL,
            UNIQUE (stream, version)
        );
        CREATE INDEX IF NOT EXISTS events_bodies_by_time ON events (timestamp) WHERE body IS NOT NULL;
        CREATE TABLE IF NOT EXISTS snapshots (
            name     TEXT    PRIMARY KEY,
            position INTEGER NOT NULL,
            state    BLOB    NOT NULL
        );
        CREATE TABLE IF NOT EXISTS write_probe (
            id      INTEGER PRIMARY KEY CHECK (id = 1),
            written INTEGER NOT NULL
        );
        """;

    private readonly string _connectionString;
    private SqliteConnection? _writer;
    private readonly Channel<WriteRequest> _queue;
    private readonly TimeProvider _time;
    private readonly int _maxBatchSize;
    private readonly Task _writerTask;
    private readonly TimeSpan _checkpointInterval;
    private readonly TimeSpan _faultProbeInterval;
    private readonly Func<EventData, EventData>? _beforeAppend;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _checkpointerTask;
    private int _disposed;

    private SqliteEventStore(string path, string connectionString, SqliteConnection writer, SqliteEventStoreOptions options, long lastPosition, byte[] lastHash)
    {
        _beforeAppend = options.BeforeAppend;
        Path = path;
        _connectionString = connectionString;
        _writer = writer;
        _time = options.TimeProvider;
        _maxBatchSize = options.MaxBatchSize;
        _lastPosition = lastPosition;
        _lastHash = lastHash;
        _committedPosition = lastPosition;

        // When the queue is full, appenders wait for room: back-pressure rather than unbounded memory or dropped events.
        _queue = Channel.CreateBounded<WriteRequest>(new BoundedChannelOptions(options.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        _writerTask = Task.Run(RunWriterAsync);
        _faultProbeInterval = options.FaultProbeInterval;
        _checkpointInterval = options.CheckpointInterval;
        _checkpointerTask = Task.Run(() => RunCheckpointerAsync(_stopping.Token));
    }

    /// <summary>The SQLite file.</summary>
    public string Path { get; }

    /// <summary>Opens the store in <paramref name="path"/>, creating the file and its schema when they do not exist.</summary>
    /// <exception cref="EventStoreException">The file cannot be opened or is not an event store.</exception>
    public static Task<SqliteEventStore> OpenAsync(string path, SqliteEventStoreOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new SqliteEventStoreOptions();
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        SqliteRuntime.EnsureInitialized();

        var fullPath = System.IO.Path.GetFullPath(path);
        CreateOwnerOnly(fullPath);
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            DefaultTimeout = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds),

            // Unpooled, so that disposing the store really closes the file.
            Pooling = false,
        }.ToString();

        SqliteConnection? writer = null;
        try
        {
            SharedMemoryGuard.ThrowIfRefused(fullPath);
            writer = OpenWriter(connectionString);
            Execute(writer, Schema);
            long lastPosition = 0;
            var lastHash = EventChain.ZeroHash.ToArray();
            using (var command = writer.CreateCommand())
            {
                command.CommandText = "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1;";
                using var reader = command.ExecuteReader();
                if (reader.Read())
                {
                    lastPosition = reader.GetInt64(0);
                    lastHash = (byte[])reader.GetValue(1);
                }
            }

            return Task.FromResult(new SqliteEventStore(fullPath, connectionString, writer, options, lastPosition, lastHash));
        }
        catch (SqliteException ex)
        {
            writer?.Dispose();
            throw new EventStoreException($"cannot open the event store {fullPath}: {ex.Message}", ex);
        }
        catch
        {
            writer?.Dispose();
            throw;
        }
    }

    /// <summary>Opens the writing connection: at the start, and again after a write fault left the last one unusable.</summary>
    private static SqliteConnection OpenWriter(string connectionString)
    {
        var writer = new SqliteConnection(connectionString);
        try
        {
            writer.Open();
            Execute(writer, "PRAGMA journal_mode=WAL;");
            Execute(writer, "PRAGMA synchronous=NORMAL;");

            // Checkpoints run on a connection of their own (see RunCheckpointerAsync), never inside a commit.
            Execute(writer, "PRAGMA wal_autocheckpoint=0;");
            return writer;
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Makes the log readable by its owner only, from its first byte: SQLite creates a database with mode 0644 and its
    /// -wal and -shm with the database's mode, so the database is created first, empty (a new database to SQLite), with
    /// mode 0600; files an older version left looser are tightened.
    /// </summary>
    private static void CreateOwnerOnly(string fullPath)
    {
        try
        {
            OwnerOnly.Open(fullPath).Dispose();
        }
        catch (IOException) when (File.Exists(fullPath))
        {
            // It exists already.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new EventStoreException($"cannot open the event store {fullPath}: {ex.Message}", ex);
        }

        foreach (var file in new[] { fullPath, fullPath + "-wal", fullPath + "-shm" })
        {
            try
            {
                OwnerOnly.Tighten(file);
            }
            catch (Exception ex) when (ex is FileNotFoundException or UnauthorizedAccessException)
            {
                // Not there (yet), or another user's file, whose mode is that user's to set.
            }
        }
    }

    /// <summary>Stops taking appends, commits those already queued, and closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _queue.Writer.TryComplete();
        await _writerTask.ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _checkpointerTask.ConfigureAwait(false);
        _stopping.Dispose();
        CloseWriter();

        // Wake subscribers so that they notice the store is gone and end.
        Interlocked.Exchange(ref _commitSignal, NewSignal()).TrySetResult();
    }

    private bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}

/// <summary>Initializes the bundled SQLite library once per process.</summary>
internal static class SqliteRuntime
{
    static SqliteRuntime() => SQLitePCL.Batteries_V2.Init();

    /// <summary>Runs the static constructor, if it has not run yet.</summary>
    public static void EnsureInitialized()
    {
    }
}
