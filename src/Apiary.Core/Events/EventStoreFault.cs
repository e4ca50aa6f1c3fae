namespace Apiary.Events;

/// <summary>
/// Why an event store cannot write, since when: the last commit it tried failed (a full disk, an I/O error, a locked or
/// read-only file). Appends fail closed while it lasts; the store clears it itself at its first write that commits.
/// </summary>
/// <param name="Reason">What the last failed write reported.</param>
/// <param name="Since">When writes began to fail.</param>
public sealed record EventStoreFault(string Reason, DateTimeOffset Since);
