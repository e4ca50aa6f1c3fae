using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Apiary.Protocol;
using Apiary.Sandbox.Native;

namespace Apiary.Sandbox.Execution;

/// <summary>
/// Runs one prepared process and reports it as observations: output as it comes (capped, with secrets scrubbed), then
/// how it ended. A timeout, a cancel or the output cap stops the whole process tree: TERM to every process of the
/// command, a grace period, then KILL; nothing the command started survives it.
/// </summary>
internal sealed class ExecRunner : IDisposable
{
    private const int ChunkBytes = 64 * 1024;

    private static readonly TimeSpan LeftoverWait = TimeSpan.FromSeconds(5);

    private readonly LaunchPlan _plan;
    private readonly ExecCommand _command;
    private readonly bool _confined;
    private readonly WorkspaceQuota? _quota;
    private readonly long _outputLimit;
    private readonly TimeSpan _timeout;
    private readonly TimeSpan _grace;
    private readonly SecretScrubber _scrubber;
    private readonly Func<long> _nextSequence;
    private readonly Lock _outputLock = new();
    private readonly CancellationTokenSource _stop = new();
    private long _outputBytes;
    private bool _truncated;
    private int _reason = -1;
    private int _lastSignal;

    public ExecRunner(LaunchPlan plan, ExecCommand command, bool confined, WorkspaceQuota? quota, long outputLimit, TimeSpan timeout, TimeSpan grace, SecretScrubber scrubber, Func<long> nextSequence)
    {
        _plan = plan;
        _command = command;
        _confined = confined;
        _quota = quota;
        _outputLimit = outputLimit;
        _timeout = timeout;
        _grace = grace;
        _scrubber = scrubber;
        _nextSequence = nextSequence;
    }

    public void Dispose() => _stop.Dispose();

    /// <summary>Asks the command to stop for <paramref name="reason"/>; the first reason given is the one reported.</summary>
    public void Stop(CompletionReason reason)
    {
        if (Interlocked.CompareExchange(ref _reason, (int)reason, -1) == -1)
        {
            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Already finished.
            }
        }
    }

    public async IAsyncEnumerable<Observation> RunAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Bounded so a slow reader slows the command down (its pipe fills) instead of Apiary buffering without end.
        var channel = Channel.CreateBounded<Observation>(new BoundedChannelOptions(64) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        var run = Task.Run(() => ProduceAsync(channel.Writer), CancellationToken.None);
        using var registration = cancellationToken.Register(() => Stop(CompletionReason.Cancelled));
        try
        {
            await foreach (var observation in channel.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                yield return observation;
            }
        }
        finally
        {
            // A reader that stops early (or fails) must not leave the command running.
            Stop(CompletionReason.Cancelled);
            await run.ConfigureAwait(false);
        }
    }

    private async Task ProduceAsync(ChannelWriter<Observation> writer)
    {
        var clock = Stopwatch.StartNew();
        Process? process = null;
        try
        {
            process = _plan.Start();
            OrphanReaper.Track(process.Id);
            var stdin = FeedStdinAsync(process);
            var stdout = PumpAsync(process.StandardOutput.BaseStream, OutputChannel.Stdout, writer);
            var stderr = PumpAsync(process.StandardError.BaseStream, OutputChannel.Stderr, writer);
            var exited = process.WaitForExitAsync(CancellationToken.None);
            using var ended = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            var quota = _quota?.MonitorAsync(() => Stop(CompletionReason.DiskQuota), ended.Token) ?? Task.CompletedTask;
            var timeout = Task.Delay(_timeout, _stop.Token);
            var first = await Task.WhenAny(exited, timeout).ConfigureAwait(false);
            if (first == timeout && !timeout.IsCanceled)
            {
                Stop(CompletionReason.TimedOut);
            }

            if (!exited.IsCompleted)
            {
                // Stopped (timeout, cancel or output cap) or about to be: wait for either.
                await Task.WhenAny(exited, Task.Delay(Timeout.Infinite, _stop.Token).ContinueWith(_ => { }, TaskScheduler.Default)).ConfigureAwait(false);
                if (!exited.IsCompleted)
                {
                    await KillTreeAsync(process, exited).ConfigureAwait(false);
                }
            }

            // Whatever the command left behind (daemons, background jobs) ends with it.
            KillLeftovers(process);
            await ended.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(stdout, stderr, stdin, quota).ConfigureAwait(false);
            _quota?.MeasureSoon();
            var tail = _scrubber.Flush();
            if (tail.Length > 0)
            {
                await writer.WriteAsync(new OutputObservation { RequestId = _command.RequestId, Sequence = _nextSequence(), Stream = OutputChannel.Stdout, Data = tail }).ConfigureAwait(false);
            }

            var reason = _reason == -1 ? CompletionReason.Exited : (CompletionReason)_reason;
            var killed = reason != CompletionReason.Exited && _lastSignal != 0;
            await writer.WriteAsync(new CompleteObservation
            {
                RequestId = _command.RequestId,
                Sequence = _nextSequence(),
                ExitCode = killed ? null : process.ExitCode,
                Signal = killed ? _lastSignal : null,
                DurationMs = clock.ElapsedMilliseconds,
                Truncated = _truncated,
                Reason = reason,
                Unconfined = !_confined,
            }).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            await writer.WriteAsync(new ErrorObservation { RequestId = _command.RequestId, Sequence = _nextSequence(), Code = "start_failed", Message = ex.Message }).ConfigureAwait(false);
        }
        finally
        {
            if (process is not null && !process.HasExited)
            {
                KillTreeNow(process);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            }

            if (process is not null)
            {
                OrphanReaper.Untrack(process.Id);
                process.Dispose();
            }

            _plan.Dispose();
            OrphanReaper.Reap();
            writer.TryComplete();
        }
    }

    private async Task FeedStdinAsync(Process process)
    {
        try
        {
            if (_command.Stdin is { Length: > 0 } bytes)
            {
                await process.StandardInput.BaseStream.WriteAsync(bytes, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The command exited or was stopped without reading all of its input.
        }
        finally
        {
            try
            {
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // Broken pipe: the command is gone.
            }
        }
    }

    private async Task PumpAsync(Stream stream, OutputChannel channel, ChannelWriter<Observation> writer)
    {
        var buffer = new byte[ChunkBytes];
        while (true)
        {
            var read = await stream.ReadAsync(buffer).ConfigureAwait(false);
            if (read == 0)
            {
                return;
            }

            int keep;
            lock (_outputLock)
            {
                var room = _outputLimit - _outputBytes;
                keep = (int)Math.Clamp(room, 0, read);
                _outputBytes += keep;
                if (keep < read)
                {
                    _truncated = true;
                }
            }

            if (keep > 0)
            {
                byte[] data;
                lock (_scrubber)
                {
                    data = _scrubber.Push(buffer.AsSpan(0, keep));
                }

                if (data.Length > 0)
                {
                    await writer.WriteAsync(new OutputObservation { RequestId = _command.RequestId, Sequence = _nextSequence(), Stream = channel, Data = data }).ConfigureAwait(false);
                }
            }

            if (keep < read)
            {
                // Over the cap: stop the command, but keep draining so it is never blocked on a full pipe.
                Stop(CompletionReason.OutputLimit);
            }
        }
    }

    /// <summary>TERM to every process of the command, the grace period, then KILL to all.</summary>
    private async Task KillTreeAsync(Process process, Task exited)
    {
        _lastSignal = Libc.SIGTERM;
        ProcessTree.Signal(CommandProcesses(process, includeSandboxMonitor: false), Libc.SIGTERM);
        await Task.WhenAny(exited, Task.Delay(_grace)).ConfigureAwait(false);
        if (!exited.IsCompleted)
        {
            _lastSignal = Libc.SIGKILL;
            KillTreeNow(process);
        }

        await exited.ConfigureAwait(false);
    }

    private void KillTreeNow(Process process)
    {
        // Killing the sandbox's outer process tears down its PID namespace, which kills everything inside at once.
        _ = Libc.Kill(process.Id, Libc.SIGKILL);
        ProcessTree.Signal(CommandProcesses(process, includeSandboxMonitor: true), Libc.SIGKILL);
    }

    private void KillLeftovers(Process process)
    {
        // Kill whatever is left and wait (briefly) until none of it can run any more, so that when the command is
        // reported complete, nothing of it runs. What usually remains is bubblewrap's init: the outer bubblewrap exits
        // as soon as it has the command's exit code, while the init is still being torn down by the kernel (its mount
        // and network namespaces), which takes a scheduler grace period or more. Such a process runs no code of its
        // own any more, so it is not waited for here: its cgroup goes back to the pool only once it is gone
        // (CommandCgroup.Release), and the orphan reaper collects it.
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < LeftoverWait)
        {
            // Without a cgroup, a sandbox's leftovers die with its PID namespace; a plain process's are its descendants.
            var left = _plan.Cgroup?.Processes() ?? (_confined ? [] : ProcessTree.Descendants(process.Id));
            if (left.Count == 0)
            {
                return;
            }

            ProcessTree.Signal(left, Libc.SIGKILL);
            if (left.All(ProcessTree.HasLeftUserSpace))
            {
                return;
            }

            // Killed, they are usually a few microseconds from exiting: wait for exactly that, not a fixed sleep.
            ProcessTree.WaitForExit(left, timeoutMs: 1);
        }
    }

    private IEnumerable<int> CommandProcesses(Process process, bool includeSandboxMonitor)
    {
        var pids = _plan.Cgroup?.Processes().ToList() ?? [process.Id, .. ProcessTree.Descendants(process.Id)];

        // bubblewrap's own processes are the sandbox's init: TERM to them would kill the command at once, with no
        // grace, so TERM goes to the command's processes only.
        return includeSandboxMonitor || !_confined ? pids : pids.Where(pid => ProcessTree.CommandName(pid) != "bwrap");
    }
}
