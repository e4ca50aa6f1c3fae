using System.Globalization;
using System.Text;
using Apiary.Protocol;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Seccomp;

namespace Apiary.Sandbox.Probe;

/// <summary>
/// Checks each layer of a real sandbox from the inside: it opens a bubblewrap session on a scratch workspace, runs one
/// command that reports what it is (its uid on the host, its capabilities, no-new-privileges, its seccomp mode, whether
/// a kernel tunable or the workspace's set-user-ID bit can be written), and turns each answer into a check. A layer
/// this machine cannot give is reported as missing or degraded, never left out.
/// </summary>
internal static class SandboxLayerProbe
{
    // The probe's own script: a fixed text, no input from anywhere.
    private const string Script =
        "echo uid=$(id -u); grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t' | sed 's/:/=/'; " +
        "if (echo 60 > /proc/sys/vm/swappiness) 2>/dev/null; then echo sysctl=writable; else echo sysctl=readonly; fi; " +
        "touch probe && if chmod u+s probe 2>/dev/null; then echo setuid=allowed; else echo setuid=refused; fi; " +
        "awk '$2==\"/workspace\"{print \"workspace=\" $4}' /proc/self/mounts";

    public static async Task<IReadOnlyList<CapabilityCheck>> RunAsync(string bwrap, CancellationToken cancellationToken)
    {
        var workspace = Directory.CreateTempSubdirectory("apiary-probe-");
        try
        {
            using var backend = BubblewrapBackend.Create(bwrap);
            await using var session = await backend.OpenSessionAsync(new SandboxSessionOptions { Workspace = workspace.FullName }, cancellationToken).ConfigureAwait(false);
            var output = new StringBuilder();
            string? error = null;
            await foreach (var observation in session.ExecuteAsync(new ExecCommand { RequestId = "probe", Command = "/bin/sh", Args = ["-c", Script] }, cancellationToken).ConfigureAwait(false))
            {
                switch (observation)
                {
                    case OutputObservation { Stream: OutputChannel.Stdout } o:
                        output.Append(Encoding.UTF8.GetString(o.Data));
                        break;
                    case ErrorObservation e:
                        error = e.Message;
                        break;
                }
            }

            var seen = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.Ordinal);
            return error is null && seen.Count > 0 ? Checks(backend, seen, workspace.FullName) : [Failed(error ?? "the probe command printed nothing")];
        }
        catch (Exception ex) when (ex is SandboxUnavailableException or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            return [Failed(ex.Message)];
        }
        finally
        {
            workspace.Delete(recursive: true);
        }
    }

    private static CapabilityCheck Failed(string why) =>
        new("sandbox:layers", CheckStatus.Missing, $"a probe sandbox did not run: {why}", "commands cannot run in sandboxes", "run 'apiary doctor' after fixing the checks above");

    private static List<CapabilityCheck> Checks(BubblewrapBackend backend, Dictionary<string, string> seen, string workspace)
    {
        var checks = new List<CapabilityCheck>();
        var hostOwner = Native.Libc.OwnerOf(Path.Combine(workspace, "probe"));
        var uid = seen.GetValueOrDefault("uid");
        checks.Add(hostOwner is > 0
            ? new CapabilityCheck("sandbox:user", CheckStatus.Ok, $"commands run as {backend.User.Describe()}; their files are owned by host uid {hostOwner.ToString(CultureInfo.InvariantCulture)}")
            : new CapabilityCheck("sandbox:user", CheckStatus.Missing, $"a command's file is owned by host uid {hostOwner.ToString(CultureInfo.InvariantCulture)} (uid {uid} inside)",
                "commands would act as host root", "report this: the sandbox user must never be root"));

        checks.Add(seen.GetValueOrDefault("CapEff") is "0000000000000000" && seen.GetValueOrDefault("CapBnd") is "0000000000000000"
            ? new CapabilityCheck("sandbox:capabilities", CheckStatus.Ok, "none, and none can be regained (empty bounding set)")
            : new CapabilityCheck("sandbox:capabilities", CheckStatus.Missing, $"effective {seen.GetValueOrDefault("CapEff")}, bounding {seen.GetValueOrDefault("CapBnd")}",
                "commands hold capabilities", "use bubblewrap 0.8 or later"));

        checks.Add(seen.GetValueOrDefault("NoNewPrivs") == "1"
            ? new CapabilityCheck("sandbox:no-new-privileges", CheckStatus.Ok, "set-user-ID programs and file capabilities cannot raise a command's privileges")
            : new CapabilityCheck("sandbox:no-new-privileges", CheckStatus.Missing, "not set", "a set-user-ID program could raise a command's privileges", "use bubblewrap 0.8 or later"));

        var refused = SeccompFilter.Describe().Sum(g => g.Calls.Count);
        checks.Add(seen.GetValueOrDefault("Seccomp") == "2"
            ? new CapabilityCheck("sandbox:seccomp", CheckStatus.Ok, $"filter loaded: {refused.ToString(CultureInfo.InvariantCulture)} calls refused (keyrings, ptrace, mount, namespaces, bpf, perf, userfaultfd, modules, kexec, io_uring, set-ID bits, ...)")
            : new CapabilityCheck("sandbox:seccomp", CheckStatus.Degraded, backend.Seccomp ? "bubblewrap did not load the filter" : "no system-call table for this architecture",
                "commands can call keyrings, mount, namespaces, bpf, io_uring and the like (the kernel's own checks still apply)", "run Apiary on x86_64 or aarch64 with a kernel that has seccomp"));

        checks.Add(seen.GetValueOrDefault("sysctl") == "readonly"
            ? new CapabilityCheck("sandbox:kernel-tunables", CheckStatus.Ok, "/proc/sys cannot be written")
            : new CapabilityCheck("sandbox:kernel-tunables", CheckStatus.Missing, "/proc/sys is writable from a sandbox", "a command could change host-wide kernel settings", "report this"));

        var mountOptions = seen.GetValueOrDefault("workspace") ?? "";
        checks.Add(seen.GetValueOrDefault("setuid") == "refused" && mountOptions.Split(',').Contains("nosuid")
            ? new CapabilityCheck("sandbox:setuid", CheckStatus.Ok, "the workspace is mounted nosuid and set-ID bits cannot be set")
            : new CapabilityCheck("sandbox:setuid", CheckStatus.Degraded, $"set-ID bit {seen.GetValueOrDefault("setuid")}, workspace mounted {mountOptions}",
                "a command can make a set-user-ID file, owned by the unprivileged sandbox user", "see sandbox:seccomp"));

        checks.Add(new CapabilityCheck("sandbox:disk-quota", CheckStatus.Ok, "each workspace is held to its template's disk_mb (file-size rlimit of the room left, and a watch that stops a command past it)"));
        return checks;
    }
}
