using Apiary.Sandbox.Execution;

namespace Apiary.Sandbox.Bubblewrap;

/// <summary>
/// Turns a command into a bubblewrap invocation: fresh user, PID, mount, IPC, UTS, cgroup and network namespaces,
/// the system read-only, only the session workspace writable, private /tmp and /dev, no capabilities, and an
/// environment that holds only what the template, session and command set.
/// </summary>
internal sealed class BubblewrapLauncher : ICommandLauncher, IDisposable
{
    /// <summary>Where the workspace appears inside the sandbox.</summary>
    public const string WorkspaceMount = "/workspace";

    /// <summary>The uid and gid commands run as inside the sandbox (mapped to the server's user outside).</summary>
    public const int SandboxUid = 1000;

    // Files of /etc that programs need to run (the dynamic linker's cache, time zone, alternatives); nothing that
    // names users, holds credentials or configures services. passwd and group are generated.
    private static readonly string[] EtcFiles =
        ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "nsswitch.conf", "hosts", "ssl", "ca-certificates", "os-release", "debian_version", "protocols", "services", "mime.types"];

    private static readonly string[] TopLevelLinks = ["bin", "sbin", "lib", "lib64", "lib32", "libx32"];

    private readonly string _runtime;
    private readonly IReadOnlyList<string> _systemArgs;
    private readonly StarterPool _starters;

    public BubblewrapLauncher(string bwrapPath, Cgroups cgroups, string runtimeDirectory)
    {
        _runtime = runtimeDirectory;
        _systemArgs = SystemArguments(runtimeDirectory);
        _starters = new StarterPool(bwrapPath, cgroups, runtimeDirectory);
    }

    public bool IsConfined => true;

    public LaunchPlan Prepare(CommandSpec spec, string workspace)
    {
        string? secretsDir = null;
        try
        {
            var args = new List<string>(_systemArgs.Count + 32);
            args.AddRange(_systemArgs);
            args.AddRange(["--bind", workspace, WorkspaceMount]);
            foreach (var mount in spec.Template.Mounts)
            {
                args.AddRange([mount.ReadOnly ? "--ro-bind" : "--bind", mount.HostPath, mount.SandboxPath]);
            }

            if (spec.SecretFiles.Count > 0)
            {
                secretsDir = WriteSecretFiles(spec);
                args.AddRange(["--tmpfs", "/run/secrets"]);
                foreach (var (name, _) in spec.SecretFiles)
                {
                    args.AddRange(["--ro-bind", Path.Combine(secretsDir, name), "/run/secrets/" + name]);
                }
            }

            // The environment, secrets among them, travels with the other arguments through the starter's FIFO: it
            // never appears on a command line that other users could read in /proc.
            args.Add("--clearenv");
            foreach (var (name, value) in spec.Env)
            {
                args.AddRange(["--setenv", name, value]);
            }

            args.AddRange(["--chdir", spec.Workdir.Length == 0 ? WorkspaceMount : WorkspaceMount + "/" + spec.Workdir]);
            string[] command = [spec.Program, .. spec.Args];

            var starter = _starters.Take(spec.Template);
            var released = false;
            var secrets = secretsDir;
            return new LaunchPlan(
                () =>
                {
                    released = true;
                    return starter.Release(args, command);
                },
                starter.Cgroup,
                () =>
                {
                    if (!released)
                    {
                        starter.Discard();
                    }

                    if (secrets is not null)
                    {
                        Directory.Delete(secrets, recursive: true);
                    }
                });
        }
        catch
        {
            if (secretsDir is not null)
            {
                Directory.Delete(secretsDir, recursive: true);
            }

            throw;
        }
    }

    /// <summary>Kills the waiting starters.</summary>
    public void Dispose() => _starters.Dispose();

    /// <summary>The arguments every sandbox gets, whatever the command: namespaces, system mounts, /etc, /proc, /dev, /tmp.</summary>
    internal static IReadOnlyList<string> SystemArguments(string runtimeDirectory)
    {
        var args = new List<string>
        {
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop", "ALL",
            "--hostname", "sandbox",
            "--uid", $"{SandboxUid}",
            "--gid", $"{SandboxUid}",
            "--ro-bind", "/usr", "/usr",
        };
        foreach (var name in TopLevelLinks)
        {
            var path = "/" + name;
            var info = new FileInfo(path);
            if (info.LinkTarget is { } target)
            {
                args.AddRange(["--symlink", target, path]);
            }
            else if (Directory.Exists(path))
            {
                args.AddRange(["--ro-bind", path, path]);
            }
        }

        foreach (var file in EtcFiles)
        {
            args.AddRange(["--ro-bind-try", "/etc/" + file, "/etc/" + file]);
        }

        args.AddRange(["--ro-bind", Path.Combine(runtimeDirectory, "passwd"), "/etc/passwd"]);
        args.AddRange(["--ro-bind", Path.Combine(runtimeDirectory, "group"), "/etc/group"]);
        args.AddRange(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
        return args;
    }

    /// <summary>Writes the sandbox's own passwd and group, naming only the sandbox user.</summary>
    internal static void WriteIdentityFiles(string runtimeDirectory)
    {
        File.WriteAllText(Path.Combine(runtimeDirectory, "passwd"), $"sandbox:x:{SandboxUid}:{SandboxUid}:sandbox:{WorkspaceMount}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
        File.WriteAllText(Path.Combine(runtimeDirectory, "group"), $"sandbox:x:{SandboxUid}:\nnogroup:x:65534:\n");
    }

    /// <summary>Secret files live on the host's tmpfs in a private folder, mode 0400, for the command's life only.</summary>
    private string WriteSecretFiles(CommandSpec spec)
    {
        var dir = Path.Combine(_runtime, "secrets-" + spec.Id);
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (var (name, value) in spec.SecretFiles)
        {
            var path = Path.Combine(dir, name);
            using (var stream = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            {
                stream.Write(System.Text.Encoding.UTF8.GetBytes(value));
            }

            File.SetUnixFileMode(path, UnixFileMode.UserRead);
        }

        return dir;
    }
}
