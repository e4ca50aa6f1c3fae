using System.IO.Enumeration;

namespace Apiary.Sandbox.Execution;

/// <summary>
/// A session workspace's disk quota (the template's <c>disk_mb</c>). No kernel quota is assumed (project quotas need a
/// prepared file system), so it is kept by three means together: each command's file-size rlimit is the room left, so
/// one file can never pass the quota; while a command runs, the workspace is measured again and again, and a command
/// that has taken it past the quota is stopped (whatever it wrote in between is bounded by how fast it can write
/// between two measurements); and a workspace already over its quota gives the next command no room to write at all.
/// Usage counts every file's size rounded up to 4 KiB and 4 KiB for each folder and link, so a flood of empty files
/// counts too. Symbolic links are never followed.
/// </summary>
internal sealed class WorkspaceQuota
{
    private const long Block = 4096;

    private static readonly TimeSpan MinimumInterval = TimeSpan.FromMilliseconds(200);

    private readonly string _workspace;
    private long _usage = -1;

    public WorkspaceQuota(string workspace, long limitBytes)
    {
        _workspace = workspace;
        LimitBytes = limitBytes;
    }

    /// <summary>The most bytes the workspace may hold.</summary>
    public long LimitBytes { get; }

    /// <summary>The usage last measured (measuring now if never measured).</summary>
    public long Usage => Volatile.Read(ref _usage) is >= 0 and var usage ? usage : Measure();

    /// <summary>The largest file a command may write now: the room left, at most <paramref name="fileSizeLimit"/>.</summary>
    public long FileSizeLimit(long fileSizeLimit) => Math.Clamp(LimitBytes - Usage, 0, fileSizeLimit);

    /// <summary>Counts a change the server made itself (a file written) until the next measurement.</summary>
    public void Adjust(long bytes)
    {
        if (Volatile.Read(ref _usage) >= 0)
        {
            Interlocked.Add(ref _usage, bytes);
        }
    }

    /// <summary>
    /// Measures the workspace again off the caller's path, after a command ended; until it is done, the last figure
    /// stands (a command that starts meanwhile is still watched while it runs).
    /// </summary>
    public void MeasureSoon() => _ = Task.Run(Measure);

    /// <summary>Measures the workspace now and remembers the result.</summary>
    public long Measure()
    {
        var total = 0L;
        var entries = new FileSystemEnumerable<long>(
            _workspace,
            (ref entry) => entry.IsDirectory || (entry.Attributes & FileAttributes.ReparsePoint) != 0 ? Block : (entry.Length + Block - 1) / Block * Block,
            new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0, ReturnSpecialDirectories = false })
        {
            // A symbolic link to a folder is counted as a link, never walked into.
            ShouldRecursePredicate = (ref entry) => (entry.Attributes & FileAttributes.ReparsePoint) == 0,
        };
        try
        {
            foreach (var size in entries)
            {
                total += size;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file that vanished mid-walk: what was counted stands until the next measurement.
        }

        Volatile.Write(ref _usage, total);
        return total;
    }

    /// <summary>
    /// Measures the workspace until <paramref name="stop"/> is cancelled, and calls <paramref name="exceeded"/> (once)
    /// when a running command has grown it past the quota. A workspace that was already over it when the command
    /// started is only stopped from growing further.
    /// </summary>
    public async Task MonitorAsync(Action exceeded, CancellationToken stop)
    {
        var start = Usage;
        var pause = MinimumInterval;
        try
        {
            while (true)
            {
                // Most commands end before the first measurement; those that run on are measured from then on.
                await Task.Delay(pause, stop).ConfigureAwait(false);
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var usage = Measure();
                if (usage > LimitBytes && usage > start)
                {
                    exceeded();
                    return;
                }

                // Measuring a large workspace costs time: it never takes more than about a twentieth of a core.
                pause = TimeSpan.FromTicks(Math.Max(MinimumInterval.Ticks, clock.Elapsed.Ticks * 20));
            }
        }
        catch (OperationCanceledException)
        {
            // The command ended.
        }
    }
}
