using System.Text;
using Apiary.Events;
using Apiary.Storage.Sqlite;
using Apiary.Testing;

namespace Apiary.Tests.Events;

/// <summary>A real SQLite log in a temporary home with its audit key in <c>keys/</c>, on a clock the test moves.</summary>
internal sealed class AuditedLog : IAsyncDisposable
{
    private readonly TempDirectory _root = new("apiary-audit");

    private AuditedLog(SqliteEventStore store, AuditKey key)
    {
        Store = store;
        Key = key;
        Files = new AuditFiles(_root.Path);
    }

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ManualClock Clock { get; } = new(new DateTimeOffset(2026, 3, 1, 9, 0, 0, TimeSpan.Zero));

    public string Home => _root.Path;

    public string StorePath => _root["events.db"];

    public AuditFiles Files { get; }

    public SqliteEventStore Store { get; private set; }

    public AuditKey Key { get; }

    public static async Task<AuditedLog> CreateAsync()
    {
        var log = new AuditedLog(null!, AuditKey.Create());
        log.Store = await SqliteEventStore.OpenAsync(log.StorePath, new SqliteEventStoreOptions { TimeProvider = log.Clock }, Ct);
        await log.Files.WriteKeyPairAsync(log.Key, Ct);
        return log;
    }

    public Task<AppendResult> AppendAsync(string type, string data, string? body = null, string stream = "session-1") =>
        Store.AppendAsync(stream, ExpectedVersion.Any, [new EventData(type, Encoding.UTF8.GetBytes(data), body is null ? null : Encoding.UTF8.GetBytes(body))], Ct);

    /// <summary>Appends <paramref name="count"/> plain events, one at a time.</summary>
    public async Task StepsAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await AppendAsync("step", $"{{\"i\":{i}}}");
        }
    }

    /// <summary>For each count: appends that many plain events, then signs a checkpoint. Returns the last checkpoint.</summary>
    public async Task<AuditCheckpoint> CheckpointedStepsAsync(params int[] counts)
    {
        AuditCheckpoint? checkpoint = null;
        foreach (var count in counts)
        {
            await StepsAsync(count);
            checkpoint = await CheckpointAsync();
        }

        return checkpoint!;
    }

    /// <summary>Signs a checkpoint of the log as it is now, as a server does when it stops, and returns it.</summary>
    public async Task<AuditCheckpoint> CheckpointAsync()
    {
        var tail = await AuditVerifier.VerifyTailAsync(Store, Files, Ct);
        Assert.True(tail.IsIntact, string.Join("; ", tail.Problems));
        var checkpointer = Checkpointer(new AuditCheckpointOptions());
        await checkpointer.StartAsync(tail.Tail, anchorNow: true, Ct);
        await checkpointer.DisposeAsync();
        return (await Files.ReadHeadAsync(Ct))!;
    }

    public AuditCheckpointer Checkpointer(AuditCheckpointOptions options, Action<string>? warn = null) =>
        new(Store, Key, Files, options, Clock) { MakeDurable = Store.FlushAsync, Warn = warn };

    public Task<AuditReport> VerifyAsync() => AuditVerifier.VerifyAsync(Store, Files, Ct);

    public async Task<List<RecordedEvent>> ReadAuditStreamAsync()
    {
        var events = new List<RecordedEvent>();
        await foreach (var e in Store.ReadStreamAsync(AuditEvents.Stream, 1, Ct))
        {
            events.Add(e);
        }

        return events;
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        Key.Dispose();
        _root.Dispose();
    }
}
