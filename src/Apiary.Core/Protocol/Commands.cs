using System.Text.Json.Serialization;

namespace Apiary.Protocol;

/// <summary>
/// A request to an execution backend. Every command carries a request id, chosen by the sender and unique among the
/// sender's commands in flight; every observation about it carries the same id.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type", UnknownDerivedTypeHandling = JsonUnknownDerivedTypeHandling.FailSerialization)]
[JsonDerivedType(typeof(ExecCommand), "exec")]
[JsonDerivedType(typeof(CancelCommand), "cancel")]
[JsonDerivedType(typeof(WriteFileCommand), "write_file")]
[JsonDerivedType(typeof(ReadFileCommand), "read_file")]
[JsonDerivedType(typeof(ListDirCommand), "list_dir")]
[JsonDerivedType(typeof(PingCommand), "ping")]
[JsonDerivedType(typeof(ShutdownCommand), "shutdown")]
public abstract record Command
{
    /// <summary>The sender's id for this request; observations about it repeat it.</summary>
    public required string RequestId { get; init; }
}

/// <summary>Runs a program in the sandbox.</summary>
public sealed record ExecCommand : Command
{
    /// <summary>The program to run: a name looked up on the sandbox's PATH, or an absolute path inside the sandbox.</summary>
    public required string Command { get; init; }

    /// <summary>Its arguments, passed as they are (no shell).</summary>
    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>Environment variables for this command, on top of the session's and the template's.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>The working directory, relative to the workspace (or absolute inside it); null for the session's.</summary>
    public string? Workdir { get; init; }

    /// <summary>Bytes written to the program's standard input, which is then closed; null for an empty input.</summary>
    public byte[]? Stdin { get; init; }

    /// <summary>The wall-clock limit in milliseconds; null for the template's.</summary>
    public long? TimeoutMs { get; init; }

    /// <summary>The most bytes of stdout and stderr together to pass on; null for the template's. Past it the command is stopped.</summary>
    public long? OutputLimitBytes { get; init; }

    /// <summary>Names of secrets from the secret store to give this command (as the template says: environment or file).</summary>
    public IReadOnlyList<string> Secrets { get; init; } = [];
}

/// <summary>Stops a running command (its whole process tree): TERM, a grace period, then KILL.</summary>
public sealed record CancelCommand : Command
{
    /// <summary>The request id of the <see cref="ExecCommand"/> to stop.</summary>
    public required string TargetRequestId { get; init; }
}

/// <summary>Writes a file inside the workspace, creating its folders.</summary>
public sealed record WriteFileCommand : Command
{
    /// <summary>The path, relative to the workspace.</summary>
    public required string Path { get; init; }

    /// <summary>The bytes to write (base64 in JSON).</summary>
    public required byte[] Content { get; init; }

    /// <summary>The Unix permission bits, such as 420 (0644); null for 0644.</summary>
    public int? Mode { get; init; }
}

/// <summary>Reads a file inside the workspace.</summary>
public sealed record ReadFileCommand : Command
{
    /// <summary>The path, relative to the workspace.</summary>
    public required string Path { get; init; }

    /// <summary>The most bytes to return; the rest is left out and marked truncated.</summary>
    public long MaxBytes { get; init; } = 1024 * 1024;
}

/// <summary>Lists a folder inside the workspace.</summary>
public sealed record ListDirCommand : Command
{
    /// <summary>The path, relative to the workspace; empty for the workspace itself.</summary>
    public string Path { get; init; } = "";
}

/// <summary>Asks for a <see cref="PongObservation"/>, to check the backend is alive.</summary>
public sealed record PingCommand : Command;

/// <summary>Asks the backend to stop everything it runs and end the connection.</summary>
public sealed record ShutdownCommand : Command;
