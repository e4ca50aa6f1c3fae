using System.Collections.Concurrent;
using System.Globalization;
using Apiary.Sandbox.Native;

namespace Apiary.Sandbox.Execution;

/// <summary>
/// Reaps bubblewrap's inner processes. bubblewrap's outer process exits as soon as it learns the command's exit code,
/// leaving the sandbox's init process to be reaped by whoever adopts it. Where that is a PID 1 that never reaps (Apiary
/// itself as a container's PID 1, or a minimal init), each command would leave a zombie. So this process makes itself
/// the adopter (a child subreaper) and reaps those orphans itself, and only those: processes .NET started are left to
/// .NET, so their exit codes stay intact.
/// </summary>
internal static class OrphanReaper
{
    private static readonly ConcurrentDictionary<int, byte> Started = new();
    private static readonly TimeSpan ScanInterval = TimeSpan.FromSeconds(1);
    private static int _enabled;
    private static long _lastScan;

    /// <summary>Makes this process adopt its descendants' orphans. Idempotent.</summary>
    public static void Enable()
    {
        if (Interlocked.Exchange(ref _enabled, 1) == 0)
        {
            _ = Libc.Prctl(Libc.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
    }

    /// <summary>Marks a pid as started (and so reaped) by .NET.</summary>
    public static void Track(int pid) => Started[pid] = 0;

    /// <summary>Forgets a pid once .NET has reaped it.</summary>
    public static void Untrack(int pid) => Started.TryRemove(pid, out _);

    /// <summary>
    /// Reaps every zombie child of this process that .NET did not start. Scanning <c>/proc</c> costs more than
    /// starting a sandbox, so it runs at most once a second unless <paramref name="now"/> asks for it; zombies hold
    /// no memory, only a pid, until then.
    /// </summary>
    public static void Reap(bool now = false)
    {
        if (Volatile.Read(ref _enabled) == 0)
        {
            return;
        }

        var last = Interlocked.Read(ref _lastScan);
        var time = Environment.TickCount64;
        if (!now && (time - last < ScanInterval.TotalMilliseconds || Interlocked.CompareExchange(ref _lastScan, time, last) != last))
        {
            return;
        }

        var self = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || Started.ContainsKey(pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ', 3);
                if (fields[0] == "Z" && fields[1] == self && stat.Contains("(bwrap)", StringComparison.Ordinal))
                {
                    _ = Libc.WaitPid(pid, out _, Libc.WNOHANG);
                }
            }
            catch (IOException)
            {
                // Gone already.
            }
        }
    }
}
