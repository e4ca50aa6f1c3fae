using System.Globalization;
using System.Runtime.InteropServices;
using Apiary.Sandbox.Execution;
using Apiary.Sandbox.Native;
using Apiary.Sandbox.Templates;

namespace Apiary.Sandbox.Bubblewrap;

/// <summary>
/// Turns a command into a bubblewrap invocation: fresh PID, mount, IPC, UTS, cgroup and network namespaces (and a user
/// namespace when the server is not root), the system read-only, only the session workspace writable, private /tmp and
/// /dev, no capabilities, a seccomp filter, an unprivileged <see cref="SandboxUser"/>, and an environment that holds
/// only what the template, session and command set. Every value travels as one element of an argument array (through
/// the starter's FIFO, never through a shell's parser), and a value holding a NUL, the one byte that could split an
/// element in two, is refused before anything starts.
/// </summary>
internal sealed class BubblewrapLauncher : ICommandLauncher, IDisposable
{
    /// <summary>Where the workspace appears inside the sandbox.</summary>
    public const string WorkspaceMount = "/workspace";

    // Files of /etc that programs need to run (the dynamic linker's cache, time zone, alternatives); nothing that
    // names users, holds credentials or configures services. passwd and group are generated.
    private static readonly string[] EtcFiles =
        ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "nsswitch.conf", "hosts", "ssl", "ca-certificates", "os-release", "debian_version", "protocols", "services", "mime.types"];

    private static readonly string[] TopLevelLinks = ["bin", "sbin", "lib", "lib64", "lib32", "libx32"];

    private readonly string _runtime;
    private readonly SandboxUser _user;
    private readonly IReadOnlyList<string> _systemArgs;
    private readonly StarterPool _starters;

    public BubblewrapLauncher(string bwrapPath, Cgroups cgroups, string runtimeDirectory, SandboxUser user, string? seccompProgram)
    {
        _runtime = runtimeDirectory;
        _user = user;
        _systemArgs = SystemArguments(runtimeDirectory, user);
        _starters = new StarterPool(bwrapPath, cgroups, runtimeDirectory, seccompProgram);
    }

    public bool IsConfined => true;

    /// <inheritdoc/>
    public int? FileOwner => _user.FileOwner;

    /// <inheritdoc/>
    public string? HostPathOf(string sandboxPath, string workspace, SandboxTemplate template)
    {
        if (Under(sandboxPath, WorkspaceMount) is { } inWorkspace)
        {
            return workspace + inWorkspace;
        }

        // The template's mounts hide what is below them; the deepest one wins, as bubblewrap mounts them in order.
        foreach (var mount in template.Mounts.OrderByDescending(m => m.SandboxPath.Length))
        {
            if (Under(sandboxPath, mount.SandboxPath.TrimEnd('/')) is { } rest)
            {
                return mount.HostPath.TrimEnd('/') + rest;
            }
        }

        if (Under(sandboxPath, "/usr") is not null || TopLevelLinks.Any(link => Under(sandboxPath, "/" + link) is not null))
        {
            return sandboxPath;
        }

        return EtcFiles.Any(file => Under(sandboxPath, "/etc/" + file) is not null) ? sandboxPath : null;
    }

    /// <summary>The rest of <paramref name="path"/> below <paramref name="folder"/> (<c>""</c> for the folder itself), or null.</summary>
    internal static string? Under(string path, string folder) =>
        path == folder ? "" : path.StartsWith(folder + "/", StringComparison.Ordinal) ? path[folder.Length..] : null;

    public LaunchPlan Prepare(CommandSpec spec, string workspace)
    {
        string? secretsDir = null;
        try
        {
            var args = new List<string>(_systemArgs.Count + 32);
            args.AddRange(_systemArgs);

            // /tmp is the sandbox's own, sized like the workspace quota; its pages count against the memory limit too.
            args.AddRange(["--perms", "1777", "--size", SizeOf(spec.Template), "--tmpfs", "/tmp"]);
            args.AddRange(["--bind", workspace, WorkspaceMount]);
            var folders = new HashSet<string>(StringComparer.Ordinal) { "/", "/etc" };
            foreach (var mount in spec.Template.Mounts)
            {
                Folders(args, folders, mount.SandboxPath);
                args.AddRange([mount.ReadOnly ? "--ro-bind" : "--bind", mount.HostPath, mount.SandboxPath]);
            }

            if (spec.SecretFiles.Count > 0)
            {
                secretsDir = WriteSecretFiles(spec);
                Folders(args, folders, "/run/secrets");
                args.AddRange(["--tmpfs", "/run/secrets"]);
                foreach (var (name, _) in spec.SecretFiles)
                {
                    args.AddRange(["--ro-bind", Path.Combine(secretsDir, name), "/run/secrets/" + name]);
                }
            }

            // The environment, secrets among them, travels with the other options through the starter's FIFO: it never
            // appears on a command line that other users could read in /proc.
            args.Add("--clearenv");
            foreach (var (name, value) in spec.Env)
            {
                args.AddRange(["--setenv", name, value]);
            }

            args.AddRange(["--chdir", spec.Workdir.Length == 0 ? WorkspaceMount : WorkspaceMount + "/" + spec.Workdir]);
            var command = CommandLine(spec);
            ArgumentVector.EnsureExact(args, "a sandbox option");
            ArgumentVector.EnsureExact(command, "the command");

            var starter = _starters.Take(spec.Template, spec.FileSizeLimitBytes);
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

    /// <summary>
    /// The command bubblewrap runs: the program and its arguments, behind <c>setpriv</c> when bubblewrap runs as root,
    /// so that the program starts as the unprivileged sandbox user with no capability left in any set.
    /// </summary>
    private string[] CommandLine(CommandSpec spec)
    {
        if (!_user.ServerIsRoot)
        {
            return [spec.Program, .. spec.Args];
        }

        var id = _user.Uid.ToString(CultureInfo.InvariantCulture);
        return
        [
            SandboxUser.SetprivPath, "--reuid=" + id, "--regid=" + id, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--",
            spec.Program, .. spec.Args,
        ];
    }

    /// <summary>Creates the folders above <paramref name="destination"/> with mode 0755 (bubblewrap's own would be 0700, owned by root).</summary>
    private static void Folders(List<string> args, HashSet<string> made, string destination)
    {
        for (var slash = destination.IndexOf('/', 1); slash > 0; slash = destination.IndexOf('/', slash + 1))
        {
            var folder = destination[..slash];
            if (made.Add(folder))
            {
                args.AddRange(["--perms", "0755", "--dir", folder]);
            }
        }
    }

    private static string SizeOf(SandboxTemplate template) =>
        ((long)template.DiskMb * 1024 * 1024).ToString(CultureInfo.InvariantCulture);

    /// <summary>Kills the waiting starters.</summary>
    public void Dispose() => _starters.Dispose();

    /// <summary>The arguments every sandbox gets, whatever the command: namespaces, identity, system mounts, /etc, /proc, /dev.</summary>
    internal static IReadOnlyList<string> SystemArguments(string runtimeDirectory, SandboxUser user)
    {
        var id = user.Uid.ToString(CultureInfo.InvariantCulture);
        var args = new List<string> { "--die-with-parent", "--new-session", "--hostname", "sandbox" };
        if (user.ServerIsRoot)
        {
            // No user namespace: bubblewrap sets up the mounts as root, and setpriv (the command's first program) leaves
            // root for the sandbox uid. It needs these capabilities only until it has done so; it drops them, and the
            // bounding set, before the command runs (no new privileges is set, so nothing can be regained).
            args.AddRange(["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]);
            args.AddRange(["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP", "--cap-add", "CAP_DAC_OVERRIDE"]);
        }
        else
        {
            args.AddRange(["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL", "--uid", id, "--gid", id]);
        }

        args.AddRange(["--ro-bind", "/usr", "/usr"]);
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

        // bubblewrap makes the folders above a bind's destination 0700; made first, they are readable by the sandbox user.
        args.AddRange(["--perms", "0755", "--dir", "/etc"]);
        foreach (var file in EtcFiles)
        {
            args.AddRange(["--ro-bind-try", "/etc/" + file, "/etc/" + file]);
        }

        args.AddRange(["--ro-bind", Path.Combine(runtimeDirectory, "passwd"), "/etc/passwd"]);
        args.AddRange(["--ro-bind", Path.Combine(runtimeDirectory, "group"), "/etc/group"]);
        args.AddRange(["--proc", "/proc", "--dev", "/dev"]);
        return args;
    }

    /// <summary>Writes the sandbox's own passwd and group, naming only the sandbox user.</summary>
    internal static void WriteIdentityFiles(string runtimeDirectory, SandboxUser user)
    {
        var id = user.Uid.ToString(CultureInfo.InvariantCulture);
        var root = user.ServerIsRoot ? "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n" : "";
        File.WriteAllText(Path.Combine(runtimeDirectory, "passwd"), $"{root}sandbox:x:{id}:{id}:sandbox:{WorkspaceMount}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
        File.WriteAllText(Path.Combine(runtimeDirectory, "group"), $"{(user.ServerIsRoot ? "root:x:0:\n" : "")}sandbox:x:{id}:\nnogroup:x:65534:\n");
        foreach (var file in new[] { "passwd", "group" })
        {
            File.SetUnixFileMode(Path.Combine(runtimeDirectory, file), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }
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

            if (_user.FileOwner is { } owner && Libc.FchownAt(-100, path, owner, owner, Libc.AT_SYMLINK_NOFOLLOW) != 0)
            {
                throw new IOException($"cannot give the secret file {name} to the sandbox user: errno {Marshal.GetLastPInvokeError()}");
            }

            File.SetUnixFileMode(path, UnixFileMode.UserRead);
        }

        return dir;
    }
}
