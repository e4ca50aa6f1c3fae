using Apiary.Events;
using Apiary.Storage.Sqlite;
using Apiary.Testing;

namespace Apiary.Tests.Events;

/// <summary>When checkpoints are signed: every N events, an interval after the first uncovered event, and on shutdown.</summary>
public sealed class AuditCheckpointerTests : IAsyncLifetime
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    private AuditedLog _log = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _log = await AuditedLog.CreateAsync();

    public ValueTask DisposeAsync() => _log.DisposeAsync();

    [Fact]
    public async Task Checkpointer_EveryNEvents_SignsAtTheNthAndRecordsItInsideAndOutsideTheLog()
    {
        var checkpointer = _log.Checkpointer(new AuditCheckpointOptions { EveryEvents = 5, Interval = TimeSpan.FromDays(1) });
        var signed = Watch(checkpointer);
        await checkpointer.StartAsync(new AuditTail(0, EventChain.ZeroHash, 0, 0), anchorNow: false, Ct);

        await _log.StepsAsync(4);
        var first = signed.NextAsync();
        await _log.StepsAsync(1);
        Assert.Equal(5, (await first).Position);

        // The checkpoint recorded at 6 is not counted: the next one covers five more events, 7 to 11.
        var second = signed.NextAsync();
        await _log.StepsAsync(5);
        var checkpoint = await second;
        Assert.Equal(11, checkpoint.Position);
        Assert.Equal(checkpoint, await _log.Files.ReadHeadAsync(Ct));
        Assert.Equal([6L, 12L], (await _log.ReadAuditStreamAsync()).Select(e => e.Position));
        Assert.Equal(0, _log.Clock.TimerCount);

        await checkpointer.DisposeAsync();
        Assert.Equal(2, (await _log.ReadAuditStreamAsync()).Count);
        Assert.True((await _log.VerifyAsync()).IsIntact);
    }

    [Fact]
    public async Task Checkpointer_IntervalAfterFirstUncoveredEvent_SignsOnceThenWaitsForNewEvents()
    {
        var checkpointer = _log.Checkpointer(new AuditCheckpointOptions { EveryEvents = 1000, Interval = Minute });
        var signed = Watch(checkpointer);
        await checkpointer.StartAsync(new AuditTail(0, EventChain.ZeroHash, 0, 0), anchorNow: false, Ct);

        await _log.StepsAsync(2);
        await signed.ObservedAsync(2);
        _log.Clock.Advance(Minute - TimeSpan.FromSeconds(1));
        Assert.Equal(1, _log.Clock.TimerCount);
        Assert.Null(await _log.Files.ReadHeadAsync(Ct));

        var first = signed.NextAsync();
        _log.Clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, (await first).Position);

        // Its own record (position 3) arms nothing: a quiet log is not checkpointed again.
        await signed.ObservedAsync(3);
        Assert.Equal(0, _log.Clock.TimerCount);
        _log.Clock.Advance(TimeSpan.FromHours(1));
        Assert.Single(await _log.ReadAuditStreamAsync());

        await _log.StepsAsync(1);
        await signed.ObservedAsync(4);
        var second = signed.NextAsync();
        _log.Clock.Advance(Minute);
        var checkpoint = await second;
        Assert.Equal(4, checkpoint.Position);
        Assert.Equal(_log.Clock.GetUtcNow(), checkpoint.At);

        await checkpointer.DisposeAsync();
    }

    [Fact]
    public async Task Checkpointer_Disposed_SignsWhatIsNotCoveredAndNothingWhenAllIs()
    {
        var checkpointer = _log.Checkpointer(new AuditCheckpointOptions());
        await checkpointer.StartAsync(new AuditTail(0, EventChain.ZeroHash, 0, 0), anchorNow: false, Ct);
        await _log.StepsAsync(3);

        await checkpointer.DisposeAsync();

        Assert.Equal(3, (await _log.Files.ReadHeadAsync(Ct))!.Position);
        var report = await AuditVerifier.VerifyTailAsync(_log.Store, _log.Files, Ct);
        Assert.True(report.IsIntact);
        Assert.Equal((4L, 3L, 0L), (report.Tail.Position, report.Tail.Covered, report.Tail.Uncovered));

        // A server that starts and stops with nothing new signs nothing new.
        var again = _log.Checkpointer(new AuditCheckpointOptions());
        await again.StartAsync(report.Tail, anchorNow: false, Ct);
        await again.DisposeAsync();
        Assert.Single(await _log.ReadAuditStreamAsync());
    }

    [Fact]
    public async Task Attack_LogCutAndRewrittenWhileRunning_NothingMoreIsSigned()
    {
        var damaged = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var checkpointer = _log.Checkpointer(new AuditCheckpointOptions { EveryEvents = 3, Interval = Minute }, warning => damaged.TrySetResult(warning));
        var signed = Watch(checkpointer);
        await checkpointer.StartAsync(new AuditTail(0, EventChain.ZeroHash, 0, 0), anchorNow: false, Ct);
        var first = signed.NextAsync();
        await _log.StepsAsync(3);
        Assert.Equal(3, (await first).Position);                                // recorded at 4
        await _log.StepsAsync(2);                                                // 5..6
        await signed.ObservedAsync(6);

        // Another writer on the file (a second process) cuts the log after the checkpoint and appends events of its own.
        await LogTamper.CutAsync(_log.StorePath, 5);
        await using (var other = await SqliteEventStore.OpenAsync(_log.StorePath, cancellationToken: Ct))
        {
            for (var i = 0; i < 3; i++)
            {
                await other.AppendAsync("session-9", ExpectedVersion.Any, [new EventData("forged", "{}"u8.ToArray())], Ct);
            }
        }

        Assert.Contains("the event log was damaged while the server was running (broken at position 7:", await damaged.Task.WaitAsync(TimeSpan.FromMinutes(1), Ct), StringComparison.Ordinal);
        await checkpointer.DisposeAsync();
        Assert.Equal(AuditProblemKind.BrokenLink, checkpointer.Damage!.Kind);
        Assert.Equal(3, (await _log.Files.ReadHeadAsync(Ct))!.Position);
        Assert.Single(await _log.ReadAuditStreamAsync());
    }

    private static CheckpointWatch Watch(AuditCheckpointer checkpointer) => new(checkpointer);

    /// <summary>Waits for the checkpointer's next checkpoint, or for it to have taken in a position.</summary>
    private sealed class CheckpointWatch
    {
        private readonly Lock _gate = new();
        private TaskCompletionSource<AuditCheckpoint>? _next;
        private long _observed;
        private readonly List<(long Position, TaskCompletionSource Seen)> _waiting = [];

        public CheckpointWatch(AuditCheckpointer checkpointer)
        {
            checkpointer.Checkpointed += checkpoint =>
            {
                lock (_gate)
                {
                    _next?.TrySetResult(checkpoint);
                    _next = null;
                }
            };
            checkpointer.Observed += position =>
            {
                lock (_gate)
                {
                    _observed = position;
                    foreach (var waiter in _waiting.Where(w => w.Position <= position).ToList())
                    {
                        waiter.Seen.TrySetResult();
                        _waiting.Remove(waiter);
                    }
                }
            };
        }

        public Task<AuditCheckpoint> NextAsync()
        {
            lock (_gate)
            {
                _next = new TaskCompletionSource<AuditCheckpoint>(TaskCreationOptions.RunContinuationsAsynchronously);
                return _next.Task.WaitAsync(TimeSpan.FromMinutes(1), Ct);
            }
        }

        public Task ObservedAsync(long position)
        {
            lock (_gate)
            {
                if (_observed >= position)
                {
                    return Task.CompletedTask;
                }

                var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiting.Add((position, seen));
                return seen.Task.WaitAsync(TimeSpan.FromMinutes(1), Ct);
            }
        }
    }
}
