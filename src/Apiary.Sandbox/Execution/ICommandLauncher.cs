using System.Diagnostics;
using Apiary.Sandbox.Templates;

namespace Apiary.Sandbox.Execution;

/// <summary>Everything decided about one command before it starts: resolved paths, environment and limits.</summary>
/// <param name="Id">A unique id for the command's cgroup and temporary files.</param>
/// <param name="Program">The program to run.</param>
/// <param name="Args">Its arguments.</param>
/// <param name="Workdir">The working directory relative to the workspace ("" for the workspace itself).</param>
/// <param name="Env">The complete environment of the command.</param>
/// <param name="SecretFiles">Secrets delivered as files: name and value.</param>
/// <param name="Template">The template's limits and mounts.</param>
/// <param name="FileSizeLimitBytes">The largest file the command may write: the template's limit, or less when the workspace quota leaves less room.</param>
internal sealed record CommandSpec(
    string Id,
    string Program,
    IReadOnlyList<string> Args,
    string Workdir,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<KeyValuePair<string, string>> SecretFiles,
    SandboxTemplate Template,
    long FileSizeLimitBytes);

/// <summary>How a backend turns a command into a process, and what to clean up after it.</summary>
internal interface ICommandLauncher
{
    /// <summary>True when the process runs in a sandbox.</summary>
    bool IsConfined { get; }

    /// <summary>
    /// The host uid that files the server writes into a workspace must be given so commands can change them, or null
    /// when they need no change of owner.
    /// </summary>
    int? FileOwner => null;

    /// <summary>
    /// Where <paramref name="sandboxPath"/> (absolute, normalized) is on the host, as this launcher's commands see it; null
    /// when nothing of the host is there (a private tmpfs, or a path the sandbox does not show).
    /// </summary>
    string? HostPathOf(string sandboxPath, string workspace, SandboxTemplate template);

    /// <summary>Prepares the process of <paramref name="spec"/> in <paramref name="workspace"/>.</summary>
    LaunchPlan Prepare(CommandSpec spec, string workspace);
}

/// <summary>A prepared process: how to start it, its cgroup (if any), and what to remove once it has ended.</summary>
internal sealed class LaunchPlan(Func<Process> start, CommandCgroup? cgroup, Action? cleanup) : IDisposable
{
    /// <summary>A plan that starts a new process from <paramref name="startInfo"/>.</summary>
    public LaunchPlan(ProcessStartInfo startInfo, CommandCgroup? cgroup, Action? cleanup)
        : this(() => Process.Start(startInfo) ?? throw new InvalidOperationException("the process did not start"), cgroup, cleanup)
    {
    }

    /// <summary>Starts the command's process (or releases a pre-started one) and returns it.</summary>
    public Process Start() => start();

    public CommandCgroup? Cgroup { get; } = cgroup;

    public void Dispose()
    {
        Cgroup?.Release();
        cleanup?.Invoke();
    }
}
