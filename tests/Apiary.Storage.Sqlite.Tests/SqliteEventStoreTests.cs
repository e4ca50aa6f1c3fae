using System.Diagnostics;
using System.Globalization;
using System.Text;
using Apiary.Events;
using Apiary.Testing;

namespace Apiary.Storage.Sqlite.Tests;

/// <summary>The conformance suite on real SQLite files, plus what only SQLite has: reopening, crashes and group commit.</summary>
public sealed class SqliteEventStoreTests : EventStoreConformance
{
    private readonly TempDirectory _folder = new("apiary-events");
    private int _files;

    protected override async Task<EventStoreUnderTest> CreateStoreAsync(TimeProvider timeProvider)
    {
        var store = await SqliteEventStore.OpenAsync(NextFile(), new SqliteEventStoreOptions { TimeProvider = timeProvider }, Ct);
        return new EventStoreUnderTest(store, store, store);
    }

    protected override async Task TamperWithDataAsync(EventStoreUnderTest store, long position, string newData)
    {
        var path = ((SqliteEventStore)store.Events).Path;
        var escaped = newData.Replace("'", "''", StringComparison.Ordinal);
        await Sqlite3Async(path, $"UPDATE events SET data = CAST('{escaped}' AS BLOB) WHERE position = {position};");
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _folder.Dispose();
    }

    private string NextFile() => _folder[$"events-{Interlocked.Increment(ref _files)}.db"];

    [Fact]
    public async Task Open_ANewStore_TheDatabaseAndItsWalAndShmAreOwnerOnly()
    {
        var path = NextFile();
        await using var store = await SqliteEventStore.OpenAsync(path, cancellationToken: Ct);
        await store.AppendAsync("system", ExpectedVersion.Any, [Event("a", "{}")], Ct);

        foreach (var file in new[] { path, path + "-wal", path + "-shm" })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
    }

    [Fact]
    public async Task Open_AStoreLeftReadableByOthers_IsTightened()
    {
        var path = NextFile();
        await (await SqliteEventStore.OpenAsync(path, cancellationToken: Ct)).DisposeAsync();
        File.SetUnixFileMode(path, (UnixFileMode)0b_110_110_110);

        await using var store = await SqliteEventStore.OpenAsync(path, cancellationToken: Ct);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path + "-wal"));
    }

    [Fact]
    public async Task Open_Reopened_ContinuesPositionsVersionsAndChain()
    {
        var path = NextFile();
        await using (var first = await SqliteEventStore.OpenAsync(path, cancellationToken: Ct))
        {
            await first.AppendAsync("agent-alice", ExpectedVersion.NoStream, [Event("a", "{}"), Event("b", "{}", "body")], Ct);
        }

        await using var second = await SqliteEventStore.OpenAsync(path, cancellationToken: Ct);
        await Assert.ThrowsAsync<WrongExpectedVersionException>(() => second.AppendAsync("agent-alice", ExpectedVersion.NoStream, [Event("c", "{}")], Ct));
        Assert.Equal(new AppendResult(3, 3, 3), await second.AppendAsync("agent-alice", ExpectedVersion.Exactly(2), [Event("c", "{}")], Ct));
        Assert.Equal(ChainVerification.Intact(3), await second.VerifyChainAsync(Ct));
    }

    [Fact]
    public async Task Append_TwoWritersOnOneFile_ChainAndVersionsStayRightAndSubscribersSeeBoth()
    {
        // Two stores on one file stand for two apiary processes on one home: each writer must extend the real tail.
        var path = NextFile();
        await using var a = await SqliteEventStore.OpenAsync(path, cancellationToken: Ct);
        await using var b = await SqliteEventStore.OpenAsync(path, cancellationToken: Ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var seen = new List<long>();
        var watched = Task.Run(async () =>
        {
            await foreach (var e in a.SubscribeAsync(1, stop.Token))
            {
                seen.Add(e.Position);
                if (seen.Count == 40)
                {
                    return;
                }
            }
        }, Ct);

        for (var i = 0; i < 10; i++)
        {
            await a.AppendAsync("shared", ExpectedVersion.Any, [Event("from-a", "{}"), Event("from-a", "{}")], Ct);
            await b.AppendAsync("shared", ExpectedVersion.Any, [Event("from-b", "{}"), Event("from-b", "{}")], Ct);
        }

        await watched.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), seen);
        Assert.Equal(ChainVerification.Intact(40), await b.VerifyChainAsync(Ct));
        var versions = new List<long>();
        await foreach (var e in a.ReadStreamAsync("shared", 1, Ct))
        {
            versions.Add(e.StreamVersion);
        }

        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), versions);
        await Assert.ThrowsAsync<WrongExpectedVersionException>(() => a.AppendAsync("shared", ExpectedVersion.Exactly(38), [Event("stale", "{}")], Ct));
    }

    [Fact]
    public async Task Open_Pragmas_WalAndSynchronousNormal()
    {
        var path = NextFile();
        await using var store = await SqliteEventStore.OpenAsync(path, cancellationToken: Ct);
        Assert.Equal("wal", (await Sqlite3Async(path, "PRAGMA journal_mode;")).Trim());
        Assert.Contains("UNIQUE (stream, version)", await Sqlite3Async(path, ".schema events"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Append_WhileAppendsArrive_CheckpointerCopiesTheLogIntoTheDatabaseFile()
    {
        // The writer's own automatic checkpoint is off (it would run inside a commit); the background checkpointer must
        // move committed pages into the database file while the store is open, or the log would grow without bound.
        var path = NextFile();
        await using var store = await SqliteEventStore.OpenAsync(path, new SqliteEventStoreOptions { CheckpointInterval = TimeSpan.FromMilliseconds(20) }, Ct);
        var before = new FileInfo(path).Length;
        var body = new byte[4096];
        long last = 0, checkpointedThrough = 0;
        var covered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void CheckCovered()
        {
            var target = Volatile.Read(ref last);
            if (target > 0 && Volatile.Read(ref checkpointedThrough) >= target)
            {
                covered.TrySetResult();
            }
        }

        store.Checkpointed += position =>
        {
            Volatile.Write(ref checkpointedThrough, Math.Max(Volatile.Read(ref checkpointedThrough), position));
            CheckCovered();
        };
        AppendResult? appended = null;
        for (var i = 0; i < 200; i++)
        {
            appended = await store.AppendAsync("big", ExpectedVersion.Any, [new EventData("chunk", "{}"u8.ToArray(), body)], Ct);
        }

        // Waits for the checkpoint that covers the last append (it may have happened already).
        Volatile.Write(ref last, appended!.LastPosition);
        CheckCovered();
        await covered.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.True(new FileInfo(path).Length >= before + (200 * 4096), $"the database file is {new FileInfo(path).Length} bytes; the log was not checkpointed");
    }

    [Fact]
    public async Task Append_SixtyFourConcurrentAppenders_AllCommittedOnceGroupCommitted()
    {
        await using var store = await SqliteEventStore.OpenAsync(NextFile(), cancellationToken: Ct);
        const int Appenders = 64;
        const int AppendsEach = 50;
        var results = await Task.WhenAll(Enumerable.Range(0, Appenders).Select(a => Task.Run(async () =>
        {
            var mine = new List<AppendResult>();
            for (var i = 0; i < AppendsEach; i++)
            {
                mine.Add(await store.AppendAsync($"session-{a}", ExpectedVersion.Exactly(i), [Event("e", $"{{\"a\":{a},\"i\":{i}}}")], Ct));
            }

            return mine;
        }, Ct)));

        var positions = results.SelectMany(r => r.Select(x => x.LastPosition)).Order().ToList();
        Assert.Equal(Enumerable.Range(1, Appenders * AppendsEach).Select(i => (long)i), positions);
        Assert.All(results, r => Assert.Equal(Enumerable.Range(1, AppendsEach).Select(i => (long)i), r.Select(x => x.StreamVersion)));
        Assert.Equal(ChainVerification.Intact(Appenders * AppendsEach), await store.VerifyChainAsync(Ct));
    }

    [Fact]
    public async Task Append_ConflictInABatch_FailsAloneOthersCommit()
    {
        await using var store = await SqliteEventStore.OpenAsync(NextFile(), cancellationToken: Ct);
        await store.AppendAsync("approval-1", ExpectedVersion.NoStream, [Event("opened", "{}")], Ct);

        // Queued together, so the writer very likely takes them as one batch; the outcome must not depend on it.
        var good1 = store.AppendAsync("approval-2", ExpectedVersion.NoStream, [Event("opened", "{}")], Ct);
        var bad = store.AppendAsync("approval-1", ExpectedVersion.NoStream, [Event("opened", "{}")], Ct);
        var good2 = store.AppendAsync("approval-1", ExpectedVersion.Exactly(1), [Event("decided", "{}")], Ct);

        await Assert.ThrowsAsync<WrongExpectedVersionException>(() => bad);
        Assert.Equal(1, (await good1).StreamVersion);
        Assert.Equal(2, (await good2).StreamVersion);
        Assert.Equal(ChainVerification.Intact(3), await store.VerifyChainAsync(Ct));
    }

    [Fact]
    public async Task Append_WriteLockHeldElsewhere_CallerGetsTheFailure()
    {
        var path = NextFile();
        await using var store = await SqliteEventStore.OpenAsync(path, new SqliteEventStoreOptions { BusyTimeout = TimeSpan.FromSeconds(1) }, Ct);
        await store.AppendAsync("system", ExpectedVersion.Any, [Event("a", "{}")], Ct);

        // Another connection holds the write lock, so the writer cannot commit: the append must fail, not vanish.
        using var locker = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False;Default Timeout=0");
        locker.Open();
        using (var begin = locker.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE;";
            begin.ExecuteNonQuery();
        }

        await Assert.ThrowsAsync<EventStoreException>(() => store.AppendAsync("system", ExpectedVersion.Any, [Event("b", "{}")], Ct));
        using (var rollback = locker.CreateCommand())
        {
            rollback.CommandText = "ROLLBACK;";
            rollback.ExecuteNonQuery();
        }

        Assert.Equal(new AppendResult(2, 2, 2), await store.AppendAsync("system", ExpectedVersion.Any, [Event("c", "{}")], Ct));
        Assert.Equal(ChainVerification.Intact(2), await store.VerifyChainAsync(Ct));
    }

    [Fact]
    public async Task Crash_KilledMidStream_KeepsEveryReportedAppendWholeAndChainVerifies()
    {
        var path = NextFile();
        var writer = Path.Combine(AppContext.BaseDirectory.Replace("Apiary.Storage.Sqlite.Tests", "Apiary.Storage.Sqlite.CrashWriter", StringComparison.Ordinal), "Apiary.Storage.Sqlite.CrashWriter.dll");
        Assert.True(File.Exists(writer), $"the crash writer is not built at {writer}");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(writer);
        start.ArgumentList.Add(path);

        var reported = new List<long>();
        using (var child = Process.Start(start)!)
        {
            try
            {
                while (reported.Count < 300 && await child.StandardOutput.ReadLineAsync(Ct) is { } line)
                {
                    reported.Add(long.Parse(line, CultureInfo.InvariantCulture));
                }
            }
            finally
            {
                child.Kill(entireProcessTree: true);
                await child.WaitForExitAsync(Ct);
            }

            Assert.True(reported.Count == 300, $"the crash writer stopped early: {await child.StandardError.ReadToEndAsync(Ct)}");
        }

        await using var store = await SqliteEventStore.OpenAsync(path, cancellationToken: Ct);
        var all = await ToListAsync(store.ReadAllAsync(cancellationToken: Ct));
        var positions = all.Select(e => e.Position).ToHashSet();
        Assert.All(reported, p => Assert.Contains(p, positions));
        Assert.True(all.Count >= reported.Max());
        foreach (var stream in all.GroupBy(e => e.Stream))
        {
            Assert.True(stream.Count() % 3 == 0, $"{stream.Key} has {stream.Count()} events: an append was half written");
        }

        Assert.Equal(ChainVerification.Intact(all.Count), await store.VerifyChainAsync(Ct));
        var next = await store.AppendAsync("system", ExpectedVersion.Any, [Event("recovered", "{}")], Ct);
        Assert.Equal(all.Count + 1, next.LastPosition);
    }

    private static Task<string> Sqlite3Async(string path, string sql) => LogTamper.Sqlite3Async(path, sql);
}
