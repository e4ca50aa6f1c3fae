using System.Buffers.Binary;
using System.Text;
using Apiary.Events;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Apiary.Testing;

/// <summary>A store opened for a conformance test: the event store, its snapshot store, and the clock it stamps with.</summary>
public sealed record EventStoreUnderTest(IEventStore Events, ISnapshotStore Snapshots, IAsyncDisposable Owner);

/// <summary>
/// What every event store backend must do. A backend's test project subclasses this with a factory for fresh, empty
/// stores on the real backend, and a way to tamper with a stored event behind the store's back.
/// </summary>
public abstract class EventStoreConformance : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _opened = [];

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected ManualClock Clock { get; } = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));

    /// <summary>A fresh, empty store that stamps events with <paramref name="timeProvider"/>.</summary>
    protected abstract Task<EventStoreUnderTest> CreateStoreAsync(TimeProvider timeProvider);

    /// <summary>Replaces the data of the event at <paramref name="position"/> without going through the store.</summary>
    protected abstract Task TamperWithDataAsync(EventStoreUnderTest store, long position, string newData);

    protected async Task<EventStoreUnderTest> OpenAsync()
    {
        var store = await CreateStoreAsync(Clock);
        _opened.Add(store.Owner);
        return store;
    }

    public virtual async ValueTask DisposeAsync()
    {
        foreach (var owner in _opened)
        {
            await owner.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    protected static EventData Event(string type, string data, string? body = null) =>
        new(type, Encoding.UTF8.GetBytes(data), body is null ? null : (ReadOnlyMemory<byte>?)Encoding.UTF8.GetBytes(body));

    protected static async Task<List<RecordedEvent>> ToListAsync(IAsyncEnumerable<RecordedEvent> events)
    {
        var list = new List<RecordedEvent>();
        await foreach (var e in events)
        {
            list.Add(e);
        }

        return list;
    }

    [Fact]
    public async Task Append_NewStream_AssignsVersionsAndPositionsFromOne()
    {
        var store = (await OpenAsync()).Events;
        var result = await store.AppendAsync("agent-alice", ExpectedVersion.NoStream, [Event("a", "{}"), Event("b", "{}")], Ct);
        Assert.Equal(new AppendResult(2, 1, 2), result);

        var second = await store.AppendAsync("agent-alice", ExpectedVersion.Exactly(2), [Event("c", "{}")], Ct);
        Assert.Equal(new AppendResult(3, 3, 3), second);
    }

    [Fact]
    public async Task Append_SeveralStreams_PositionsAreGlobalVersionsPerStream()
    {
        var store = (await OpenAsync()).Events;
        await store.AppendAsync("agent-alice", ExpectedVersion.Any, [Event("a", "{}")], Ct);
        var bob = await store.AppendAsync("agent-bob", ExpectedVersion.Any, [Event("a", "{}"), Event("b", "{}")], Ct);
        var alice = await store.AppendAsync("agent-alice", ExpectedVersion.Any, [Event("c", "{}")], Ct);

        Assert.Equal(new AppendResult(2, 2, 3), bob);
        Assert.Equal(new AppendResult(2, 4, 4), alice);
    }

    [Fact]
    public async Task Append_WrongExpectedVersion_ThrowsNamingStreamExpectedAndActual()
    {
        var store = (await OpenAsync()).Events;
        await store.AppendAsync("session-1", ExpectedVersion.NoStream, [Event("a", "{}"), Event("b", "{}")], Ct);

        var stale = await Assert.ThrowsAsync<WrongExpectedVersionException>(() => store.AppendAsync("session-1", ExpectedVersion.Exactly(1), [Event("c", "{}")], Ct));
        Assert.Equal("session-1", stale.Stream);
        Assert.Equal(ExpectedVersion.Exactly(1), stale.Expected);
        Assert.Equal(2, stale.Actual);
        Assert.Contains("session-1", stale.Message, StringComparison.Ordinal);
        Assert.Contains("expected version 1", stale.Message, StringComparison.Ordinal);
        Assert.Contains("at 2", stale.Message, StringComparison.Ordinal);

        var exists = await Assert.ThrowsAsync<WrongExpectedVersionException>(() => store.AppendAsync("session-1", ExpectedVersion.NoStream, [Event("c", "{}")], Ct));
        Assert.Equal(2, exists.Actual);
        var missing = await Assert.ThrowsAsync<WrongExpectedVersionException>(() => store.AppendAsync("session-2", ExpectedVersion.Exactly(3), [Event("c", "{}")], Ct));
        Assert.Equal(0, missing.Actual);

        // A failed append leaves nothing behind: the next append takes the next version and position.
        Assert.Equal(new AppendResult(3, 3, 3), await store.AppendAsync("session-1", ExpectedVersion.Exactly(2), [Event("c", "{}")], Ct));
        Assert.Equal(3, (await ToListAsync(store.ReadAllAsync(cancellationToken: Ct))).Count);
    }

    [Fact]
    public async Task Append_ConcurrentSameExpectedVersion_ExactlyOneWins()
    {
        var store = (await OpenAsync()).Events;
        await store.AppendAsync("approval-1", ExpectedVersion.NoStream, [Event("opened", "{}")], Ct);
        var attempts = Enumerable.Range(0, 16)
            .Select(i => store.AppendAsync("approval-1", ExpectedVersion.Exactly(1), [Event("decided", $"{{\"by\":{i}}}")], Ct))
            .ToList();
        var outcomes = await Task.WhenAll(attempts.Select(async t =>
        {
            try
            {
                await t;
                return true;
            }
            catch (WrongExpectedVersionException)
            {
                return false;
            }
        }));

        Assert.Single(outcomes, won => won);
        Assert.Equal(2, (await ToListAsync(store.ReadStreamAsync("approval-1", cancellationToken: Ct))).Count);
    }

    [Fact]
    public async Task ReadStream_FromVersion_ReturnsTheTailInOrderWithContent()
    {
        var store = (await OpenAsync()).Events;
        await store.AppendAsync("agent-alice", ExpectedVersion.Any, [Event("a", "{\"n\":1}", "out 1"), Event("b", "{\"n\":2}")], Ct);
        await store.AppendAsync("agent-bob", ExpectedVersion.Any, [Event("x", "{}")], Ct);
        await store.AppendAsync("agent-alice", ExpectedVersion.Any, [Event("c", "{\"n\":3}", "out 3")], Ct);

        var tail = await ToListAsync(store.ReadStreamAsync("agent-alice", 2, Ct));
        Assert.Equal([2L, 3L], tail.Select(e => e.StreamVersion));
        Assert.Equal([2L, 4L], tail.Select(e => e.Position));
        Assert.Equal(["b", "c"], tail.Select(e => e.Type));
        Assert.Equal("{\"n\":3}", Encoding.UTF8.GetString(tail[1].Data.Span));
        Assert.Equal("out 3", Encoding.UTF8.GetString(tail[1].Body!.Value.Span));
        Assert.Null(tail[0].Body);
        Assert.Equal(Clock.GetUtcNow(), tail[0].Timestamp);
        Assert.Empty(await ToListAsync(store.ReadStreamAsync("agent-nobody", cancellationToken: Ct)));
    }

    [Fact]
    public async Task ReadAll_FromPosition_ReturnsEveryLaterEventInOrder()
    {
        var store = (await OpenAsync()).Events;
        for (var i = 0; i < 1100; i++)
        {
            await store.AppendAsync($"session-{i % 7}", ExpectedVersion.Any, [Event("tick", $"{{\"i\":{i}}}")], Ct);
        }

        var all = await ToListAsync(store.ReadAllAsync(cancellationToken: Ct));
        Assert.Equal(Enumerable.Range(1, 1100).Select(i => (long)i), all.Select(e => e.Position));
        var tail = await ToListAsync(store.ReadAllAsync(1000, Ct));
        Assert.Equal(Enumerable.Range(1000, 101).Select(i => (long)i), tail.Select(e => e.Position));
        Assert.Empty(await ToListAsync(store.ReadAllAsync(1101, Ct)));
    }

    [Fact]
    public async Task Subscribe_CatchUpThenEightConcurrentAppenders_EveryEventOnceInOrder()
    {
        var store = (await OpenAsync()).Events;
        for (var i = 0; i < 20; i++)
        {
            await store.AppendAsync("system", ExpectedVersion.Any, [Event("boot", "{}")], Ct);
        }

        const int Appenders = 8;
        const int AppendsEach = 40;
        const int Total = 20 + (Appenders * AppendsEach * 2);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var received = new List<RecordedEvent>();
        var subscriber = Task.Run(async () =>
        {
            await foreach (var e in store.SubscribeAsync(1, timeout.Token))
            {
                received.Add(e);
                if (received.Count == Total)
                {
                    return;
                }
            }
        }, Ct);

        var appenders = Enumerable.Range(0, Appenders).Select(a => Task.Run(async () =>
        {
            for (var i = 0; i < AppendsEach; i++)
            {
                await store.AppendAsync($"agent-{a}", ExpectedVersion.Exactly(i * 2), [Event("step", "{}"), Event("step", "{}")], Ct);
            }
        }, Ct));
        await Task.WhenAll(appenders);
        await subscriber;

        Assert.Equal(Enumerable.Range(1, Total).Select(i => (long)i), received.Select(e => e.Position));
        foreach (var stream in received.GroupBy(e => e.Stream))
        {
            Assert.Equal(Enumerable.Range(1, stream.Count()).Select(i => (long)i), stream.Select(e => e.StreamVersion));
        }
    }

    [Fact]
    public async Task Subscribe_ResumeFromPosition_GetsOnlyLaterEventsThenLiveOnes()
    {
        var store = (await OpenAsync()).Events;
        for (var i = 0; i < 10; i++)
        {
            await store.AppendAsync("system", ExpectedVersion.Any, [Event("e", "{}")], Ct);
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var seen = new List<long>();
        await using var subscription = store.SubscribeAsync(7, stop.Token).GetAsyncEnumerator(stop.Token);
        for (var i = 0; i < 4; i++)
        {
            Assert.True(await subscription.MoveNextAsync());
            seen.Add(subscription.Current.Position);
        }

        var next = subscription.MoveNextAsync();
        await store.AppendAsync("system", ExpectedVersion.Any, [Event("late", "{}")], Ct);
        Assert.True(await next);
        seen.Add(subscription.Current.Position);
        Assert.Equal("late", subscription.Current.Type);
        Assert.Equal([7L, 8L, 9L, 10L, 11L], seen);

        var pending = subscription.MoveNextAsync();
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pending);
    }

    [Fact]
    public async Task VerifyChain_EmptyAndAfterAppends_Intact()
    {
        var store = (await OpenAsync()).Events;
        Assert.Equal(ChainVerification.Intact(0), await store.VerifyChainAsync(Ct));
        for (var i = 0; i < 30; i++)
        {
            await store.AppendAsync($"agent-{i % 3}", ExpectedVersion.Any, [Event("e", $"{{\"i\":{i}}}", i % 2 == 0 ? $"body {i}" : null)], Ct);
        }

        Assert.Equal(ChainVerification.Intact(30), await store.VerifyChainAsync(Ct));
        var all = await ToListAsync(store.ReadAllAsync(cancellationToken: Ct));
        Assert.True(all[0].PreviousHash.Span.SequenceEqual(EventChain.ZeroHash.Span));
        for (var i = 1; i < all.Count; i++)
        {
            Assert.True(all[i].PreviousHash.Span.SequenceEqual(all[i - 1].Hash.Span));
        }
    }

    [Fact]
    public async Task VerifyChain_DataEditedBehindTheStore_NamesThatPosition()
    {
        var opened = await OpenAsync();
        for (var i = 0; i < 12; i++)
        {
            await opened.Events.AppendAsync("approval-9", ExpectedVersion.Any, [Event("vote", $"{{\"approve\":{(i % 2 == 0 ? "true" : "false")}}}")], Ct);
        }

        await TamperWithDataAsync(opened, 5, "{\"approve\":true,\"forged\":1}");

        var result = await opened.Events.VerifyChainAsync(Ct);
        Assert.False(result.IsIntact);
        Assert.Equal(5, result.BrokenPosition);
        Assert.Contains("hash does not match", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PurgeBodies_OlderThanOfTypes_DeletesOnlyThoseBodiesAndChainVerifies()
    {
        var store = (await OpenAsync()).Events;
        await store.AppendAsync("session-1", ExpectedVersion.Any, [Event("output", "{\"cmd\":1}", "old output"), Event("message", "{\"to\":\"bob\"}", "old message")], Ct);
        var cutoff = Clock.GetUtcNow().AddHours(1);
        Clock.Advance(TimeSpan.FromDays(2));
        await store.AppendAsync("session-1", ExpectedVersion.Any, [Event("output", "{\"cmd\":2}", "new output")], Ct);
        var before = await ToListAsync(store.ReadAllAsync(cancellationToken: Ct));

        Assert.Equal(1, await store.PurgeBodiesAsync(cutoff, ["output"], Ct));
        var after = await ToListAsync(store.ReadAllAsync(cancellationToken: Ct));
        Assert.Null(after[0].Body);
        Assert.Equal("old message", Encoding.UTF8.GetString(after[1].Body!.Value.Span));
        Assert.Equal("new output", Encoding.UTF8.GetString(after[2].Body!.Value.Span));
        for (var i = 0; i < before.Count; i++)
        {
            Assert.True(before[i].Data.Span.SequenceEqual(after[i].Data.Span));
            Assert.True(before[i].BodyHash.Span.SequenceEqual(after[i].BodyHash.Span));
            Assert.True(before[i].Hash.Span.SequenceEqual(after[i].Hash.Span));
        }

        var purged = Assert.Single(after, e => e.Stream == AuditEvents.Stream);
        Assert.Equal((4, AuditEvents.BodiesPurged), (purged.Position, purged.Type));
        Assert.Contains("\"types\":[\"output\"],\"bodies\":1", Encoding.UTF8.GetString(purged.Data.Span), StringComparison.Ordinal);
        Assert.Equal(ChainVerification.Intact(4), await store.VerifyChainAsync(Ct));

        // Every purge that deletes a body is recorded; one that deletes none records nothing.
        Assert.Equal(1, await store.PurgeBodiesAsync(cutoff, cancellationToken: Ct));
        Assert.Equal(0, await store.PurgeBodiesAsync(cutoff, cancellationToken: Ct));
        Assert.Equal(0, await store.PurgeBodiesAsync(cutoff, [], Ct));
        Assert.Equal([AuditEvents.BodiesPurged, AuditEvents.BodiesPurged], (await ToListAsync(store.ReadStreamAsync(AuditEvents.Stream, cancellationToken: Ct))).Select(e => e.Type));
        Assert.Equal(ChainVerification.Intact(5), await store.VerifyChainAsync(Ct));
    }

    [Fact]
    public async Task Snapshots_SaveAndLoad_LatestWins()
    {
        var snapshots = (await OpenAsync()).Snapshots;
        Assert.Null(await snapshots.LoadSnapshotAsync("counts", Ct));
        await snapshots.SaveSnapshotAsync("counts", 10, new byte[] { 1 }, Ct);
        await snapshots.SaveSnapshotAsync("counts", 20, new byte[] { 2 }, Ct);
        await snapshots.SaveSnapshotAsync("counts", 15, new byte[] { 3 }, Ct);

        var latest = await snapshots.LoadSnapshotAsync("counts", Ct);
        Assert.NotNull(latest);
        Assert.Equal(20, latest.Position);
        Assert.Equal(new byte[] { 2 }, latest.State.ToArray());
    }

    [Fact]
    public async Task Projection_SnapshotPlusTail_EqualsFullReplay()
    {
        // Random events appended in random chunks, caught up after each chunk with a random snapshot interval.
        var cases =
            from interval in Gen.Choose(1, 12)
            from chunks in Gen.Choose(1, 5).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 15).SelectMany(size => Gen.ArrayOf(Gen.Choose(-1000, 1000), size)), n))
            select (interval, chunks);

        // Off the test's synchronization context, so that blocking on each case cannot deadlock.
        await Task.Run(
            () => Check.One(
                Config.QuickThrowOnFailure.WithMaxTest(25),
                Prop.ForAll(cases.ToArbitrary(), c => SnapshotEqualsReplayAsync(c.interval, c.chunks).GetAwaiter().GetResult())),
            Ct);
    }

    private async Task<bool> SnapshotEqualsReplayAsync(int interval, int[][] chunks)
    {
        var store = await CreateStoreAsync(Clock);
        try
        {
            var projection = new ChecksumProjection(interval);
            ProjectionResult<(long Count, long Checksum)>? last = null;
            var appended = 0;
            foreach (var chunk in chunks)
            {
                foreach (var value in chunk)
                {
                    await store.Events.AppendAsync($"agent-{value & 3}", ExpectedVersion.Any, [Event("n", value.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
                    appended++;
                }

                last = await projection.CatchUpAsync(store.Events, store.Snapshots);
            }

            var full = await new ChecksumProjection(int.MaxValue).CatchUpAsync(store.Events, new NoSnapshots());
            var snapshot = await store.Snapshots.LoadSnapshotAsync(projection.Name);
            var snapshotted = appended < interval ? snapshot is null : snapshot is not null && snapshot.Position <= appended && appended - snapshot.Position < interval;
            return last == full && full.Position == appended && snapshotted;
        }
        finally
        {
            await store.Owner.DisposeAsync();
        }
    }

    /// <summary>An order-sensitive fold, so replaying events twice, missing one or reordering them changes the result.</summary>
    private sealed class ChecksumProjection(int snapshotEvery) : Projection<(long Count, long Checksum)>(snapshotEvery)
    {
        public override string Name => "checksum";

        public override (long Count, long Checksum) Initial => (0, 17);

        public override (long Count, long Checksum) Apply((long Count, long Checksum) state, RecordedEvent e) =>
            (state.Count + 1, unchecked((state.Checksum * 31) + long.Parse(Encoding.UTF8.GetString(e.Data.Span), System.Globalization.CultureInfo.InvariantCulture) + e.Position));

        public override byte[] Serialize((long Count, long Checksum) state)
        {
            var bytes = new byte[16];
            BinaryPrimitives.WriteInt64BigEndian(bytes, state.Count);
            BinaryPrimitives.WriteInt64BigEndian(bytes.AsSpan(8), state.Checksum);
            return bytes;
        }

        public override (long Count, long Checksum) Deserialize(ReadOnlyMemory<byte> bytes) =>
            (BinaryPrimitives.ReadInt64BigEndian(bytes.Span), BinaryPrimitives.ReadInt64BigEndian(bytes.Span[8..]));
    }

    private sealed class NoSnapshots : ISnapshotStore
    {
        public Task SaveSnapshotAsync(string name, long position, ReadOnlyMemory<byte> state, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task<Snapshot?> LoadSnapshotAsync(string name, CancellationToken cancellationToken = default) => Task.FromResult<Snapshot?>(null);
    }
}

/// <summary>A clock that moves only when told, with timers that fire when it passes them.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private readonly List<ManualTimer> _timers = [];
    private DateTimeOffset _now = start;

    public int TimerCount
    {
        get
        {
            lock (_timers)
            {
                return _timers.Count;
            }
        }
    }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_timers)
        {
            return _now;
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    public void Advance(TimeSpan by)
    {
        List<ManualTimer> due;
        lock (_timers)
        {
            _now += by;
            due = _timers.Where(t => t.Due <= _now).ToList();
            foreach (var timer in due)
            {
                _timers.Remove(timer);
            }
        }

        foreach (var timer in due)
        {
            timer.Fire();
        }
    }

    private sealed class ManualTimer(ManualClock owner, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset Due { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._timers)
            {
                owner._timers.Remove(this);
                if (dueTime != Timeout.InfiniteTimeSpan)
                {
                    Due = owner._now + dueTime;
                    owner._timers.Add(this);
                }
            }

            return true;
        }

        public void Fire() => callback(state);

        public void Dispose()
        {
            lock (owner._timers)
            {
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
