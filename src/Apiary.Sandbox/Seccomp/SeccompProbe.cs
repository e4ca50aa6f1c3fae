using System.ComponentModel;
using System.Runtime.InteropServices;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Probe;

namespace Apiary.Sandbox.Seccomp;

/// <summary>Whether this machine's bubblewrap can load the seccomp filter, as found by <see cref="SeccompProbe"/>.</summary>
/// <param name="CanLoad">True when a sandbox started with the filter ran under it.</param>
/// <param name="Detail">What was found; when <paramref name="CanLoad"/> is false, why not.</param>
public sealed record SeccompProbeResult(bool CanLoad, string Detail)
{
    /// <summary>The result as a check of <c>apiary doctor</c>: degraded when the filter cannot load, since sandboxes still isolate.</summary>
    public CapabilityCheck ToCapabilityCheck() => CanLoad
        ? new CapabilityCheck("seccomp", CheckStatus.Ok, Detail)
        : new CapabilityCheck("seccomp", CheckStatus.Degraded, Detail,
            "commands run without the seccomp filter: namespaces, mounts, setuid files, keyrings, io_uring and other kernel "
            + "interfaces are not refused beyond what bubblewrap's namespaces and missing capabilities already stop",
            "use bubblewrap 0.3 or later on Linux 4.14 or later with seccomp enabled (CONFIG_SECCOMP_FILTER), on x86_64 or aarch64");
}

/// <summary>Finds whether this machine's bubblewrap can load the seccomp filter, by starting a real sandbox under it.</summary>
public static class SeccompProbe
{
    // Seccomp mode 2 is "filter": the command inside really runs under a loaded program, not merely next to a flag bwrap accepted.
    private const string ExpectFilterMode =
        "while read -r key value; do if [ \"$key\" = Seccomp: ]; then [ \"$value\" = 2 ] && exit 0; "
        + "echo \"seccomp mode $value, not 2 (filter)\" >&2; exit 3; fi; done </proc/self/status; "
        + "echo 'no Seccomp line in /proc/self/status' >&2; exit 3";

    /// <summary>Starts a sandbox under the filter with <paramref name="bwrapPath"/> (by default the installed bubblewrap).</summary>
    public static Task<SeccompProbeResult> RunAsync(string? bwrapPath = null, CancellationToken cancellationToken = default)
    {
        var architecture = RuntimeInformation.ProcessArchitecture;
        if (!SeccompFilter.IsSupported(architecture))
        {
            return Task.FromResult(new SeccompProbeResult(false, $"no syscall table for {architecture}; the filter supports x86_64 and aarch64"));
        }

        return RunAsync(bwrapPath, SeccompFilter.Build(architecture), cancellationToken);
    }

    /// <summary>Starts a sandbox under <paramref name="program"/>.</summary>
    internal static async Task<SeccompProbeResult> RunAsync(string? bwrapPath, byte[] program, CancellationToken cancellationToken)
    {
        var bwrap = bwrapPath ?? BubblewrapBackend.SearchPaths.FirstOrDefault(File.Exists);
        if (bwrap is null || !File.Exists(bwrap))
        {
            return new SeccompProbeResult(false, $"bubblewrap is not installed{(bwrap is null ? "" : $" at {bwrap}")}");
        }

        var directory = Directory.CreateTempSubdirectory("apiary-seccomp-");
        try
        {
            var programFile = SeccompFilter.WriteProgramFile(directory.FullName, program);
            var run = await FilteredBubblewrap.RunAsync(
                programFile, bwrap, ["--ro-bind", "/", "/", "--die-with-parent", "/bin/sh", "-c", ExpectFilterMode], cancellationToken)
                .ConfigureAwait(false);
            return run.ExitCode == 0
                ? new SeccompProbeResult(true, $"{program.Length / BpfInstruction.Size} instructions loaded by {bwrap} ({SeccompFilter.Describe().Sum(g => g.Calls.Count)} system calls refused)")
                : new SeccompProbeResult(false, $"{bwrap} could not run a command under the filter (exit {run.ExitCode}): {(run.Stderr + run.Stdout).Trim()}");
        }
        catch (Win32Exception ex)
        {
            return new SeccompProbeResult(false, $"could not start {bwrap}: {ex.Message}");
        }
        finally
        {
            try
            {
                directory.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A leftover program file in the temp folder is harmless.
            }
        }
    }
}
