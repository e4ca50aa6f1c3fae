using System.Text.Json;

namespace Apiary.Events;

/// <summary>
/// The events that keep the log honest, all in stream <c>audit</c>: signed checkpoints, purges of bodies, and an operator's
/// acceptance of a damaged log. <see cref="AuditVerifier"/> reads them back.
/// </summary>
public static class AuditEvents
{
    /// <summary>The stream of every audit event.</summary>
    public const string Stream = "audit";

    /// <summary>A signed checkpoint of the chain (<see cref="AuditCheckpoint"/>); it covers a position before its own.</summary>
    public const string Checkpoint = "audit.checkpoint";

    /// <summary>Bodies were purged for retention; a body missing without one of these after it is reported.</summary>
    public const string BodiesPurged = "audit.bodies-purged";

    /// <summary>An operator started a server on a damaged log on purpose; what was found, who, and a signed anchor.</summary>
    public const string DamageAccepted = "audit.damage-accepted";

    /// <summary>The event that records <paramref name="checkpoint"/> in the log.</summary>
    public static EventData CheckpointEvent(AuditCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        return new EventData(Checkpoint, JsonSerializer.SerializeToUtf8Bytes(checkpoint, CoreJsonContext.Default.AuditCheckpoint));
    }

    /// <summary>
    /// The event that records a purge of the <paramref name="bodies"/> bodies of events committed before
    /// <paramref name="before"/>, of <paramref name="types"/> (or every type when null). The store appends it in the same
    /// transaction as the purge.
    /// </summary>
    public static EventData BodiesPurgedEvent(DateTimeOffset before, IReadOnlyCollection<string>? types, long bodies, DateTimeOffset at) =>
        new(BodiesPurged, JsonSerializer.SerializeToUtf8Bytes(
            new BodiesPurgedData(before, types?.Order(StringComparer.Ordinal).ToArray(), bodies, at),
            CoreJsonContext.Default.BodiesPurgedData));

    /// <summary>
    /// The event that records an operator's acceptance of a damaged log: the <paramref name="problems"/> found,
    /// <paramref name="by"/> whom, and <paramref name="anchor"/>, the log's tail signed under
    /// <see cref="AuditCheckpoint.AcceptanceLabel"/>. Problems up to the anchor's position are accepted from then on.
    /// </summary>
    public static EventData DamageAcceptedEvent(AuditCheckpoint anchor, IReadOnlyList<AuditProblem> problems, string by)
    {
        ArgumentNullException.ThrowIfNull(anchor);
        ArgumentNullException.ThrowIfNull(problems);
        ArgumentException.ThrowIfNullOrEmpty(by);
        return new EventData(DamageAccepted, JsonSerializer.SerializeToUtf8Bytes(
            new DamageAcceptedData(anchor, problems, by, anchor.At),
            CoreJsonContext.Default.DamageAcceptedData));
    }

    /// <summary>True for a checkpoint event, which never needs a checkpoint of its own.</summary>
    internal static bool IsCheckpoint(RecordedEvent e) => e.Type == Checkpoint && e.Stream == Stream;
}

/// <summary>A purge of bodies: those of events committed before <see cref="Before"/>, of <see cref="Types"/> (null: every type).</summary>
internal sealed record BodiesPurgedData(DateTimeOffset Before, IReadOnlyList<string>? Types, long Bodies, DateTimeOffset At);

/// <summary>An operator accepted the <see cref="Problems"/> of a damaged log; <see cref="Anchor"/> signs the tail they accepted.</summary>
internal sealed record DamageAcceptedData(AuditCheckpoint Anchor, IReadOnlyList<AuditProblem> Problems, string By, DateTimeOffset At);
