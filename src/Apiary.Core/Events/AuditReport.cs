using System.Text.Json.Serialization;

namespace Apiary.Events;

/// <summary>What is wrong with the log, by the check that found it.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AuditProblemKind>))]
public enum AuditProblemKind
{
    /// <summary>A link of the hash chain is broken: an event is missing, or was changed without recomputing the hashes.</summary>
    [JsonStringEnumMemberName("broken_link")]
    BrokenLink,

    /// <summary>The chain links, but not to the hash a checkpoint signed: events were changed and the later hashes recomputed.</summary>
    [JsonStringEnumMemberName("rewritten")]
    Rewritten,

    /// <summary>The log ends before the position the newest checkpoint covers: its newest events were cut off.</summary>
    [JsonStringEnumMemberName("cut_tail")]
    CutTail,

    /// <summary>An event's body is gone, but no recorded purge covers it.</summary>
    [JsonStringEnumMemberName("body_removed")]
    BodyRemoved,

    /// <summary>A checkpoint's signature does not verify with the public key: forged, altered, or the key was replaced.</summary>
    [JsonStringEnumMemberName("bad_signature")]
    BadSignature,

    /// <summary>The log cannot be checked against its checkpoints: the checkpoint file or a key is missing or unreadable.</summary>
    [JsonStringEnumMemberName("unanchored")]
    Unanchored,
}

/// <summary>One thing wrong with the log.</summary>
/// <param name="Kind">Which check found it.</param>
/// <param name="Position">The first position concerned, or null when it concerns no one position (a missing key file).</param>
/// <param name="Through">The last position concerned when it is a range (rewritten events, a cut tail), else null.</param>
/// <param name="Reason">What was found and what it means, for people.</param>
public sealed record AuditProblem(AuditProblemKind Kind, long? Position, long? Through, string Reason)
{
    /// <summary>The kind as JSON names it: <c>broken_link</c>, <c>rewritten</c>, <c>cut_tail</c>, <c>body_removed</c>, <c>bad_signature</c>, <c>unanchored</c>.</summary>
    [JsonIgnore]
    public string KindName => System.Text.Json.JsonSerializer.Serialize(Kind, CoreJsonContext.Default.AuditProblemKind).Trim('"');

    /// <summary>One line for people, such as <c>broken at position 3: ...</c> or <c>rewritten between positions 5 and 12: ...</c>.</summary>
    public override string ToString()
    {
        var what = Kind switch
        {
            AuditProblemKind.BrokenLink => "broken",
            AuditProblemKind.Rewritten => "rewritten",
            AuditProblemKind.CutTail => "cut",
            AuditProblemKind.BodyRemoved => "body removed",
            AuditProblemKind.BadSignature => "bad signature",
            _ => "unanchored",
        };
        var where = (Position, Through) switch
        {
            (null, _) => "",
            ({ } from, { } to) when to > from => $" between positions {from} and {to}",
            ({ } at, _) => $" at position {at}",
        };
        return $"{what}{where}: {Reason}";
    }
}

/// <summary>An operator's acceptance of a damaged log, as recorded in <c>audit.damage-accepted</c>.</summary>
/// <param name="Position">The position of the acceptance event.</param>
/// <param name="Through">The last position it accepted: problems up to here are no longer reported.</param>
/// <param name="By">Who accepted, and how.</param>
/// <param name="At">When.</param>
/// <param name="Problems">What was found and accepted.</param>
public sealed record AuditAcceptance(long Position, long Through, string By, DateTimeOffset At, IReadOnlyList<AuditProblem> Problems);

/// <summary>Where a verified log ends, for the checkpoints that follow.</summary>
/// <param name="Position">The position of its newest event, 0 when it is empty.</param>
/// <param name="Hash">The chain hash of that event (32 zero bytes for an empty log).</param>
/// <param name="Covered">The position the newest valid checkpoint covers, 0 when none does.</param>
/// <param name="Uncovered">How many events after <paramref name="Covered"/> a checkpoint should cover (checkpoints excluded).</param>
public sealed record AuditTail(long Position, ReadOnlyMemory<byte> Hash, long Covered, long Uncovered);

/// <summary>What <see cref="AuditVerifier"/> found: the chain, the checkpoints, the bodies, the keys.</summary>
/// <param name="Events">How many events were checked.</param>
/// <param name="Checkpoints">How many checkpoints were verified and hold (the one in the checkpoint file included).</param>
/// <param name="KeyId">The id of the public key checkpoints were verified with, or null when there is none.</param>
/// <param name="Head">The newest checkpoint, from the file outside the log, or null when there is none.</param>
/// <param name="Problems">What is wrong, by position (those without one last); empty when the log is intact.</param>
/// <param name="MoreProblems">How many more problems were found than <paramref name="Problems"/> lists.</param>
/// <param name="Accepted">The operator's earlier acceptances of damage; what they accepted is not in <paramref name="Problems"/>.</param>
/// <param name="Tail">Where the checked log ends.</param>
public sealed record AuditReport(
    long Events,
    int Checkpoints,
    string? KeyId,
    AuditCheckpoint? Head,
    IReadOnlyList<AuditProblem> Problems,
    long MoreProblems,
    IReadOnlyList<AuditAcceptance> Accepted,
    AuditTail Tail)
{
    /// <summary>True when nothing is wrong (accepted damage aside).</summary>
    public bool IsIntact => Problems.Count == 0 && MoreProblems == 0;
}
