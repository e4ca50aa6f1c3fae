using System.Globalization;
using Apiary.Protocol;
using Apiary.Sandbox.Templates;
using Apiary.Testing;

namespace Apiary.Sandbox.Tests.Execution;

/// <summary>Timeouts, cancels, limits: nothing a command starts outlives it, and the host stays healthy.</summary>
public sealed class ProcessLifetimeTests(BubblewrapFixture fixture) : IClassFixture<BubblewrapFixture>, IDisposable
{
    private readonly TempDirectory _workspace = new("apiary-ws");

    public void Dispose() => _workspace.Dispose();

    private Task<ISandboxSession> Open(SandboxTemplate? template = null) =>
        fixture.Backend.OpenSessionAsync(SessionExtensions.Options(_workspace, template), TestContext.Current.CancellationToken);

    /// <summary>
    /// A script that forks a TERM-ignoring child, daemonizes a grandchild (new session, double fork) and blocks; each
    /// runs <c>sleep</c> with <paramref name="marker"/> so the host can look for survivors.
    /// </summary>
    private static string Stubborn(string marker) =>
        $"trap '' TERM; (trap '' TERM; exec sleep {marker}) & setsid sh -c 'trap \"\" TERM; (sleep {marker} &) ; sleep {marker}' & echo started; sleep {marker}";

    private static int Survivors(string marker)
    {
        var count = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out _)
                    && File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Contains(marker, StringComparison.Ordinal))
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // The process ended while being looked at.
            }
        }

        return count;
    }

    private static string Marker() => (900_000 + Random.Shared.Next(99_999)).ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task Timeout_ForkingTermIgnoringDaemons_NoProcessSurvives()
    {
        var marker = Marker();
        await using var session = await Open();
        var outcome = await session.RunAsync(new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "/bin/sh", Args = ["-c", Stubborn(marker)], TimeoutMs = 1_000 });

        Assert.Equal(CompletionReason.TimedOut, outcome.Complete!.Reason);
        Assert.Contains("started", outcome.Stdout, StringComparison.Ordinal);
        Assert.Equal(9, outcome.Complete.Signal);
        Assert.Null(outcome.Complete.ExitCode);
        Assert.Equal(0, Survivors(marker));
    }

    [Fact]
    public async Task Cancel_ByRequestId_StopsTheWholeTree()
    {
        var marker = Marker();
        await using var session = await Open();
        var exec = new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "/bin/sh", Args = ["-c", Stubborn(marker)], TimeoutMs = 60_000 };
        var observations = new List<Observation>();
        await foreach (var observation in session.ExecuteAsync(exec, TestContext.Current.CancellationToken))
        {
            observations.Add(observation);
            if (observation is OutputObservation)
            {
                // The check below can see the command's processes while they run, so its zero at the end means something.
                Assert.True(Survivors(marker) > 0);
                var answer = await session.SingleAsync(new CancelCommand { RequestId = SessionExtensions.NextId(), TargetRequestId = exec.RequestId });
                Assert.IsType<PongObservation>(answer);
            }
        }

        var complete = Assert.IsType<CompleteObservation>(observations[^1]);
        Assert.Equal(CompletionReason.Cancelled, complete.Reason);
        Assert.True(complete.DurationMs < 30_000);
        Assert.Equal(0, Survivors(marker));
    }

    [Fact]
    public async Task Cancel_UnknownRequest_Error()
    {
        await using var session = await Open();
        var answer = await session.SingleAsync(new CancelCommand { RequestId = "c1", TargetRequestId = "nope" });
        Assert.Equal("unknown_request", Assert.IsType<ErrorObservation>(answer).Code);
    }

    [Fact]
    public async Task Cancel_ByToken_StopsAndReportsCancelled()
    {
        await using var session = await Open();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        CompleteObservation? complete = null;
        await foreach (var observation in session.ExecuteAsync(new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "/bin/sh", Args = ["-c", "echo go; sleep 100"] }, cts.Token))
        {
            if (observation is OutputObservation)
            {
                await cts.CancelAsync();
            }

            complete = observation as CompleteObservation ?? complete;
        }

        Assert.Equal(CompletionReason.Cancelled, complete!.Reason);
    }

    [Fact]
    public async Task Close_RunningCommands_Cancelled()
    {
        var marker = Marker();
        var session = await Open();
        var exec = new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "/bin/sh", Args = ["-c", $"echo up; sleep {marker}"] };
        var started = new TaskCompletionSource();
        var run = Task.Run(async () =>
        {
            CompleteObservation? last = null;
            await foreach (var observation in session.ExecuteAsync(exec, TestContext.Current.CancellationToken))
            {
                if (observation is OutputObservation)
                {
                    started.TrySetResult();
                }

                last = observation as CompleteObservation ?? last;
            }

            return last;
        }, TestContext.Current.CancellationToken);
        await started.Task;
        Assert.True(Survivors(marker) > 0);

        await session.DisposeAsync();

        Assert.Equal(CompletionReason.Cancelled, (await run)!.Reason);
        Assert.Equal(0, Survivors(marker));
        var after = await session.SingleAsync(new PingCommand { RequestId = "p" });
        Assert.Equal("session_closed", Assert.IsType<ErrorObservation>(after).Code);
    }

    [Fact]
    public async Task ExitNormally_BackgroundDaemonLeftBehind_Killed()
    {
        var marker = Marker();
        await using var session = await Open();
        var outcome = await session.ShAsync($"setsid sh -c 'sleep {marker}' > /dev/null 2>&1 & echo done");
        Assert.Equal(0, outcome.ExitCode);
        Assert.Equal(0, Survivors(marker));
    }

    [Fact]
    public async Task OutputLimit_Exceeded_TruncatedAndStopped()
    {
        await using var session = await Open();
        var outcome = await session.RunAsync(new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "/bin/sh", Args = ["-c", "yes abcdefgh"], OutputLimitBytes = 10_000 });
        Assert.Equal(CompletionReason.OutputLimit, outcome.Complete!.Reason);
        Assert.True(outcome.Complete.Truncated);
        Assert.Equal(10_000, outcome.Stdout.Length);
    }

    [Fact]
    public async Task ForkBomb_ContainedByPidsLimit_HostStaysHealthy()
    {
        await using var session = await Open(SandboxTemplate.Default with { Pids = 64 });
        var outcome = await session.RunAsync(new ExecCommand
        {
            RequestId = SessionExtensions.NextId(),
            Command = "/bin/sh",
            Args = ["-c", "bomb() { bomb | bomb & }; bomb; sleep 2; echo survived"],
            TimeoutMs = 10_000,
        });

        Assert.NotNull(outcome.Complete);

        // The host can still start processes and the sandbox is gone.
        var after = await session.RunAsync("echo", "fine");
        Assert.Equal("fine\n", after.Stdout);
    }

    [Fact]
    public async Task PidsLimit_AlternatingTemplates_EachCommandGetsItsOwn()
    {
        // The command cgroups are pooled and keep the limits last written: each command must still get its own template's.
        await using var small = await Open(SandboxTemplate.Default with { Pids = 16 });
        await using var large = await Open(SandboxTemplate.Default with { Pids = 256 });
        var spawn = new ExecCommand { RequestId = "", Command = "/bin/sh", Args = ["-c", "for i in $(seq 40); do sleep 30 & done; echo started"], TimeoutMs = 20_000 };
        for (var round = 0; round < 3; round++)
        {
            var refused = await small.RunAsync(spawn with { RequestId = SessionExtensions.NextId() });
            Assert.NotEqual(0, refused.ExitCode);
            var allowed = await large.RunAsync(spawn with { RequestId = SessionExtensions.NextId() });
            Assert.Equal(0, allowed.ExitCode);
            Assert.Equal("started\n", allowed.Stdout);
        }
    }

    [Fact]
    public async Task MemoryHog_KilledByLimit()
    {
        await using var session = await Open(SandboxTemplate.Default with { MemoryMb = 64 });
        var outcome = await session.RunAsync(new ExecCommand
        {
            RequestId = SessionExtensions.NextId(),
            Command = "python3",
            Args = ["-c", "b = []\nwhile True: b.append(bytearray(16 * 1024 * 1024))"],
            TimeoutMs = 30_000,
        });

        Assert.Equal(CompletionReason.Exited, outcome.Complete!.Reason);
        Assert.NotEqual(0, outcome.ExitCode);
    }

    [Fact]
    public async Task FileSizeLimit_LargerFileRefused()
    {
        await using var session = await Open(SandboxTemplate.Default with { FileSizeMb = 1 });
        var small = await session.ShAsync("head -c 900000 /dev/zero > /workspace/small && echo ok");
        var big = await session.ShAsync("head -c 1500000 /dev/zero > /workspace/big");
        Assert.Equal("ok\n", small.Stdout);
        Assert.NotEqual(0, big.ExitCode);
        Assert.True(new FileInfo(_workspace["big"]).Length <= 1024 * 1024);
    }

    [Fact]
    public async Task CpuTimeLimit_BusyLoopStopped()
    {
        await using var session = await Open(SandboxTemplate.Default with { CpuTime = TimeSpan.FromSeconds(1) });
        var outcome = await session.RunAsync(new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "/bin/sh", Args = ["-c", "while :; do :; done"], TimeoutMs = 20_000 });
        Assert.Equal(CompletionReason.Exited, outcome.Complete!.Reason);
        Assert.NotEqual(0, outcome.ExitCode);
    }

    [Fact]
    public async Task Concurrent_CommandsInOneSession_AllComplete()
    {
        await using var session = await Open();
        var runs = Enumerable.Range(0, 8).Select(i => session.ShAsync($"sleep 0.2; echo {i}")).ToList();
        var outcomes = await Task.WhenAll(runs);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"{i}\n"), outcomes.Select(o => o.Stdout));
    }
}
