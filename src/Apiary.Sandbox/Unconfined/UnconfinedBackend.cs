using System.Diagnostics;
using Apiary.Sandbox.Execution;
using Apiary.Sandbox.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Apiary.Sandbox.Unconfined;

/// <summary>
/// Runs commands as plain processes, for development on machines without bubblewrap. It must be chosen explicitly,
/// it warns when created, and every result it gives is marked unconfined. Apiary never falls back to it by itself.
/// Limits still apply (cgroups where available, rlimits always), but nothing stops a command from reading or writing
/// anything the server's user can.
/// </summary>
public sealed class UnconfinedBackend : ISandboxBackend, IDisposable
{
    /// <summary>The warning printed whenever this backend is used.</summary>
    public const string Warning = "WARNING: the unconfined backend runs commands as plain processes with the server's rights: no sandbox, no network isolation. Use it for development only.";

    private readonly Cgroups _cgroups = Cgroups.Detect();
    private readonly Launcher _launcher;

    /// <summary>Creates the backend, logging a warning that nothing is isolated (event 2001, <c>UnconfinedBackendInUse</c>).</summary>
    /// <param name="logger">Where the warning goes; nowhere when null.</param>
    public UnconfinedBackend(ILogger<UnconfinedBackend>? logger = null)
    {
        SandboxLog.UnconfinedBackendInUse(logger ?? (ILogger)NullLogger.Instance);
        _launcher = new Launcher(_cgroups);
    }

    /// <summary>Removes the backend's idle cgroups.</summary>
    public void Dispose() => _cgroups.Dispose();

    /// <inheritdoc/>
    public string Name => "unconfined";

    /// <inheritdoc/>
    public bool IsConfined => false;

    /// <inheritdoc/>
    public Task<ISandboxSession> OpenSessionAsync(SandboxSessionOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!Directory.Exists(options.Workspace))
        {
            throw new DirectoryNotFoundException($"the workspace {options.Workspace} does not exist");
        }

        return Task.FromResult<ISandboxSession>(new SandboxSession(_launcher, options));
    }

    private sealed class Launcher(Cgroups cgroups) : ICommandLauncher
    {
        public bool IsConfined => false;

        // Commands run on the host itself: only /workspace stands for the session's folder, as in a sandbox.
        public string? HostPathOf(string sandboxPath, string workspace, Templates.SandboxTemplate template) =>
            Bubblewrap.BubblewrapLauncher.Under(sandboxPath, "/workspace") is { } rest ? workspace + rest : sandboxPath;

        public LaunchPlan Prepare(CommandSpec spec, string workspace)
        {
            var cgroup = cgroups.Create(spec.Id, spec.Template);
            var start = new ProcessStartInfo(ShellPrelude.Shell)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = spec.Workdir.Length == 0 ? workspace : Path.Combine(workspace, spec.Workdir),
            };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(ShellPrelude.Script(spec.Template, spec.FileSizeLimitBytes, cgroup));
            start.ArgumentList.Add("sh");
            start.ArgumentList.Add(HostPathOf(spec.Program, workspace, spec.Template) ?? spec.Program);
            foreach (var arg in spec.Args)
            {
                start.ArgumentList.Add(arg);
            }

            start.Environment.Clear();
            foreach (var (name, value) in spec.Env)
            {
                start.Environment[name] = name == "HOME" && value == "/workspace" ? workspace : value;
            }

            return new LaunchPlan(start, cgroup, null);
        }
    }
}
