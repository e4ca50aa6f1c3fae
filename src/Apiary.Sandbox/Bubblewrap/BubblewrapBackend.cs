using Apiary.Sandbox.Execution;
using System.Runtime.InteropServices;
using Apiary.Sandbox.Files;
using Apiary.Sandbox.Seccomp;

namespace Apiary.Sandbox.Bubblewrap;

/// <summary>The default backend: every command in a fresh bubblewrap sandbox.</summary>
public sealed class BubblewrapBackend : ISandboxBackend, IDisposable
{
    private readonly BubblewrapLauncher _launcher;
    private readonly Cgroups _cgroups;
    private readonly string _runtime;

    private BubblewrapBackend(string bwrapPath, Cgroups cgroups, string runtime, SandboxUser user, string? seccomp)
    {
        _runtime = runtime;
        _cgroups = cgroups;
        BwrapPath = bwrapPath;
        CgroupVersion = cgroups.Version;
        User = user;
        _launcher = new BubblewrapLauncher(bwrapPath, cgroups, runtime, user, seccomp);
        Seccomp = seccomp is not null;
    }

    /// <summary>Who commands run as.</summary>
    public SandboxUser User { get; }

    /// <summary>
    /// True when every command runs under Apiary's seccomp filter; false only on an architecture it has no system-call
    /// table for (<c>apiary doctor</c> warns of it).
    /// </summary>
    public bool Seccomp { get; private init; }

    /// <inheritdoc/>
    public string Name => "bubblewrap";

    /// <inheritdoc/>
    public bool IsConfined => true;

    /// <summary>The bwrap program in use.</summary>
    public string BwrapPath { get; }

    /// <summary>The cgroup version limits use: 1, 2, or 0 when only rlimits apply.</summary>
    public int CgroupVersion { get; }

    /// <summary>The well-known places bubblewrap is installed.</summary>
    public static readonly IReadOnlyList<string> SearchPaths = ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"];

    /// <summary>Creates the backend, or explains why this machine cannot run it.</summary>
    /// <param name="bwrapPath">The bwrap program; found in <see cref="SearchPaths"/> when null.</param>
    /// <param name="sandboxUid">The uid commands run as (<see cref="SandboxUser.DefaultUid"/> when null).</param>
    /// <exception cref="SandboxUnavailableException">bubblewrap or bash is missing, or the sandbox user cannot be had.</exception>
    public static BubblewrapBackend Create(string? bwrapPath = null, int? sandboxUid = null)
    {
        var path = bwrapPath ?? SearchPaths.FirstOrDefault(File.Exists)
            ?? throw new SandboxUnavailableException("bubblewrap (bwrap) is not installed; install it with 'apt-get install bubblewrap' (run 'apiary doctor' for details)");
        if (!File.Exists(StarterPool.Shell))
        {
            throw new SandboxUnavailableException($"{StarterPool.Shell} is missing; the sandbox starts every command through it (install bash)");
        }

        var user = SandboxUser.ForThisProcess(sandboxUid ?? SandboxUser.DefaultUid);
        // Named after this process, so that a server starting after it died can tell its folder from a live one's.
        ReapDeadRuntimes();
        var runtime = Directory.CreateTempSubdirectory(RuntimePrefix + ProcessOwner.Token + "-").FullName;
        File.SetUnixFileMode(runtime, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        BubblewrapLauncher.WriteIdentityFiles(runtime, user);
        OrphanReaper.Enable();
        var seccomp = SeccompFilter.IsSupported(RuntimeInformation.ProcessArchitecture) ? SeccompFilter.WriteProgramFile(runtime) : null;
        var cgroups = Cgroups.Detect();
        cgroups.ReapDead();
        return new BubblewrapBackend(path, cgroups, runtime, user, seccomp);
    }

    private const string RuntimePrefix = "apiary-sandbox-";

    /// <summary>
    /// Removes the runtime folders of backends whose process is no longer running (a server killed with SIGKILL), and
    /// kills what still waits on them (a starter of a version that did not end with its server). Folders of live
    /// processes, and folders not named after an owner, are left alone.
    /// </summary>
    private static void ReapDeadRuntimes()
    {
        IEnumerable<string> folders;
        try
        {
            folders = Directory.EnumerateDirectories(Path.GetTempPath(), RuntimePrefix + "*").ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return;
        }

        foreach (var folder in folders)
        {
            if (ProcessOwner.TokenIn(Path.GetFileName(folder)[RuntimePrefix.Length..]) is not { } owner || ProcessOwner.IsAlive(owner))
            {
                continue;
            }

            foreach (var pid in ProcessesNaming(folder))
            {
                Native.Libc.Kill(pid, Native.Libc.SIGKILL);
            }

            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Tried again by the next server to start.
            }
        }
    }

    /// <summary>The processes whose command line names something inside <paramref name="folder"/>.</summary>
    private static List<int> ProcessesNaming(string folder)
    {
        var pids = new List<int>();
        var needle = System.Text.Encoding.UTF8.GetBytes(folder + "/");
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllBytes(Path.Combine(proc, "cmdline")).AsSpan().IndexOf(needle) >= 0)
                {
                    pids.Add(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile, or not ours to read.
            }
        }

        return pids;
    }

    /// <inheritdoc/>
    public Task<ISandboxSession> OpenSessionAsync(SandboxSessionOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!Directory.Exists(options.Workspace))
        {
            throw new DirectoryNotFoundException($"the workspace {options.Workspace} does not exist");
        }

        if (options.Template.Egress is not Templates.EgressPolicy { } egress || egress != Templates.EgressPolicy.None)
        {
            throw new SandboxUnavailableException("egress allowlists are not supported yet: the egress proxy does not exist; use egress: none");
        }

        if (User.FileOwner is { } owner)
        {
            WorkspaceOwner.Give(options.Workspace, owner);
        }

        return Task.FromResult<ISandboxSession>(new SandboxSession(_launcher, options));
    }

    /// <summary>Removes the backend's runtime folder (its generated passwd and group) and its idle cgroups.</summary>
    public void Dispose()
    {
        _launcher.Dispose();
        OrphanReaper.Reap(now: true);
        _cgroups.Dispose();
        try
        {
            Directory.Delete(_runtime, recursive: true);
        }
        catch (IOException)
        {
            // Left in the temp folder; harmless.
        }
    }
}

/// <summary>A sandbox backend cannot run on this machine, or cannot give what was asked.</summary>
public sealed class SandboxUnavailableException(string message) : ApiaryException(message);
