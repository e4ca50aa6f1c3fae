using System.Globalization;
using System.Text;
using Apiary.Sandbox.Templates;

namespace Apiary.Sandbox.Execution;

/// <summary>
/// The tiny <c>/bin/sh</c> script that starts every command: it joins the command's cgroups and sets its rlimits
/// with shell builtins (no extra program runs), then replaces itself with the command. Joining before anything
/// else runs means no child can be forked outside the limits.
/// </summary>
internal static class ShellPrelude
{
    public const string Shell = "/bin/sh";

    /// <summary>
    /// The script. Its values are numbers and cgroup paths Apiary made, never input from a command; the program and
    /// its arguments follow as positional parameters and are run by <c>exec "$@"</c>.
    /// </summary>
    public static string Script(SandboxTemplate template, long fileSizeLimitBytes, CommandCgroup? cgroup)
    {
        var script = new StringBuilder();
        foreach (var procs in cgroup?.ProcsFiles ?? [])
        {
            script.Append("echo $$ > '").Append(procs).Append("' && ");
        }

        // dash counts ulimit -f in 512-byte blocks and -v in KiB; -t is seconds.
        script.Append("ulimit -t ").Append(Number((long)Math.Ceiling(template.CpuTime.TotalSeconds)))
            .Append(" && ulimit -n ").Append(Number(template.OpenFiles))
            .Append(" && ulimit -f ").Append(Number(fileSizeLimitBytes / 512))
            .Append(" && ulimit -v ").Append(Number((long)(AddressSpaceBytes(template) / 1024)))
            .Append(" && exec \"$@\"");
        return script.ToString();
    }

    /// <summary>
    /// The address-space rlimit: the memory limit, with room for the reservations runtimes make without using them
    /// (the cgroup limit, where there is one, bounds what is really used).
    /// </summary>
    public static ulong AddressSpaceBytes(SandboxTemplate template) => ((ulong)template.MemoryMb + 256) * 1024 * 1024 * 4;

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
}
