using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Apiary.Governance.Locks;

/// <summary>
/// Resource leases with a time to live: many shared leases or one exclusive lease per resource. A lease whose time
/// has passed (on the injected <see cref="TimeProvider"/>) holds nothing, and its expiry is reported as a
/// <see cref="LeaseExpired"/> fact when the table notices it. Waiters are served first come, first served: once a
/// caller waits for a resource, later callers queue behind it, so a writer is not starved by a stream of readers.
/// Thread-safe.
/// </summary>
/// <remarks>
/// Leases do not nest: a session that holds a resource and asks for it again is a new request that conflicts like
/// anyone else's (release a shared lease before asking for an exclusive one). Every change is a
/// <see cref="LeaseFact"/> handed to the recorder given at construction, under the table's lock and before the change
/// is applied, then applied with <see cref="Apply"/>; a recorder that throws stops the change. The recorder must not
/// call back into the table.
/// </remarks>
public sealed class LockTable
{
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly Action<LeaseFact>? _record;
    private readonly Dictionary<string, ResourceState> _resources = new(StringComparer.Ordinal);
    private readonly Dictionary<LeaseId, Lease> _leases = [];

    /// <summary>Creates an empty table.</summary>
    /// <param name="time">The clock for leases and waits; the system clock when null.</param>
    /// <param name="record">Called with every fact before it is applied, under the table's lock.</param>
    public LockTable(TimeProvider? time = null, Action<LeaseFact>? record = null)
    {
        _time = time ?? TimeProvider.System;
        _record = record;
    }

    /// <summary>
    /// Every lease the table holds, ordered by id, as recorded: a lease whose time has passed stays here until the
    /// table notices (any operation on its resource, or <see cref="ExpireDue"/>).
    /// </summary>
    public IReadOnlyList<Lease> Leases
    {
        get
        {
            lock (_gate)
            {
                return [.. _leases.Values.OrderBy(l => l.Id.Value)];
            }
        }
    }

    /// <summary>The leases that hold a resource now (expiring those whose time has passed).</summary>
    public IReadOnlyList<Lease> Holders(string resource)
    {
        ArgumentException.ThrowIfNullOrEmpty(resource);
        lock (_gate)
        {
            if (!_resources.TryGetValue(resource, out var state))
            {
                return [];
            }

            ExpireLocked(state, _time.GetUtcNow());
            var holders = state.Holders.ToList();
            Pump(resource);
            return holders;
        }
    }

    /// <summary>Acquires a lease now, or says who is in the way.</summary>
    /// <param name="resource">The resource key, such as <c>path:/workspace/a.txt</c>.</param>
    /// <param name="mode">Shared or exclusive.</param>
    /// <param name="owner">The session that will hold the lease.</param>
    /// <param name="ttl">How long the lease holds unless renewed; positive.</param>
    /// <param name="lease">The lease, when granted.</param>
    /// <param name="denial">Who is in the way, when not.</param>
    public bool TryAcquire(
        string resource,
        LockMode mode,
        string owner,
        TimeSpan ttl,
        [NotNullWhen(true)] out Lease? lease,
        [NotNullWhen(false)] out LockDenial? denial)
    {
        Validate(resource, owner, ttl);
        lock (_gate)
        {
            var state = StateOf(resource);
            var now = _time.GetUtcNow();
            ExpireLocked(state, now);
            if (state.Waiters.Count == 0 && Compatible(state, mode))
            {
                lease = GrantLocked(resource, mode, owner, ttl, now);
                denial = null;
                return true;
            }

            lease = null;
            denial = Deny(state, resource, mode, null);
            Forget(resource, state);
            return false;
        }
    }

    /// <summary>
    /// Acquires a lease, waiting up to <paramref name="wait"/> for it. The wait ends when a release, an expiry, a
    /// cancelled earlier waiter or <see cref="ReleaseAll"/> frees the resource (no polling), or when the wait runs out,
    /// and then the result is a denial that names the holders.
    /// </summary>
    /// <param name="resource">The resource key.</param>
    /// <param name="mode">Shared or exclusive.</param>
    /// <param name="owner">The session that will hold the lease.</param>
    /// <param name="ttl">How long the lease holds, counted from when it is granted; positive.</param>
    /// <param name="wait">The longest wait; zero behaves like <see cref="TryAcquire"/>.</param>
    /// <param name="cancellationToken">Cancels the wait; the request leaves the queue.</param>
    /// <exception cref="OperationCanceledException">The wait was cancelled.</exception>
    public Task<LockResult> AcquireAsync(
        string resource,
        LockMode mode,
        string owner,
        TimeSpan ttl,
        TimeSpan wait,
        CancellationToken cancellationToken = default)
    {
        Validate(resource, owner, ttl);
        ArgumentOutOfRangeException.ThrowIfLessThan(wait, TimeSpan.Zero);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<LockResult>(cancellationToken);
        }

        Waiter waiter;
        lock (_gate)
        {
            var state = StateOf(resource);
            var now = _time.GetUtcNow();
            ExpireLocked(state, now);
            if (state.Waiters.Count == 0 && Compatible(state, mode))
            {
                return Task.FromResult(new LockResult(GrantLocked(resource, mode, owner, ttl, now), null));
            }

            if (wait == TimeSpan.Zero)
            {
                var denial = Deny(state, resource, mode, null);
                Forget(resource, state);
                return Task.FromResult(new LockResult(null, denial));
            }

            waiter = new Waiter(resource, mode, owner, ttl, wait, now + wait, cancellationToken);
            waiter.Node = state.Waiters.AddLast(waiter);
            waiter.Timer = _time.CreateTimer(static w => ((Waiter)w!).Table!.OnTimer((Waiter)w), waiter, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            waiter.Table = this;
            Schedule(state, now);
        }

        // Registered outside the lock: a token that is already cancelled runs the callback here and now.
        waiter.Registration = cancellationToken.Register(static w => ((Waiter)w!).Table!.Cancel((Waiter)w), waiter);
        if (waiter.Completion.Task.IsCompleted)
        {
            // Served before the registration existed, so Dequeue could not unregister it.
            waiter.Registration.Unregister();
        }

        return waiter.Completion.Task;
    }

    /// <summary>Moves a lease's expiry to now plus <paramref name="ttl"/>.</summary>
    /// <returns>The renewed lease, or null when the lease no longer holds (released, or its time passed).</returns>
    public Lease? Renew(LeaseId lease, TimeSpan ttl)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        lock (_gate)
        {
            if (!Live(lease, out var held, out var state))
            {
                return null;
            }

            var now = _time.GetUtcNow();
            Commit(new LeaseRenewed(lease, held.Resource, now + ttl, now));
            Schedule(state, now);
            return _leases[lease];
        }
    }

    /// <summary>Releases a lease and serves whoever waits for its resource.</summary>
    /// <returns>True when released; false when it no longer held (already released, or its time had passed).</returns>
    public bool Release(LeaseId lease)
    {
        lock (_gate)
        {
            if (!Live(lease, out var held, out _))
            {
                return false;
            }

            Commit(new LeaseReleased(lease, held.Resource, held.Owner, _time.GetUtcNow()));
            Pump(held.Resource);
            return true;
        }
    }

    /// <summary>Releases every lease a session holds: recovery after the session died.</summary>
    /// <returns>The leases released (leases whose time had passed are reported as expired instead).</returns>
    public IReadOnlyList<LeaseReleased> ReleaseAll(string owner)
    {
        ArgumentException.ThrowIfNullOrEmpty(owner);
        lock (_gate)
        {
            var released = new List<LeaseReleased>();
            var owned = _leases.Values.Where(l => string.Equals(l.Owner, owner, StringComparison.Ordinal)).ToList();
            foreach (var lease in owned)
            {
                if (Live(lease.Id, out _, out _))
                {
                    var fact = new LeaseReleased(lease.Id, lease.Resource, owner, _time.GetUtcNow());
                    Commit(fact);
                    released.Add(fact);
                }
            }

            foreach (var resource in owned.Select(l => l.Resource).Distinct(StringComparer.Ordinal))
            {
                Pump(resource);
            }

            return released;
        }
    }

    /// <summary>Expires every lease whose time has passed and serves the waiters this frees.</summary>
    /// <returns>The expiries noticed.</returns>
    public IReadOnlyList<LeaseExpired> ExpireDue()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var expired = new List<LeaseExpired>();
            foreach (var (resource, state) in _resources.ToList())
            {
                expired.AddRange(ExpireLocked(state, now));
                Pump(resource);
            }

            return expired;
        }
    }

    /// <summary>
    /// Applies a recorded fact without checking for conflicts: facts are what happened. Used to rebuild a table from
    /// its facts, in the order they were recorded. A fact about a lease the table does not hold is ignored.
    /// </summary>
    public void Apply(LeaseFact fact)
    {
        ArgumentNullException.ThrowIfNull(fact);
        lock (_gate)
        {
            ApplyLocked(fact);

            // A fact applied to a table that has waiters (replication into a live table) still serves them.
            var resource = fact switch
            {
                LeaseReleased r => r.Resource,
                LeaseExpired e => e.Resource,
                LeaseRenewed n => n.Resource,
                _ => null,
            };
            if (resource is not null && _resources.TryGetValue(resource, out var state) && state.Waiters.Count > 0)
            {
                Pump(resource);
            }
        }
    }

    private static void Validate(string resource, string owner, TimeSpan ttl)
    {
        ArgumentException.ThrowIfNullOrEmpty(resource);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
    }

    private static bool Compatible(ResourceState state, LockMode mode) =>
        mode == LockMode.Shared ? state.Holders.TrueForAll(h => h.Mode == LockMode.Shared) : state.Holders.Count == 0;

    private static LockDenial Deny(ResourceState state, string resource, LockMode mode, TimeSpan? waited)
    {
        var holders = state.Holders.ToList();
        var why = holders.Count > 0
            ? string.Join("; ", holders)
            : $"{resource}: {state.Waiters.Count} earlier request(s) waiting";
        var prefix = waited is { } w
            ? $"timed out after {w.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)}s waiting for {(mode == LockMode.Exclusive ? "exclusive" : "shared")} {resource}: "
            : "";
        return new LockDenial(resource, mode, holders, prefix + why);
    }

    private ResourceState StateOf(string resource)
    {
        if (!_resources.TryGetValue(resource, out var state))
        {
            state = new ResourceState();
            _resources[resource] = state;
        }

        return state;
    }

    private void Forget(string resource, ResourceState state)
    {
        if (state.Holders.Count == 0 && state.Waiters.Count == 0)
        {
            _resources.Remove(resource);
        }
    }

    /// <summary>True when the lease is held and its time has not passed; expires it (with a fact) when it has.</summary>
    private bool Live(LeaseId id, [NotNullWhen(true)] out Lease? lease, [NotNullWhen(true)] out ResourceState? state)
    {
        state = null;
        if (!_leases.TryGetValue(id, out lease))
        {
            return false;
        }

        state = _resources[lease.Resource];
        var now = _time.GetUtcNow();
        if (lease.ExpiresAt <= now)
        {
            Commit(new LeaseExpired(lease.Id, lease.Resource, lease.Owner, lease.ExpiresAt, now));
            Pump(lease.Resource);
            lease = null;
            return false;
        }

        return true;
    }

    private List<LeaseExpired> ExpireLocked(ResourceState state, DateTimeOffset now)
    {
        var expired = new List<LeaseExpired>();
        foreach (var lease in state.Holders.Where(h => h.ExpiresAt <= now).ToList())
        {
            var fact = new LeaseExpired(lease.Id, lease.Resource, lease.Owner, lease.ExpiresAt, now);
            Commit(fact);
            expired.Add(fact);
        }

        return expired;
    }

    private Lease GrantLocked(string resource, LockMode mode, string owner, TimeSpan ttl, DateTimeOffset now)
    {
        var lease = new Lease(LeaseId.New(), resource, mode, owner, now, now + ttl);
        Commit(new LeaseAcquired(lease, now));
        return lease;
    }

    private void Commit(LeaseFact fact)
    {
        _record?.Invoke(fact);
        ApplyLocked(fact);
    }

    private void ApplyLocked(LeaseFact fact)
    {
        switch (fact)
        {
            case LeaseAcquired acquired:
                _leases[acquired.Lease.Id] = acquired.Lease;
                StateOf(acquired.Lease.Resource).Holders.Add(acquired.Lease);
                break;

            case LeaseRenewed renewed:
                if (_leases.TryGetValue(renewed.Lease, out var old))
                {
                    var updated = old with { ExpiresAt = renewed.ExpiresAt };
                    _leases[old.Id] = updated;
                    var holders = StateOf(old.Resource).Holders;
                    holders[holders.IndexOf(old)] = updated;
                }

                break;

            case LeaseReleased released:
                Remove(released.Lease);
                break;

            case LeaseExpired expired:
                Remove(expired.Lease);
                break;

            default:
                throw new ArgumentException($"unknown lease fact {fact.GetType().Name}", nameof(fact));
        }
    }

    private void Remove(LeaseId id)
    {
        if (_leases.Remove(id, out var lease) && _resources.TryGetValue(lease.Resource, out var state))
        {
            state.Holders.Remove(lease);
            Forget(lease.Resource, state);
        }
    }

    /// <summary>
    /// Serves a resource's queue in order: expire what is due, grant the head while it is compatible, time out
    /// waiters whose wait ran out, and repeat until nothing changes; then point every remaining waiter's timer at
    /// its next moment of interest.
    /// </summary>
    private void Pump(string resource)
    {
        if (!_resources.TryGetValue(resource, out var state))
        {
            return;
        }

        var now = _time.GetUtcNow();
        ExpireLocked(state, now);
        var changed = true;
        while (changed)
        {
            changed = false;
            while (state.Waiters.First is { } head && Compatible(state, head.Value.Mode))
            {
                var waiter = head.Value;
                Dequeue(state, waiter);
                try
                {
                    waiter.Completion.TrySetResult(new LockResult(GrantLocked(resource, waiter.Mode, waiter.Owner, waiter.Ttl, now), null));
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // The recorder failed: this waiter gets no lease and learns why; the others carry on.
                    waiter.Completion.TrySetException(ex);
                }

                changed = true;
            }

            foreach (var waiter in state.Waiters.Where(w => w.Deadline <= now).ToList())
            {
                Dequeue(state, waiter);
                waiter.Completion.TrySetResult(new LockResult(null, Deny(state, resource, waiter.Mode, waiter.Wait)));
                changed = true;
            }
        }

        Schedule(state, now);
        Forget(resource, state);
    }

    private static void Schedule(ResourceState state, DateTimeOffset now)
    {
        if (state.Waiters.Count == 0)
        {
            return;
        }

        // The next moment anything can change for a waiter without a call into the table: a holder's expiry, or
        // its own deadline. Releases and renewals reschedule as they happen.
        DateTimeOffset? nextExpiry = state.Holders.Count > 0 ? state.Holders.Min(h => h.ExpiresAt) : null;
        foreach (var waiter in state.Waiters)
        {
            var due = nextExpiry is { } e && e < waiter.Deadline ? e : waiter.Deadline;
            var delay = due - now;
            waiter.Timer!.Change(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }

    private static void Dequeue(ResourceState state, Waiter waiter)
    {
        state.Waiters.Remove(waiter.Node!);
        waiter.Timer?.Dispose();

        // Unregister, not Dispose: Dispose waits for a running callback, which may be waiting for this lock.
        waiter.Registration.Unregister();
    }

    private void OnTimer(Waiter waiter)
    {
        lock (_gate)
        {
            try
            {
                Pump(waiter.Resource);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Timer callbacks have no caller: a recorder failure is handed to the waiters of the resource.
                if (_resources.TryGetValue(waiter.Resource, out var state))
                {
                    foreach (var w in state.Waiters.ToList())
                    {
                        Dequeue(state, w);
                        w.Completion.TrySetException(ex);
                    }
                }
            }
        }
    }

    private void Cancel(Waiter waiter)
    {
        lock (_gate)
        {
            if (waiter.Node?.List is null || !_resources.TryGetValue(waiter.Resource, out var state))
            {
                return;
            }

            Dequeue(state, waiter);
            waiter.Completion.TrySetCanceled(waiter.CancellationToken);

            // The cancelled waiter may have been the head that blocked compatible waiters behind it.
            Pump(waiter.Resource);
        }
    }

    private sealed class ResourceState
    {
        public List<Lease> Holders { get; } = [];

        public LinkedList<Waiter> Waiters { get; } = new();
    }

    private sealed class Waiter(string resource, LockMode mode, string owner, TimeSpan ttl, TimeSpan wait, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        public string Resource { get; } = resource;

        public LockMode Mode { get; } = mode;

        public string Owner { get; } = owner;

        public TimeSpan Ttl { get; } = ttl;

        public TimeSpan Wait { get; } = wait;

        public DateTimeOffset Deadline { get; } = deadline;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        // Continuations run elsewhere: completions happen under the table's lock.
        public TaskCompletionSource<LockResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LockTable? Table { get; set; }

        public LinkedListNode<Waiter>? Node { get; set; }

        public ITimer? Timer { get; set; }

        public CancellationTokenRegistration Registration { get; set; }
    }
}
