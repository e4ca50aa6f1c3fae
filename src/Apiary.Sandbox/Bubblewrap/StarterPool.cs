using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Apiary.Sandbox.Execution;
using Apiary.Sandbox.Native;
using Apiary.Sandbox.Templates;

namespace Apiary.Sandbox.Bubblewrap;

/// <summary>
/// Pre-started, pre-placed sandbox launchers. Moving a process into a cgroup costs the kernel an RCU grace period
/// (several milliseconds on cgroup v1, longer than starting a sandbox), so it is done ahead of time: each starter is
/// a <c>/bin/bash</c> that has already joined its own cgroups and waits, blocked on opening a FIFO, to become
/// bubblewrap with <c>--args 3</c>. Taking one writes the command's limits into its cgroups, sets its rlimits with
/// <c>prlimit(2)</c> (it has no children yet, so nothing escapes them), then writes into the FIFO the command's words
/// and the bubblewrap options (environment included), each one NUL-terminated. The starter reads the words into an
/// array with <c>read -d ''</c> and bubblewrap reads the options itself: no value is ever parsed by a shell, so none
/// can become a shell word, a bubblewrap option or a second argument. The options never appear on a command line.
/// </summary>
internal sealed class StarterPool : IDisposable
{
    /// <summary>How many starters are kept waiting.</summary>
    private const int Warm = 4;

    private readonly string _bwrap;
    private readonly Cgroups _cgroups;
    private readonly string _runtime;
    private readonly ConcurrentQueue<Starter> _ready = new();
    private readonly Lock _refill = new();
    private int _filling;
    private bool _disposed;

    /// <summary>The shell each starter runs: bash, for <c>read -d ''</c> and arrays.</summary>
    public const string Shell = "/bin/bash";

    private readonly string? _seccomp;

    public StarterPool(string bwrap, Cgroups cgroups, string runtime, string? seccompProgram)
    {
        _seccomp = seccompProgram;
        _bwrap = bwrap;
        _cgroups = cgroups;
        _runtime = runtime;
        Refill();
    }

    /// <summary>A waiting starter with the template's limits applied, ready for <see cref="Starter.Release"/>.</summary>
    public Starter Take(SandboxTemplate template, long fileSizeLimitBytes)
    {
        Starter? starter = null;
        while (_ready.TryDequeue(out var candidate))
        {
            if (!candidate.Process.HasExited)
            {
                starter = candidate;
                break;
            }

            candidate.Discard();
        }

        starter ??= StartOnLauncher();
        Refill();
        try
        {
            if (starter.Cgroup is { } group)
            {
                _cgroups.Limit(group, template);
            }

            SetRlimits(starter.Process.Id, template, fileSizeLimitBytes);
            return starter;
        }
        catch
        {
            starter.Discard();
            throw;
        }
    }

    public void Dispose()
    {
        lock (_refill)
        {
            _disposed = true;
        }

        while (_ready.TryDequeue(out var starter))
        {
            starter.Discard();
        }
    }

    private void Refill()
    {
        if (Interlocked.Exchange(ref _filling, 1) == 1)
        {
            return;
        }

        _ = Task.Run(() =>
        {
            try
            {
                while (_ready.Count < Warm)
                {
                    lock (_refill)
                    {
                        if (_disposed)
                        {
                            return;
                        }

                        _ready.Enqueue(StartOnLauncher());
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                // Starters are made on demand when the pool cannot be filled ahead of time.
            }
            finally
            {
                Volatile.Write(ref _filling, 0);
            }
        });
    }

    /// <summary>
    /// Starts a starter from the one thread that starts them all and lives as long as the process. Bubblewrap runs with
    /// <c>--die-with-parent</c>, a parent-death signal, which Linux ties to the thread that forked the process, not to
    /// the process: a starter forked by a pool thread would have its command killed when that thread retires.
    /// </summary>
    private Starter StartOnLauncher() => Launcher.Run(Start);

    private Starter Start()
    {
        var id = Guid.NewGuid().ToString("N")[..16];
        var fifo = Path.Combine(_runtime, "start-" + id);
        if (Libc.MkFifo(fifo, 0x180) != 0)
        {
            throw new IOException($"cannot create the FIFO {fifo}: errno {Marshal.GetLastPInvokeError()}");
        }

        var cgroup = _cgroups.CreateEmpty(id);
        try
        {
            var script = new StringBuilder();
            foreach (var procs in cgroup?.ProcsFiles ?? [])
            {
                script.Append("echo $$ > '").Append(procs).Append("' && ");
            }

            // A starter first waits for one line on its standard input, a pipe only Apiary holds: 'go' when it is taken,
            // or the end of the pipe when Apiary is gone, however it ended (kill -9 included), and then it exits: no
            // starter outlives the server. Bash's read takes one byte at a time from a pipe, so nothing after the line
            // (the command's own input) is consumed.
            // Opening the FIFO then blocks until Apiary writes to it: first the number of words of the command, then each
            // word, then bubblewrap's options, all NUL-terminated. The words are read into an array by 'read -d ""' (never
            // evaluated); bubblewrap reads its options from fd 3 itself, and the seccomp program from fd 4.
            script.Append("IFS= read -r go && [[ $go == go ]] || exit 0; ");
            script.Append("exec 3< \"$1\" && ");
            if (_seccomp is not null)
            {
                script.Append("exec 4< \"$2\" && ");
            }

            script.Append("IFS= read -r -d '' count <&3 && [[ $count =~ ^[0-9]+$ ]] && words=() && ")
                .Append("for ((i = 0; i < count; i++)); do IFS= read -r -d '' word <&3 || exit 125; words+=(\"$word\"); done && ")
                .Append("exec \"$0\" --args 3 ").Append(_seccomp is null ? "" : "--seccomp 4 ").Append("-- \"${words[@]}\"");
            var start = new ProcessStartInfo(Shell)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = "/",
            };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(script.ToString());
            start.ArgumentList.Add(_bwrap);
            start.ArgumentList.Add(fifo);
            start.ArgumentList.Add(_seccomp ?? "");
            start.Environment.Clear();
            var process = Process.Start(start) ?? throw new InvalidOperationException("the starter did not start");
            OrphanReaper.Track(process.Id);
            return new Starter(process, cgroup, fifo);
        }
        catch
        {
            cgroup?.Remove();
            File.Delete(fifo);
            throw;
        }
    }

    private static void SetRlimits(int pid, SandboxTemplate template, long fileSizeLimitBytes)
    {
        Set(pid, Libc.RLIMIT_CPU, (ulong)Math.Ceiling(template.CpuTime.TotalSeconds));
        Set(pid, Libc.RLIMIT_NOFILE, (ulong)template.OpenFiles);
        Set(pid, Libc.RLIMIT_FSIZE, (ulong)Math.Max(0, fileSizeLimitBytes));
        Set(pid, Libc.RLIMIT_AS, ShellPrelude.AddressSpaceBytes(template));
    }

    private static void Set(int pid, int resource, ulong value)
    {
        var limit = new Libc.RLimit { Current = value, Max = value };
        if (Libc.Prlimit(pid, resource, in limit, 0) != 0)
        {
            throw new IOException($"cannot set resource limit {resource.ToString(CultureInfo.InvariantCulture)} on the sandbox: errno {Marshal.GetLastPInvokeError()}");
        }
    }
}

/// <summary>A pre-started launcher waiting on its FIFO.</summary>
/// <summary>The one thread that forks every starter, for as long as the process lives (see <see cref="StarterPool"/>).</summary>
internal static class Launcher
{
    private static readonly System.Collections.Concurrent.BlockingCollection<Action> Work = [];

    static Launcher()
    {
        new Thread(() =>
        {
            foreach (var work in Work.GetConsumingEnumerable())
            {
                work();
            }
        })
        {
            IsBackground = true,
            Name = "apiary sandbox launcher",
        }.Start();
    }

    /// <summary>Runs <paramref name="start"/> on the launcher thread and returns what it returns, or throws what it throws.</summary>
    public static T Run<T>(Func<T> start)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Work.Add(() =>
        {
            try
            {
                done.SetResult(start());
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        });
        return done.Task.GetAwaiter().GetResult();
    }
}

internal sealed class Starter(Process process, CommandCgroup? cgroup, string fifo)
{
    public Process Process { get; } = process;

    public CommandCgroup? Cgroup { get; } = cgroup;

    /// <summary>
    /// Turns the starter into bubblewrap with <paramref name="options"/> (read through the FIFO, so never on a command
    /// line) running <paramref name="command"/>, and returns its process.
    /// </summary>
    /// <exception cref="ArgumentException">A value holds a NUL.</exception>
    public Process Release(IReadOnlyList<string> options, IReadOnlyList<string> command)
    {
        var frame = Frame(options, command);
        Process.StandardInput.Write("go\n");
        Process.StandardInput.Flush();
        using (var stream = new FileStream(fifo, FileMode.Open, FileAccess.Write))
        {
            stream.Write(frame);
        }

        File.Delete(fifo);
        return Process;
    }

    /// <summary>
    /// What the starter reads: the number of command words, the words, then the options, each NUL-terminated. A value
    /// with a NUL inside cannot be framed (it would split in two), so it is refused.
    /// </summary>
    internal static byte[] Frame(IReadOnlyList<string> options, IReadOnlyList<string> command)
    {
        ArgumentVector.EnsureExact(options, "a sandbox option");
        ArgumentVector.EnsureExact(command, "the command");
        var frame = new MemoryStream();
        Append(frame, command.Count.ToString(CultureInfo.InvariantCulture));
        foreach (var word in command)
        {
            Append(frame, word);
        }

        foreach (var option in options)
        {
            Append(frame, option);
        }

        return frame.ToArray();

        static void Append(MemoryStream frame, string value)
        {
            frame.Write(Encoding.UTF8.GetBytes(value));
            frame.WriteByte(0);
        }
    }

    /// <summary>Kills an unused starter and removes what it holds.</summary>
    public void Discard()
    {
        try
        {
            Process.Kill();
            Process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        OrphanReaper.Untrack(Process.Id);
        Process.Dispose();
        Cgroup?.Remove();
        File.Delete(fifo);
    }
}
