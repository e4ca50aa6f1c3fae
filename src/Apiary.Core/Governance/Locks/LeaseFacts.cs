namespace Apiary.Governance.Locks;

/// <summary>
/// Something that happened to a <see cref="LockTable"/>. Folding a table's facts in order with
/// <see cref="LockTable.Apply"/> rebuilds its leases (waiters are not state: they belong to running callers).
/// </summary>
/// <param name="At">When it happened, on the table's clock.</param>
public abstract record LeaseFact(DateTimeOffset At);

/// <summary>A lease was granted.</summary>
/// <param name="Lease">The lease.</param>
/// <param name="At">When.</param>
public sealed record LeaseAcquired(Lease Lease, DateTimeOffset At) : LeaseFact(At);

/// <summary>A lease's expiry was moved.</summary>
/// <param name="Lease">The lease.</param>
/// <param name="Resource">Its resource.</param>
/// <param name="ExpiresAt">Its new expiry.</param>
/// <param name="At">When.</param>
public sealed record LeaseRenewed(LeaseId Lease, string Resource, DateTimeOffset ExpiresAt, DateTimeOffset At) : LeaseFact(At);

/// <summary>A lease was released by its owner, or by <see cref="LockTable.ReleaseAll"/> for a dead session.</summary>
/// <param name="Lease">The lease.</param>
/// <param name="Resource">Its resource.</param>
/// <param name="Owner">Its owner.</param>
/// <param name="At">When.</param>
public sealed record LeaseReleased(LeaseId Lease, string Resource, string Owner, DateTimeOffset At) : LeaseFact(At);

/// <summary>
/// A lease's time passed without renewal, so it no longer holds its resource. Reported when the table first notices
/// (<c>At</c>), which is at or after <c>ExpiredAt</c>.
/// </summary>
/// <param name="Lease">The lease.</param>
/// <param name="Resource">Its resource.</param>
/// <param name="Owner">Its owner.</param>
/// <param name="ExpiredAt">When its time ran out.</param>
/// <param name="At">When the table noticed.</param>
public sealed record LeaseExpired(LeaseId Lease, string Resource, string Owner, DateTimeOffset ExpiredAt, DateTimeOffset At) : LeaseFact(At);
