using Apiary.Governance.Locks;
using Apiary.Testing;

namespace Apiary.Tests.Governance.Locks;

public sealed class LockTableTests
{
    private const string File = "path:/workspace/a.txt";
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(1);
    private readonly ManualClock _clock = new(new DateTimeOffset(2025, 1, 15, 10, 30, 0, TimeSpan.Zero));
    private readonly List<LeaseFact> _facts = [];

    private LockTable Table() => new(_clock, f => { lock (_facts) { _facts.Add(f); } });

    private static Lease Acquire(LockTable table, LockMode mode, string owner, TimeSpan? ttl = null)
    {
        Assert.True(table.TryAcquire(File, mode, owner, ttl ?? Ttl, out var lease, out var denial), denial?.Reason);
        return lease;
    }

    [Fact]
    public void TryAcquire_Free_GrantsUntilNowPlusTtl()
    {
        var table = Table();

        var lease = Acquire(table, LockMode.Exclusive, "s-1");

        Assert.Equal((File, LockMode.Exclusive, "s-1"), (lease.Resource, lease.Mode, lease.Owner));
        Assert.Equal(_clock.GetUtcNow() + Ttl, lease.ExpiresAt);
        Assert.Equal([lease], table.Holders(File));
        Assert.Equal(new LeaseAcquired(lease, _clock.GetUtcNow()), Assert.Single(_facts));
    }

    [Fact]
    public void TryAcquire_ExclusiveHeld_DeniesNamingTheHolder()
    {
        var table = Table();
        var held = Acquire(table, LockMode.Exclusive, "s-1");

        Assert.False(table.TryAcquire(File, LockMode.Shared, "s-2", Ttl, out _, out var denial));

        Assert.Equal([held], denial.Holders);
        Assert.Equal("path:/workspace/a.txt held exclusive by session s-1 until 2025-01-15 10:31:00Z", denial.Reason);
    }

    [Fact]
    public void TryAcquire_Shared_ManyReadersButNoWriter()
    {
        var table = Table();
        Acquire(table, LockMode.Shared, "s-1");
        Acquire(table, LockMode.Shared, "s-2");

        Assert.False(table.TryAcquire(File, LockMode.Exclusive, "s-3", Ttl, out _, out var denial));
        Assert.Equal(2, denial.Holders.Count);
        Assert.True(table.TryAcquire("path:/workspace/b.txt", LockMode.Exclusive, "s-3", Ttl, out _, out _));
    }

    [Fact]
    public void TryAcquire_SameOwnerAgain_ConflictsLikeAnyone()
    {
        var table = Table();
        Acquire(table, LockMode.Exclusive, "s-1");

        Assert.False(table.TryAcquire(File, LockMode.Exclusive, "s-1", Ttl, out _, out _));
    }

    [Fact]
    public void TryAcquire_HolderTtlPassed_CountsAsFreeAndReportsExpiry()
    {
        var table = Table();
        var old = Acquire(table, LockMode.Exclusive, "s-1");
        _clock.Advance(Ttl);

        var lease = Acquire(table, LockMode.Exclusive, "s-2");

        Assert.Equal(new LeaseExpired(old.Id, File, "s-1", old.ExpiresAt, _clock.GetUtcNow()), _facts[1]);
        Assert.Equal([lease], table.Holders(File));
    }

    [Fact]
    public void ExpireDue_ReportsEveryPassedLease()
    {
        var table = Table();
        var a = Acquire(table, LockMode.Shared, "s-1", TimeSpan.FromSeconds(10));
        Acquire(table, LockMode.Shared, "s-2", TimeSpan.FromSeconds(30));
        _clock.Advance(TimeSpan.FromSeconds(10));

        var expired = table.ExpireDue();

        Assert.Equal(a.Id, Assert.Single(expired).Lease);
        Assert.Single(table.Leases);
    }

    [Fact]
    public void Renew_Live_MovesExpiry()
    {
        var table = Table();
        var lease = Acquire(table, LockMode.Exclusive, "s-1");
        _clock.Advance(TimeSpan.FromSeconds(50));

        var renewed = table.Renew(lease.Id, Ttl);
        _clock.Advance(TimeSpan.FromSeconds(50));

        Assert.Equal(_clock.GetUtcNow() + TimeSpan.FromSeconds(10), renewed!.ExpiresAt);
        Assert.False(table.TryAcquire(File, LockMode.Exclusive, "s-2", Ttl, out _, out _));
    }

    [Fact]
    public void Renew_TtlPassed_ReturnsNullAndReportsExpiry()
    {
        var table = Table();
        var lease = Acquire(table, LockMode.Exclusive, "s-1");
        _clock.Advance(Ttl);

        Assert.Null(table.Renew(lease.Id, Ttl));
        Assert.IsType<LeaseExpired>(_facts[^1]);
        Assert.Empty(table.Leases);
    }

    [Fact]
    public void Release_FreesOnceOnly()
    {
        var table = Table();
        var lease = Acquire(table, LockMode.Exclusive, "s-1");

        Assert.True(table.Release(lease.Id));
        Assert.False(table.Release(lease.Id));
        Acquire(table, LockMode.Exclusive, "s-2");
    }

    [Fact]
    public void ReleaseAll_ReleasesOnlyThatOwnersLeases()
    {
        var table = Table();
        Acquire(table, LockMode.Shared, "dead");
        var other = Acquire(table, LockMode.Shared, "alive");
        Assert.True(table.TryAcquire("workspace:coder", LockMode.Exclusive, "dead", Ttl, out _, out _));

        var released = table.ReleaseAll("dead");

        Assert.Equal(2, released.Count);
        Assert.Equal([other], table.Leases);
        Assert.True(table.TryAcquire("workspace:coder", LockMode.Exclusive, "s-3", Ttl, out _, out _));
    }

    [Fact]
    public async Task AcquireAsync_Held_WokenByRelease()
    {
        var table = Table();
        var held = Acquire(table, LockMode.Exclusive, "s-1");

        var waiting = table.AcquireAsync(File, LockMode.Exclusive, "s-2", Ttl, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.False(waiting.IsCompleted);
        table.Release(held.Id);
        var result = await waiting;

        Assert.True(result.Acquired);
        Assert.Equal("s-2", result.Lease.Owner);
    }

    [Fact]
    public async Task AcquireAsync_WaitRunsOut_DeniesNamingTheHolder()
    {
        var table = Table();
        Acquire(table, LockMode.Exclusive, "s-1");

        var waiting = table.AcquireAsync(File, LockMode.Shared, "s-2", Ttl, TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        _clock.Advance(TimeSpan.FromSeconds(4));
        Assert.False(waiting.IsCompleted);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var result = await waiting;

        Assert.False(result.Acquired);
        Assert.Equal(
            "timed out after 5s waiting for shared path:/workspace/a.txt: path:/workspace/a.txt held exclusive by session s-1 until 2025-01-15 10:31:00Z",
            result.Denial.Reason);
        Assert.Equal(0, _clock.TimerCount);
    }

    [Fact]
    public async Task AcquireAsync_HolderTtlPasses_WokenByExpiry()
    {
        var table = Table();
        Acquire(table, LockMode.Exclusive, "s-1", TimeSpan.FromSeconds(10));

        var waiting = table.AcquireAsync(File, LockMode.Exclusive, "s-2", Ttl, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        _clock.Advance(TimeSpan.FromSeconds(10));
        var result = await waiting;

        Assert.True(result.Acquired);
        Assert.Equal(_clock.GetUtcNow() + Ttl, result.Lease.ExpiresAt);
        Assert.Equal([typeof(LeaseAcquired), typeof(LeaseExpired), typeof(LeaseAcquired)], _facts.Select(f => f.GetType()));
    }

    [Fact]
    public async Task AcquireAsync_HolderRenews_KeepsWaitingUntilDeadline()
    {
        var table = Table();
        var held = Acquire(table, LockMode.Exclusive, "s-1", TimeSpan.FromSeconds(10));
        var waiting = table.AcquireAsync(File, LockMode.Exclusive, "s-2", Ttl, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        _clock.Advance(TimeSpan.FromSeconds(5));
        table.Renew(held.Id, TimeSpan.FromMinutes(5));
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.False(waiting.IsCompleted);
        _clock.Advance(TimeSpan.FromSeconds(15));

        Assert.False((await waiting).Acquired);
    }

    [Fact]
    public async Task AcquireAsync_Cancelled_ThrowsAndLeavesTheQueue()
    {
        var table = Table();
        var held = Acquire(table, LockMode.Exclusive, "s-1");
        using var cancel = new CancellationTokenSource();

        var waiting = table.AcquireAsync(File, LockMode.Exclusive, "s-2", Ttl, TimeSpan.FromSeconds(30), cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        table.Release(held.Id);
        Acquire(table, LockMode.Exclusive, "s-3");
        Assert.Equal(0, _clock.TimerCount);
    }

    [Fact]
    public async Task AcquireAsync_WriterQueued_LaterReadersWaitBehindIt()
    {
        var table = Table();
        var reader = Acquire(table, LockMode.Shared, "s-1");
        var writer = table.AcquireAsync(File, LockMode.Exclusive, "s-2", Ttl, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.False(table.TryAcquire(File, LockMode.Shared, "s-3", Ttl, out _, out var denial));
        var laterReader = table.AcquireAsync(File, LockMode.Shared, "s-3", Ttl, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal([reader], denial.Holders);
        Assert.False(writer.IsCompleted);

        table.Release(reader.Id);
        var granted = await writer;
        Assert.False(laterReader.IsCompleted);
        table.Release(granted.Lease!.Id);

        Assert.True((await laterReader).Acquired);
    }

    [Fact]
    public async Task AcquireAsync_CancelledHeadWaiter_ServesCompatibleWaitersBehindIt()
    {
        var table = Table();
        Acquire(table, LockMode.Shared, "s-1");
        using var cancel = new CancellationTokenSource();
        var writer = table.AcquireAsync(File, LockMode.Exclusive, "s-2", Ttl, TimeSpan.FromSeconds(30), cancel.Token);
        var reader = table.AcquireAsync(File, LockMode.Shared, "s-3", Ttl, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.False(reader.IsCompleted);

        await cancel.CancelAsync();

        Assert.True((await reader).Acquired);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => writer);
    }

    [Fact]
    public async Task AcquireAsync_ReleaseAllOfDeadSession_WakesWaiters()
    {
        var table = Table();
        Acquire(table, LockMode.Exclusive, "dead");
        var waiting = table.AcquireAsync(File, LockMode.Exclusive, "s-2", Ttl, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        table.ReleaseAll("dead");

        Assert.True((await waiting).Acquired);
    }

    [Fact]
    public async Task Apply_ReplayedFacts_RebuildTheSameLeases()
    {
        var table = Table();
        var a = Acquire(table, LockMode.Shared, "s-1", TimeSpan.FromSeconds(10));
        var b = Acquire(table, LockMode.Shared, "s-2");
        Assert.True(table.TryAcquire("workspace:coder", LockMode.Exclusive, "s-3", Ttl, out var c, out _));
        var waiting = table.AcquireAsync(File, LockMode.Exclusive, "s-4", Ttl, TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken);
        table.Renew(b.Id, TimeSpan.FromSeconds(20));
        _clock.Advance(TimeSpan.FromSeconds(10));
        table.Release(c.Id);
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True((await waiting).Acquired);

        var replayed = new LockTable(_clock);
        foreach (var fact in _facts)
        {
            replayed.Apply(fact);
        }

        Assert.Equal(
            [typeof(LeaseAcquired), typeof(LeaseAcquired), typeof(LeaseAcquired), typeof(LeaseRenewed), typeof(LeaseExpired), typeof(LeaseReleased), typeof(LeaseExpired), typeof(LeaseAcquired)],
            _facts.Select(f => f.GetType()));
        Assert.Equal(a.Id, ((LeaseExpired)_facts[4]).Lease);
        Assert.Equal(table.Leases, replayed.Leases);
    }

    [Fact]
    public async Task AcquireAsync_ManyConcurrentWritersAndReaders_NeverOverlap()
    {
        var table = Table();
        var writers = 0;
        var readers = 0;
        var violations = 0;
        var granted = 0;

        async Task Worker(int n)
        {
            for (var i = 0; i < 50; i++)
            {
                var mode = (n + i) % 3 == 0 ? LockMode.Exclusive : LockMode.Shared;
                var result = await table.AcquireAsync(File, mode, $"s-{n}", Ttl, TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);
                Assert.True(result.Acquired, result.Denial?.Reason);
                Interlocked.Increment(ref granted);
                if (mode == LockMode.Exclusive)
                {
                    if (Interlocked.Increment(ref writers) != 1 || Volatile.Read(ref readers) != 0)
                    {
                        Interlocked.Increment(ref violations);
                    }

                    await Task.Yield();
                    Interlocked.Decrement(ref writers);
                }
                else
                {
                    Interlocked.Increment(ref readers);
                    if (Volatile.Read(ref writers) != 0)
                    {
                        Interlocked.Increment(ref violations);
                    }

                    await Task.Yield();
                    Interlocked.Decrement(ref readers);
                }

                Assert.True(table.Release(result.Lease.Id));
            }
        }

        // The clock never moves, so no lease expires and no wait runs out: every waiter is woken by a release.
        await Task.WhenAll(Enumerable.Range(0, 16).Select(n => Task.Run(() => Worker(n), TestContext.Current.CancellationToken)));

        Assert.Equal(0, violations);
        Assert.Equal(16 * 50, granted);
        Assert.Empty(table.Leases);
        Assert.Equal(0, _clock.TimerCount);
    }
}
