using System.Text.Json.Serialization;

namespace Apiary.Protocol;

/// <summary>
/// Something an execution backend reports. Observations carry a sequence number, increasing by one on each
/// observation a backend sends over one connection or session, so a receiver can tell that none was lost.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type", UnknownDerivedTypeHandling = JsonUnknownDerivedTypeHandling.FailSerialization)]
[JsonDerivedType(typeof(ReadyObservation), "ready")]
[JsonDerivedType(typeof(OutputObservation), "output")]
[JsonDerivedType(typeof(CompleteObservation), "complete")]
[JsonDerivedType(typeof(ErrorObservation), "error")]
[JsonDerivedType(typeof(FileContentObservation), "file_content")]
[JsonDerivedType(typeof(FileWrittenObservation), "file_written")]
[JsonDerivedType(typeof(DirListingObservation), "dir_listing")]
[JsonDerivedType(typeof(PongObservation), "pong")]
[JsonDerivedType(typeof(MetricsObservation), "metrics")]
[JsonDerivedType(typeof(ShuttingDownObservation), "shutting_down")]
public abstract record Observation
{
    /// <summary>The request this is about; null for observations about the backend itself (Ready, Metrics, ShuttingDown).</summary>
    public string? RequestId { get; init; }

    /// <summary>The position of this observation in its stream, from 1.</summary>
    public long Sequence { get; init; }
}

/// <summary>The handshake: sent first by a backend, with what it speaks and can do.</summary>
public sealed record ReadyObservation : Observation
{
    /// <summary>The protocol version the backend speaks.</summary>
    public required int ProtocolVersion { get; init; }

    /// <summary>The backend's own version.</summary>
    public required string AgentVersion { get; init; }

    /// <summary>What it can do, such as <c>exec</c>, <c>files</c>, <c>cancel</c>, <c>namespaces</c>, <c>cgroups</c>.</summary>
    public IReadOnlyList<string> Capabilities { get; init; } = [];
}

/// <summary>Which output stream bytes came from.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<OutputChannel>))]
public enum OutputChannel
{
    /// <summary>Standard output.</summary>
    [JsonStringEnumMemberName("stdout")]
    Stdout,

    /// <summary>Standard error.</summary>
    [JsonStringEnumMemberName("stderr")]
    Stderr,
}

/// <summary>A chunk of a running command's output, as it came.</summary>
public sealed record OutputObservation : Observation
{
    /// <summary>stdout or stderr.</summary>
    public required OutputChannel Stream { get; init; }

    /// <summary>The bytes (base64 in JSON), with secret values replaced by <c>[secret:NAME]</c>.</summary>
    public required byte[] Data { get; init; }
}

/// <summary>Why a command ended.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CompletionReason>))]
public enum CompletionReason
{
    /// <summary>It exited by itself (or was killed by a signal it did not get from Apiary).</summary>
    [JsonStringEnumMemberName("exited")]
    Exited,

    /// <summary>It ran past its wall-clock limit and was stopped.</summary>
    [JsonStringEnumMemberName("timed_out")]
    TimedOut,

    /// <summary>It was cancelled and stopped.</summary>
    [JsonStringEnumMemberName("cancelled")]
    Cancelled,

    /// <summary>It wrote more than its output limit and was stopped.</summary>
    [JsonStringEnumMemberName("output_limit")]
    OutputLimit,

    /// <summary>It took its workspace past the template's disk quota and was stopped.</summary>
    [JsonStringEnumMemberName("disk_quota")]
    DiskQuota,
}

/// <summary>A command ended; the last observation about it.</summary>
public sealed record CompleteObservation : Observation
{
    /// <summary>The exit code, when it exited.</summary>
    public int? ExitCode { get; init; }

    /// <summary>The signal that ended it, when one did.</summary>
    public int? Signal { get; init; }

    /// <summary>How long it ran, in milliseconds.</summary>
    public required long DurationMs { get; init; }

    /// <summary>True when output past the limit was left out.</summary>
    public bool Truncated { get; init; }

    /// <summary>Why it ended.</summary>
    public required CompletionReason Reason { get; init; }

    /// <summary>True when it ran without a sandbox (the unconfined development backend).</summary>
    public bool Unconfined { get; init; }
}

/// <summary>A request failed before or instead of running, or a frame could not be understood.</summary>
public sealed record ErrorObservation : Observation
{
    /// <summary>A stable code, such as <c>not_found</c>, <c>invalid_path</c>, <c>bad_frame</c>, <c>unknown_request</c>.</summary>
    public required string Code { get; init; }

    /// <summary>What went wrong, for people.</summary>
    public required string Message { get; init; }
}

/// <summary>The content of a file that was read.</summary>
public sealed record FileContentObservation : Observation
{
    /// <summary>The path as asked for.</summary>
    public required string Path { get; init; }

    /// <summary>The bytes read (base64 in JSON).</summary>
    public required byte[] Content { get; init; }

    /// <summary>The file's whole size in bytes.</summary>
    public required long Size { get; init; }

    /// <summary>True when only the first bytes were returned.</summary>
    public bool Truncated { get; init; }
}

/// <summary>A file was written.</summary>
public sealed record FileWrittenObservation : Observation
{
    /// <summary>The path as asked for.</summary>
    public required string Path { get; init; }

    /// <summary>How many bytes were written.</summary>
    public required long Bytes { get; init; }
}

/// <summary>The kind of a folder entry.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<EntryKind>))]
public enum EntryKind
{
    /// <summary>A regular file.</summary>
    [JsonStringEnumMemberName("file")]
    File,

    /// <summary>A folder.</summary>
    [JsonStringEnumMemberName("dir")]
    Directory,

    /// <summary>A symbolic link (not followed).</summary>
    [JsonStringEnumMemberName("symlink")]
    Symlink,

    /// <summary>Anything else: a device, a socket, a pipe.</summary>
    [JsonStringEnumMemberName("other")]
    Other,
}

/// <summary>One entry of a folder listing.</summary>
/// <param name="Name">The entry's name.</param>
/// <param name="Kind">File, folder, link or other.</param>
/// <param name="Size">Its size in bytes (0 for folders).</param>
/// <param name="Mode">Its Unix permission bits.</param>
public sealed record DirEntry(string Name, EntryKind Kind, long Size, int Mode);

/// <summary>The entries of a folder, sorted by name.</summary>
public sealed record DirListingObservation : Observation
{
    /// <summary>The path as asked for.</summary>
    public required string Path { get; init; }

    /// <summary>The entries.</summary>
    public required IReadOnlyList<DirEntry> Entries { get; init; }
}

/// <summary>The answer to a <see cref="PingCommand"/>.</summary>
public sealed record PongObservation : Observation;

/// <summary>Resource use of the backend or of one command.</summary>
public sealed record MetricsObservation : Observation
{
    /// <summary>Commands running now.</summary>
    public int RunningCommands { get; init; }

    /// <summary>Commands run since the backend started.</summary>
    public long CompletedCommands { get; init; }
}

/// <summary>The backend is stopping; nothing more will follow.</summary>
public sealed record ShuttingDownObservation : Observation
{
    /// <summary>Why it stops.</summary>
    public required string Reason { get; init; }
}
