using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Apiary.Governance.Locks;

/// <summary>How a lease shares its resource.</summary>
public enum LockMode
{
    /// <summary>Many shared leases may hold a resource together (readers).</summary>
    Shared,

    /// <summary>One exclusive lease holds a resource alone (a writer).</summary>
    Exclusive,
}

/// <summary>The identity of one lease.</summary>
/// <param name="Value">The underlying value.</param>
public readonly record struct LeaseId(Guid Value)
{
    /// <summary>A new, random id.</summary>
    public static LeaseId New() => new(Guid.NewGuid());

    /// <inheritdoc/>
    public override string ToString() => Value.ToString("N");
}

/// <summary>
/// A time-limited hold on a resource. The resource is a key such as <c>path:/workspace/a.txt</c> or
/// <c>workspace:coder</c>, compared ordinally; the owner is a session id.
/// </summary>
/// <param name="Id">The lease's identity.</param>
/// <param name="Resource">The resource held.</param>
/// <param name="Mode">Shared or exclusive.</param>
/// <param name="Owner">The session that holds it.</param>
/// <param name="AcquiredAt">When it was acquired.</param>
/// <param name="ExpiresAt">When it stops holding unless renewed.</param>
public sealed record Lease(LeaseId Id, string Resource, LockMode Mode, string Owner, DateTimeOffset AcquiredAt, DateTimeOffset ExpiresAt)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{Resource} held {(Mode == LockMode.Exclusive ? "exclusive" : "shared")} by session {Owner} until {ExpiresAt.ToString("u", CultureInfo.InvariantCulture)}";
}

/// <summary>Why a lease was not granted: the resource, the leases in the way and a reason for people.</summary>
/// <param name="Resource">The resource asked for.</param>
/// <param name="Mode">The mode asked for.</param>
/// <param name="Holders">The leases that conflict (empty when only earlier waiters were in the way).</param>
/// <param name="Reason">For example <c>path:/a held exclusive by session s-1 until ...</c>.</param>
public sealed record LockDenial(string Resource, LockMode Mode, IReadOnlyList<Lease> Holders, string Reason)
{
    /// <inheritdoc/>
    public override string ToString() => Reason;
}

/// <summary>The outcome of <see cref="LockTable.AcquireAsync"/>: a lease or a denial.</summary>
/// <param name="Lease">The lease, when granted.</param>
/// <param name="Denial">Why not, when not granted.</param>
public sealed record LockResult(Lease? Lease, LockDenial? Denial)
{
    /// <summary>True when the lease was granted.</summary>
    [MemberNotNullWhen(true, nameof(Lease))]
    [MemberNotNullWhen(false, nameof(Denial))]
    public bool Acquired => Lease is not null;
}
