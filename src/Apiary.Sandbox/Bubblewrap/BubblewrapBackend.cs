using Apiary.Sandbox.Execution;

namespace Apiary.Sandbox.Bubblewrap;

/// <summary>The default backend: every command in a fresh bubblewrap sandbox.</summary>
public sealed class BubblewrapBackend : ISandboxBackend, IDisposable
{
    private readonly BubblewrapLauncher _launcher;
    private readonly Cgroups _cgroups;
    private readonly string _runtime;

    private BubblewrapBackend(string bwrapPath, Cgroups cgroups, string runtime)
    {
        _runtime = runtime;
        _cgroups = cgroups;
        BwrapPath = bwrapPath;
        CgroupVersion = cgroups.Version;
        _launcher = new BubblewrapLauncher(bwrapPath, cgroups, runtime);
    }

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
    /// <exception cref="SandboxUnavailableException">bubblewrap is missing.</exception>
    public static BubblewrapBackend Create(string? bwrapPath = null)
    {
        var path = bwrapPath ?? SearchPaths.FirstOrDefault(File.Exists)
            ?? throw new SandboxUnavailableException("bubblewrap (bwrap) is not installed; install it with 'apt-get install bubblewrap' (run 'apiary doctor' for details)");
        var runtime = Directory.CreateTempSubdirectory("apiary-sandbox-").FullName;
        File.SetUnixFileMode(runtime, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        BubblewrapLauncher.WriteIdentityFiles(runtime);
        OrphanReaper.Enable();
        return new BubblewrapBackend(path, Cgroups.Detect(), runtime);
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
