using System.Globalization;
using Apiary.Sandbox.Templates;

namespace Apiary.Sandbox.Execution;

/// <summary>
/// Per-command control groups for memory, process-count and CPU limits, on cgroup v1 or v2, where the machine lets
/// Apiary create them. Each command gets its own group under an <c>apiary</c> group nested in this process's own.
/// Creating and removing a group costs the kernel several milliseconds (more than starting a sandbox), so emptied
/// groups are kept in a pool and reused, with their limits written afresh for each command.
/// </summary>
internal sealed class Cgroups : IDisposable
{
    /// <summary>How many idle groups are kept for reuse.</summary>
    private const int PoolSize = 128;

    /// <summary>How long a returned group's last, killed processes are waited for before it is removed anyway.</summary>
    private static readonly TimeSpan EmptyWait = TimeSpan.FromSeconds(10);

    private readonly IReadOnlyList<string> _v1Parents;
    private readonly string? _v2Parent;
    private readonly System.Collections.Concurrent.ConcurrentBag<CommandCgroup> _pool = [];
    private volatile bool _disposed;

    private Cgroups(IReadOnlyList<string> v1Parents, string? v2Parent, IReadOnlyList<string> controllers, string? problem)
    {
        _v1Parents = v1Parents;
        _v2Parent = v2Parent;
        Controllers = controllers;
        Problem = problem;
    }

    /// <summary>The controllers Apiary can use: some of <c>memory</c>, <c>pids</c>, <c>cpu</c>.</summary>
    public IReadOnlyList<string> Controllers { get; }

    /// <summary>Why cgroups cannot be used (or are only partly usable), for people; null when all is well.</summary>
    public string? Problem { get; }

    /// <summary>The cgroup version in use: 1, 2, or 0 when none.</summary>
    public int Version => _v2Parent is not null ? 2 : _v1Parents.Count > 0 ? 1 : 0;

    /// <summary>True when commands get a cgroup (and with it a reliable way to find all their processes).</summary>
    public bool Available => Version != 0;

    private static readonly string[] Wanted = ["memory", "pids", "cpu"];

    /// <summary>Finds which cgroup controllers this process can delegate to commands.</summary>
    public static Cgroups Detect()
    {
        try
        {
            var mounts = File.ReadAllLines("/proc/self/mounts").Select(l => l.Split(' ')).Where(f => f.Length >= 4).ToList();
            var own = File.ReadAllLines("/proc/self/cgroup").Select(l => l.Split(':', 3)).Where(f => f.Length == 3).ToList();
            var v1 = new List<string>();
            var controllers = new List<string>();
            var problems = new List<string>();
            foreach (var controller in Wanted)
            {
                var mount = mounts.FirstOrDefault(f => f[2] == "cgroup" && f[3].Split(',').Contains(controller));
                if (mount is null)
                {
                    continue;
                }

                var ownPath = own.FirstOrDefault(f => f[1].Split(',').Contains(controller))?[2] ?? "/";
                var parent = Path.Combine(mount[1] + ownPath, "apiary");
                if (TryCreate(parent, out var why))
                {
                    v1.Add(parent);
                    controllers.Add(controller);
                }
                else
                {
                    problems.Add($"{controller}: {why}");
                }
            }

            if (v1.Count > 0)
            {
                return new Cgroups(v1, null, controllers, problems.Count == 0 ? null : string.Join("; ", problems));
            }

            var unified = mounts.FirstOrDefault(f => f[2] == "cgroup2");
            if (unified is not null)
            {
                var root = unified[1];
                var available = File.Exists(Path.Combine(root, "cgroup.controllers"))
                    ? File.ReadAllText(Path.Combine(root, "cgroup.controllers")).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    : [];
                var usable = Wanted.Where(available.Contains).ToList();
                if (usable.Count == 0)
                {
                    return None("cgroup v2 is mounted but offers none of memory, pids, cpu to this process");
                }

                // Only the root group may have processes and enable controllers for children at once, so the apiary
                // group hangs off the root.
                var parent = Path.Combine(root, "apiary");
                if (TryCreate(parent, out var why)
                    && TryWrite(Path.Combine(root, "cgroup.subtree_control"), string.Join(' ', usable.Select(c => "+" + c)), out why)
                    && TryWrite(Path.Combine(parent, "cgroup.subtree_control"), string.Join(' ', usable.Select(c => "+" + c)), out why))
                {
                    return new Cgroups([], parent, usable, null);
                }

                return None($"cgroup v2: {why}");
            }

            return None(problems.Count > 0 ? string.Join("; ", problems) : "no cgroup file system with memory, pids or cpu is mounted");
        }
        catch (IOException ex)
        {
            return None(ex.Message);
        }
    }

    private static Cgroups None(string problem) => new([], null, [], problem);

    /// <summary>The groups of one command with the template's limits (reused when one is idle); null when cgroups are not available.</summary>
    public CommandCgroup? Create(string id, SandboxTemplate template)
    {
        var group = CreateEmpty(id);
        if (group is not null)
        {
            try
            {
                Limit(group, template);
            }
            catch (IOException)
            {
                group.Remove();
                throw;
            }
        }

        return group;
    }

    /// <summary>Groups for one command, without limits yet (reused when one is idle); null when cgroups are not available.</summary>
    public CommandCgroup? CreateEmpty(string id)
    {
        if (!Available)
        {
            return null;
        }

        if (_pool.TryTake(out var pooled))
        {
            return pooled;
        }

        var dirs = new List<string>();
        try
        {
            foreach (var parent in _v2Parent is not null ? [_v2Parent] : _v1Parents)
            {
                // Named after this process, so that a server starting after it died can tell its groups from a live one's.
                var dir = Path.Combine(parent, ProcessOwner.Token + "-" + id);
                Directory.CreateDirectory(dir);
                dirs.Add(dir);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            new CommandCgroup(this, dirs).Remove();
            throw new IOException($"cannot create the command's cgroup: {ex.Message}", ex);
        }

        return new CommandCgroup(this, dirs);
    }

    /// <summary>
    /// Takes back a group for reuse once it is empty, or removes it when the pool is full. A group whose last processes
    /// are still being torn down by the kernel (killed, running no code of their own) is taken back in the background
    /// once they are gone, so the command that used it need not wait for that.
    /// </summary>
    internal void Return(CommandCgroup group)
    {
        var left = group.Processes();
        if (left.Count > 0)
        {
            _ = Task.Run(async () =>
            {
                // They were killed and have left user space; the kernel usually finishes with them within milliseconds.
                var patience = System.Diagnostics.Stopwatch.StartNew();
                while (group.Processes() is { Count: > 0 } still && patience.Elapsed < EmptyWait)
                {
                    ProcessTree.Signal(still, Native.Libc.SIGKILL);
                    await Task.Delay(2).ConfigureAwait(false);
                }

                Put(group);
            });
            return;
        }

        Put(group);
    }

    private void Put(CommandCgroup group)
    {
        if (!_disposed && _pool.Count < PoolSize && group.Processes().Count == 0)
        {
            _pool.Add(group);
        }
        else
        {
            group.Remove();
        }
    }

    /// <summary>
    /// Removes the groups a process no longer running left (a server killed with SIGKILL), killing first whatever still
    /// runs in them; returns how many it removed. Groups of live processes, and groups not named after an owner, are
    /// left alone.
    /// </summary>
    public int ReapDead()
    {
        var removed = 0;
        foreach (var parent in _v2Parent is not null ? [_v2Parent] : _v1Parents)
        {
            string[] groups;
            try
            {
                groups = Directory.GetDirectories(parent);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            foreach (var dir in groups)
            {
                if (ProcessOwner.TokenIn(Path.GetFileName(dir)) is not { } owner || ProcessOwner.IsAlive(owner))
                {
                    continue;
                }

                var group = new CommandCgroup(this, [dir]);
                foreach (var pid in group.Processes())
                {
                    Native.Libc.Kill(pid, Native.Libc.SIGKILL);
                }

                group.Remove();
                removed += Directory.Exists(dir) ? 0 : 1;
            }
        }

        return removed;
    }

    /// <summary>Removes the idle groups.</summary>
    public void Dispose()
    {
        _disposed = true;
        while (_pool.TryTake(out var group))
        {
            group.Remove();
        }
    }

    /// <summary>Writes the template's limits into the group.</summary>
    public void Limit(CommandCgroup group, SandboxTemplate template)
    {
        var limits = (template.MemoryMb, template.Pids, template.Cpus);
        if (group.Limits == limits)
        {
            return;
        }

        // Unknown until every write below succeeded.
        group.Limits = null;
        foreach (var dir in group.Directories)
        {
            if (_v2Parent is not null)
            {
                WriteIfPresent(dir, "memory.max", Bytes(template.MemoryMb));
                WriteIfPresent(dir, "memory.swap.max", "0");
                WriteIfPresent(dir, "pids.max", Number(template.Pids));
                WriteIfPresent(dir, "cpu.max", $"{Number((long)(template.Cpus * 100_000))} 100000");
            }
            else
            {
                // memsw must stay at or above the memory limit, so the order of the two writes depends on the direction.
                WriteIfPresent(dir, "memory.memsw.limit_in_bytes", "-1");
                WriteIfPresent(dir, "memory.limit_in_bytes", Bytes(template.MemoryMb));
                WriteIfPresent(dir, "memory.memsw.limit_in_bytes", Bytes(template.MemoryMb));
                WriteIfPresent(dir, "pids.max", Number(template.Pids));
                if (File.Exists(Path.Combine(dir, "cpu.cfs_quota_us")))
                {
                    File.WriteAllText(Path.Combine(dir, "cpu.cfs_period_us"), "100000");
                    File.WriteAllText(Path.Combine(dir, "cpu.cfs_quota_us"), Number((long)(template.Cpus * 100_000)));
                }
            }
        }

        group.Limits = limits;
    }

    private static string Bytes(int mb) => Number((long)mb * 1024 * 1024);

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static void WriteIfPresent(string dir, string file, string value)
    {
        var path = Path.Combine(dir, file);
        if (File.Exists(path))
        {
            try
            {
                File.WriteAllText(path, value);
            }
            catch (IOException) when (file.Contains("swap", StringComparison.Ordinal) || file.Contains("memsw", StringComparison.Ordinal))
            {
                // Swap accounting is often compiled in but disabled; the memory limit alone still applies.
            }
        }
    }

    private static bool TryCreate(string dir, out string why)
    {
        try
        {
            // The folder may exist already (made by another user, root): only making a group inside it proves that
            // this process can give commands their own.
            Directory.CreateDirectory(dir);
            var probe = Path.Combine(dir, "probe-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(probe);
            Directory.Delete(probe);
            why = "";
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            why = $"cannot create {dir}: {ex.Message}";
            return false;
        }
    }

    private static bool TryWrite(string file, string value, out string why)
    {
        try
        {
            File.WriteAllText(file, value);
            why = "";
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            why = $"cannot write {file}: {ex.Message}";
            return false;
        }
    }
}

/// <summary>The cgroup folders of one command.</summary>
internal sealed class CommandCgroup(Cgroups owner, IReadOnlyList<string> directories)
{
    /// <summary>The group's folder in each hierarchy.</summary>
    public IReadOnlyList<string> Directories => directories;

    /// <summary>
    /// The limits last written into the group in full (memory in MiB, pids, CPUs), or null. Only this server writes a
    /// group's limits and a pooled group keeps them, so a command with the same limits as the group's last one needs no
    /// writes.
    /// </summary>
    internal (int MemoryMb, int Pids, double Cpus)? Limits { get; set; }

    /// <summary>Hands the group back once the command has ended: it is reused, or removed.</summary>
    public void Release() => owner.Return(this);

    /// <summary>The <c>cgroup.procs</c> files a process joins by writing its pid.</summary>
    public IEnumerable<string> ProcsFiles => directories.Select(d => Path.Combine(d, "cgroup.procs"));

    /// <summary>Every process in the command's groups now.</summary>
    public IReadOnlyList<int> Processes()
    {
        var pids = new HashSet<int>();
        foreach (var file in ProcsFiles)
        {
            try
            {
                foreach (var line in File.ReadAllLines(file))
                {
                    if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                    {
                        pids.Add(pid);
                    }
                }
            }
            catch (IOException)
            {
                // The group is gone: so are its processes.
            }
        }

        return [.. pids];
    }

    /// <summary>Removes the groups; they must be empty, so call it after every process has ended.</summary>
    public void Remove()
    {
        foreach (var dir in directories)
        {
            for (var attempt = 0; attempt < 50; attempt++)
            {
                try
                {
                    if (Directory.Exists(dir))
                    {
                        Directory.Delete(dir);
                    }

                    break;
                }
                catch (IOException)
                {
                    // The kernel releases an emptied group shortly after its last process is reaped.
                    Thread.Yield();
                }
            }
        }
    }
}
