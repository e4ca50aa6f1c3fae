using System.Diagnostics;
using System.Runtime.InteropServices;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Execution;
using Apiary.Sandbox.Native;

namespace Apiary.Sandbox.Probe;

/// <summary>Whether a piece of isolation is there.</summary>
public enum CheckStatus
{
    /// <summary>Available.</summary>
    Ok,

    /// <summary>Missing, but sandboxes still work with less protection.</summary>
    Degraded,

    /// <summary>Missing, and sandboxes cannot run without it.</summary>
    Missing,
}

/// <summary>One capability of the machine.</summary>
/// <param name="Name">What was checked, such as <c>bubblewrap</c> or <c>namespace:net</c>.</param>
/// <param name="Status">Ok, degraded or missing.</param>
/// <param name="Detail">What was found.</param>
/// <param name="Meaning">What its absence means for sandboxes (null when present).</param>
/// <param name="Fix">How to get it (null when present).</param>
public sealed record CapabilityCheck(string Name, CheckStatus Status, string Detail, string? Meaning = null, string? Fix = null);

/// <summary>What isolation this machine gives, as found by <see cref="CapabilityProbe"/>.</summary>
/// <param name="Checks">Every check, in a stable order.</param>
public sealed record CapabilityReport(IReadOnlyList<CapabilityCheck> Checks)
{
    /// <summary>True when the bubblewrap backend can run here.</summary>
    public bool SandboxUsable => Checks.All(c => c.Status != CheckStatus.Missing);
}

/// <summary>
/// Finds what isolation this machine gives: bubblewrap and each namespace it needs (by starting real sandboxes),
/// cgroup controllers for limits, rlimits, <c>openat2</c> for confined file access, and each layer of a real sandbox
/// seen from inside it (the sandbox user, capabilities, no-new-privileges, seccomp, kernel tunables, set-ID bits).
/// </summary>
public static class CapabilityProbe
{
    private static readonly (string Flag, string Name, bool Required)[] Namespaces =
    [
        ("--unshare-user", "user", true),
        ("--unshare-pid", "pid", true),
        ("--unshare-net", "net", true),
        ("--unshare-ipc", "ipc", true),
        ("--unshare-uts", "uts", true),
        ("--unshare-cgroup", "cgroup", false),
    ];

    /// <summary>Runs every check.</summary>
    public static async Task<CapabilityReport> RunAsync(CancellationToken cancellationToken = default)
    {
        var checks = new List<CapabilityCheck>();
        var bwrap = BubblewrapBackend.SearchPaths.FirstOrDefault(File.Exists);
        if (bwrap is null)
        {
            checks.Add(new CapabilityCheck("bubblewrap", CheckStatus.Missing, "bwrap is not installed",
                "commands cannot run in sandboxes; only the unconfined development backend (--unconfined) works", "apt-get install bubblewrap"));
        }
        else
        {
            var (code, output) = await RunAsync(bwrap, ["--version"], cancellationToken).ConfigureAwait(false);
            checks.Add(code == 0
                ? new CapabilityCheck("bubblewrap", CheckStatus.Ok, $"{output.Trim()} at {bwrap}")
                : new CapabilityCheck("bubblewrap", CheckStatus.Missing, $"{bwrap} does not run: {output.Trim()}", "commands cannot run in sandboxes", "reinstall bubblewrap"));
            if (code == 0)
            {
                foreach (var (flag, name, required) in Namespaces)
                {
                    var (nsCode, nsOutput) = await RunAsync(bwrap, [flag, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"], cancellationToken).ConfigureAwait(false);
                    checks.Add(nsCode == 0
                        ? new CapabilityCheck($"namespace:{name}", CheckStatus.Ok, "a sandbox can have its own")
                        : new CapabilityCheck(
                            $"namespace:{name}",
                            required ? CheckStatus.Missing : CheckStatus.Degraded,
                            $"cannot create one: {nsOutput.Trim()}",
                            required ? $"sandboxes cannot get a private {name} namespace, so they cannot run" : $"sandboxes share the host's {name} namespace view",
                            name == "user" ? "enable unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 (or user.max_user_namespaces > 0), or run as root" : "use a kernel with this namespace enabled"));
                }
            }
        }

        using var cgroups = Cgroups.Detect();
        foreach (var controller in new[] { "memory", "pids", "cpu" })
        {
            checks.Add(cgroups.Controllers.Contains(controller)
                ? new CapabilityCheck($"cgroup:{controller}", CheckStatus.Ok, $"cgroup v{cgroups.Version} controller usable")
                : new CapabilityCheck(
                    $"cgroup:{controller}",
                    CheckStatus.Degraded,
                    cgroups.Problem ?? "not available",
                    controller switch
                    {
                        "memory" => "memory is limited only by the address-space rlimit",
                        "pids" => "process counts are limited only by RLIMIT_NPROC, which does not apply to root",
                        _ => "CPU share is not limited (CPU time still is, by rlimit)",
                    },
                    "run the server as root, or in a cgroup delegated to its user (systemd-run --user -p Delegate=yes)"));
        }

        checks.Add(new CapabilityCheck("rlimits", CheckStatus.Ok, "CPU time, open files, file size and address space are set on every command"));
        checks.Add(ProbeOpenat2());
        if (bwrap is not null && checks.All(c => c.Status != CheckStatus.Missing))
        {
            checks.AddRange(await SandboxLayerProbe.RunAsync(bwrap, cancellationToken).ConfigureAwait(false));
        }

        checks.Add(new CapabilityCheck("kernel", CheckStatus.Ok, ReadOrEmpty("/proc/sys/kernel/osrelease").Trim()));
        return new CapabilityReport(checks);
    }

    private static CapabilityCheck ProbeOpenat2()
    {
        var fd = Libc.OpenAt2(-100, "/", Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0, Libc.RESOLVE_IN_ROOT);
        if (fd >= 0)
        {
            Libc.Close(fd);
            return new CapabilityCheck("openat2", CheckStatus.Ok, "file operations are confined to the workspace by the kernel");
        }

        return new CapabilityCheck("openat2", CheckStatus.Missing, $"errno {Marshal.GetLastPInvokeError()}",
            "read_file, write_file and list_dir cannot be confined safely, so they are refused", "use Linux 5.6 or later");
    }

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string program, IEnumerable<string> args, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(start)!;

            // .NET reaps this child (a bwrap, among others): the orphan reaper must leave it alone, or .NET finds its
            // exit status gone and stops the whole process.
            OrphanReaper.Track(process.Id);
            try
            {
                var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
                var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
                return (process.ExitCode, await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false));
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                }

                OrphanReaper.Untrack(process.Id);
            }
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }
}
