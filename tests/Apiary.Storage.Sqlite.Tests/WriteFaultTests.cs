using Apiary.Events;
using Apiary.Testing;

namespace Apiary.Storage.Sqlite.Tests;

/// <summary>
/// The store outlives write faults on a real file system: a full disk, and an index made immutable (which SQLite would
/// otherwise be killed for, with SIGBUS). Appends fail closed while a fault lasts, the store says why, and it heals by
/// itself when the fault clears; closing it during a fault does not throw.
/// </summary>
public sealed class WriteFaultTests
{
    private static readonly SqliteEventStoreOptions Options = new() { FaultProbeInterval = TimeSpan.FromMilliseconds(50) };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DiskFull_AppendsFailClosed_TheFaultIsReported_AndFreeingTheDiskHealsItWithoutAnAppend()
    {
        Assert.SkipUnless(FaultyDisk.Available, "mounting a small file system takes root");
        using var disk = new FaultyDisk(megabytes: 8);
        var store = await SqliteEventStore.OpenAsync(disk["events.db"], Options, Ct);
        await using var closing = store;
        await store.AppendAsync("s", ExpectedVersion.Any, [Event(0)], Ct);
        var changes = new List<EventStoreFault?>();
        store.WriteFaultChanged += fault => { lock (changes) { changes.Add(fault); } };

        disk.Fill();

        // The log may have room left in pages it already has; appending soon reaches the end of it.
        var committed = 1;
        EventStoreException? refused = null;
        for (var i = 1; i <= 500 && refused is null; i++)
        {
            try
            {
                await store.AppendAsync("s", ExpectedVersion.Any, [Event(i)], Ct);
                committed++;
            }
            catch (EventStoreException ex)
            {
                refused = ex;
            }
        }

        Assert.NotNull(refused);
        Assert.Contains("full", refused.Message, StringComparison.Ordinal);
        var fault = Assert.IsType<EventStoreFault>(store.WriteFault);
        Assert.Contains("full", fault.Reason, StringComparison.Ordinal);

        // Still failing closed while the fault lasts: the writer did not stop, it keeps refusing.
        await Assert.ThrowsAsync<EventStoreException>(() => store.AppendAsync("s", ExpectedVersion.Any, [Event(-1)], Ct));
        Assert.NotNull(store.WriteFault);

        var healed = WaitForHealAsync(store);
        disk.Free();
        await healed;

        await store.AppendAsync("s", ExpectedVersion.Any, [Event(1000)], Ct);
        committed++;
        var events = await store.ReadAllAsync(1, Ct).ToListAsync(Ct);
        Assert.Equal(committed, events.Count);
        Assert.True((await store.VerifyChainAsync(Ct)).IsIntact);
        lock (changes)
        {
            Assert.Equal(2, changes.Count);
            Assert.NotNull(changes[0]);
            Assert.Null(changes[1]);
        }
    }

    [Fact]
    public async Task IndexMadeImmutable_AppendsAndReadsFailWithTheReason_NoSignal_AndItHealsWhenWritableAgain()
    {
        Assert.SkipUnless(FaultyDisk.Available, "chattr +i takes root");
        using var disk = new FaultyDisk();
        var path = disk["events.db"];
        var store = await SqliteEventStore.OpenAsync(path, Options, Ct);
        await using var closing = store;
        await store.AppendAsync("s", ExpectedVersion.Any, [Event(0)], Ct);

        using var frozen = FaultyDisk.Freeze(path + "-shm");

        // Without the guard, the index case ends this test process with SIGBUS on the next line.
        var refused = await Assert.ThrowsAsync<EventStoreException>(() => store.AppendAsync("s", ExpectedVersion.Any, [Event(1)], Ct));
        Assert.Contains("immutable", refused.Message, StringComparison.Ordinal);
        Assert.Contains("immutable", store.WriteFault?.Reason, StringComparison.Ordinal);
        await Assert.ThrowsAsync<EventStoreException>(async () => await store.ReadAllAsync(1, Ct).ToListAsync(Ct));

        var healed = WaitForHealAsync(store);
        frozen.Dispose();
        await healed;

        await store.AppendAsync("s", ExpectedVersion.Any, [Event(2)], Ct);
        Assert.Equal([0, 2], (await store.ReadAllAsync(1, Ct).ToListAsync(Ct)).Select(e => int.Parse(e.Type[1..], System.Globalization.CultureInfo.InvariantCulture)));
        Assert.True((await store.VerifyChainAsync(Ct)).IsIntact);
    }

    [Fact]
    public async Task ClosedWhileTheIndexIsImmutable_DoesNotThrowOrSignal_AndTheCommittedEventsAreThereOnReopening()
    {
        Assert.SkipUnless(FaultyDisk.Available, "chattr +i takes root");
        using var disk = new FaultyDisk();
        var path = disk["events.db"];
        var store = await SqliteEventStore.OpenAsync(path, Options, Ct);
        await store.AppendAsync("s", ExpectedVersion.Any, [Event(0)], Ct);
        using var frozen = FaultyDisk.Freeze(path + "-shm");
        await Assert.ThrowsAsync<EventStoreException>(() => store.AppendAsync("s", ExpectedVersion.Any, [Event(1)], Ct));

        await store.DisposeAsync();

        frozen.Dispose();
        await using var reopened = await SqliteEventStore.OpenAsync(path, Options, Ct);
        Assert.Equal(["e0"], (await reopened.ReadAllAsync(1, Ct).ToListAsync(Ct)).Select(e => e.Type));
    }

    private static Task WaitForHealAsync(SqliteEventStore store)
    {
        var healed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.WriteFaultChanged += fault =>
        {
            if (fault is null)
            {
                healed.TrySetResult();
            }
        };
        return healed.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);
    }

    // 16 KiB of data each, so that a full disk is reached in a few appends.
    private static EventData Event(int i) => new($"e{i}", System.Text.Encoding.UTF8.GetBytes($"{{\"pad\":\"{new string('x', 16 * 1024)}\"}}"));
}
