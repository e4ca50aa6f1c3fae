using Apiary.Protocol;
using Apiary.Sandbox.Templates;
using Apiary.Secrets;

namespace Apiary.Sandbox;

/// <summary>
/// A way to run commands in isolation. Sessions are opened from a backend and speak the execution protocol:
/// commands in, observations out. Every backend gives the same semantics, so callers never know which one runs.
/// </summary>
public interface ISandboxBackend
{
    /// <summary>A short name, such as <c>bubblewrap</c> or <c>unconfined</c>.</summary>
    string Name { get; }

    /// <summary>False only for the development backend that runs commands as plain processes.</summary>
    bool IsConfined { get; }

    /// <summary>Opens a session: a workspace, a working directory and an environment kept between commands.</summary>
    Task<ISandboxSession> OpenSessionAsync(SandboxSessionOptions options, CancellationToken cancellationToken = default);
}

/// <summary>
/// A sandbox session. Several commands may run at once; closing it (or disposing it) cancels what still runs.
/// </summary>
public interface ISandboxSession : IAsyncDisposable
{
    /// <summary>The session's id.</summary>
    string Id { get; }

    /// <summary>The workspace folder on the host, mounted at <c>/workspace</c> inside the sandbox.</summary>
    string Workspace { get; }

    /// <summary>
    /// Carries out <paramref name="command"/> and streams what happens, ending with its final observation
    /// (<see cref="CompleteObservation"/> for an exec, the result or an <see cref="ErrorObservation"/> otherwise).
    /// Cancelling <paramref name="cancellationToken"/> stops a running command like a <see cref="CancelCommand"/>.
    /// </summary>
    IAsyncEnumerable<Observation> ExecuteAsync(Command command, CancellationToken cancellationToken = default);

    /// <summary>Stops every running command (TERM, grace, KILL) and ends the session.</summary>
    Task CloseAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Resolves <paramref name="command"/> to the absolute path of the program a command would run, as the sandbox sees
    /// it: a bare name is looked up in <paramref name="searchPath"/> (the template's <c>PATH</c> when null) among what is
    /// visible inside (the system folders, the workspace, the template's mounts); a relative path is taken from the
    /// working folder. Governance decides on the result, and the sandbox runs exactly it.
    /// </summary>
    /// <param name="command">The program as given: <c>git</c>, <c>./build.sh</c>, <c>/usr/bin/env</c>.</param>
    /// <param name="workdir">The working folder, relative to the workspace (<c>""</c> for the workspace itself).</param>
    /// <param name="searchPath">A <c>PATH</c> the command sets itself, or null for the template's.</param>
    /// <returns>The absolute path, or null when a bare name is found nowhere on the search path.</returns>
    string? ResolveProgram(string command, string workdir, string? searchPath);

    /// <summary>The search path bare program names are looked up in: the template's (or the session's) <c>PATH</c>.</summary>
    string SearchPath { get; }
}

/// <summary>How to open a sandbox session.</summary>
public sealed record SandboxSessionOptions
{
    /// <summary>The host folder that becomes <c>/workspace</c>: the only place commands can write (besides tmpfs).</summary>
    public required string Workspace { get; init; }

    /// <summary>The template: limits, mounts, environment and secrets.</summary>
    public SandboxTemplate Template { get; init; } = SandboxTemplate.Default;

    /// <summary>The working directory of commands, relative to the workspace, unless a command gives its own.</summary>
    public string Workdir { get; init; } = "";

    /// <summary>Environment variables of every command in the session, on top of the template's.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>Where secret values come from; null when the session may use none.</summary>
    public ISecretStore? Secrets { get; init; }

    /// <summary>How long a command gets between TERM and KILL when it is stopped. Default 2 seconds.</summary>
    public TimeSpan KillGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The session id; a new one when null.</summary>
    public string? Id { get; init; }
}
