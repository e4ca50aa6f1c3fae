using System.Globalization;
using Apiary.Sandbox.Native;

namespace Apiary.Sandbox.Execution;

/// <summary>Finds and signals the processes below a process, from <c>/proc</c>.</summary>
internal static class ProcessTree
{
    /// <summary>The pids of every descendant of <paramref name="root"/> (not <paramref name="root"/> itself).</summary>
    public static IReadOnlyList<int> Descendants(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            if (ParentOf(pid) is { } parent)
            {
                if (!children.TryGetValue(parent, out var list))
                {
                    children[parent] = list = [];
                }

                list.Add(pid);
            }
        }

        var result = new List<int>();
        var pending = new Stack<int>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            if (children.TryGetValue(pending.Pop(), out var list))
            {
                foreach (var child in list)
                {
                    result.Add(child);
                    pending.Push(child);
                }
            }
        }

        return result;
    }

    /// <summary>The short command name of <paramref name="pid"/> (<c>/proc/PID/comm</c>), or null when it is gone.</summary>
    public static string? CommandName(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n');
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Sends <paramref name="signal"/> to each pid, ignoring those already gone.</summary>
    public static void Signal(IEnumerable<int> pids, int signal)
    {
        foreach (var pid in pids)
        {
            _ = Libc.Kill(pid, signal);
        }
    }

    /// <summary>
    /// Whether <paramref name="pid"/> can no longer run any code of its own: it is gone, a zombie, or every one of its
    /// threads is exiting (the kernel's <c>PF_EXITING</c>) with its memory already released. What is left of such a
    /// process is the kernel tearing it down (its namespaces, its files), which can take a scheduler grace period or
    /// more, but never returns to user space.
    /// </summary>
    public static bool HasLeftUserSpace(int pid)
    {
        const uint exiting = 0x4; // PF_EXITING in include/linux/sched.h
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return true;
        }

        foreach (var task in tasks)
        {
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue;
            }

            // After the name's closing ')': state (0), ..., flags (6), ..., vsize (20); the name itself may hold spaces.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields.Length < 21)
            {
                return false;
            }

            if (fields[0] is "Z" or "X" or "x")
            {
                continue;
            }

            if (!uint.TryParse(fields[6], NumberStyles.None, CultureInfo.InvariantCulture, out var flags) || (flags & exiting) == 0 || fields[20] != "0")
            {
                return false;
            }
        }

        return true;
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            // The command name may contain spaces and parentheses; the fields after its closing ')' do not.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            var fields = stat[(close + 2)..].Split(' ', 3);
            return int.Parse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>
    /// Waits (up to <paramref name="timeoutMs"/>) until every one of <paramref name="pids"/> has exited, woken by the
    /// kernel the moment the last one goes (pidfd and poll), instead of sleeping in fixed steps.
    /// </summary>
    public static void WaitForExit(IReadOnlyList<int> pids, int timeoutMs)
    {
        var fds = new List<Libc.PollFd>(pids.Count);
        try
        {
            foreach (var pid in pids)
            {
                var fd = Libc.PidfdOpen(pid);
                if (fd >= 0)
                {
                    fds.Add(new Libc.PollFd { Fd = fd, Events = Libc.POLLIN });
                }
                else if (System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Libc.ENOSYS)
                {
                    // A kernel without pidfd_open (before 5.3): wait the old way, a millisecond at a time.
                    Thread.Sleep(1);
                    return;
                }
            }

            var clock = System.Diagnostics.Stopwatch.StartNew();
            var waiting = fds.ToArray();
            while (waiting.Length > 0 && clock.ElapsedMilliseconds < timeoutMs)
            {
                if (Libc.Poll(waiting, (nuint)waiting.Length, Math.Max(1, timeoutMs - (int)clock.ElapsedMilliseconds)) <= 0)
                {
                    continue;
                }

                waiting = [.. waiting.Where(w => w.Revents == 0).Select(w => w with { Revents = 0 })];
            }
        }
        finally
        {
            foreach (var fd in fds)
            {
                Libc.Close(fd.Fd);
            }
        }
    }
}
