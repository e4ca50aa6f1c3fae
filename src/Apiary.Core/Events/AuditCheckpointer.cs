namespace Apiary.Events;

/// <summary>When a server signs checkpoints of its log. The defaults suit one Apiary node.</summary>
public sealed class AuditCheckpointOptions
{
    /// <summary>Sign a checkpoint once this many events are not covered by one (checkpoints themselves not counted). Default: 1000.</summary>
    public int EveryEvents { get; init; } = 1000;

    /// <summary>Sign a checkpoint at most this long after the first event it does not cover yet. Default: 60 seconds.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Fails with a message naming the fix when a value is out of range.</summary>
    public void Validate()
    {
        if (EveryEvents < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(EveryEvents), EveryEvents, "EveryEvents must be at least 1; the default is 1000.");
        }

        if (Interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(Interval), Interval, "Interval must be positive; the default is 60 seconds.");
        }
    }
}

/// <summary>
/// Signs checkpoints of the log of the server that owns it: every <see cref="AuditCheckpointOptions.EveryEvents"/> events,
/// <see cref="AuditCheckpointOptions.Interval"/> after the first event not covered yet, and when it is disposed (a clean
/// shutdown). Each checkpoint is written first to <c>keys/audit-head.json</c>, outside the log, then recorded in the log as
/// <c>audit.checkpoint</c>. It follows the log as it grows and checks that each new event links to the one before; when the
/// log was cut or rewritten under the running server, it stops signing, so the last good checkpoint still finds the damage.
/// </summary>
public sealed class AuditCheckpointer : IAsyncDisposable
{
    private readonly IEventStore _store;
    private readonly AuditKey _key;
    private readonly AuditFiles _files;
    private readonly AuditCheckpointOptions _options;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private long _last;
    private ReadOnlyMemory<byte> _lastHash = EventChain.ZeroHash;
    private long _uncovered;
    private AuditProblem? _damage;
    private int _disposed;

    /// <summary>A checkpointer that signs with <paramref name="key"/>; <see cref="StartAsync"/> starts it.</summary>
    public AuditCheckpointer(IEventStore store, AuditKey key, AuditFiles files, AuditCheckpointOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        if (!key.CanSign)
        {
            throw new ArgumentException("checkpoints are signed with the private key, not the public one", nameof(key));
        }

        options.Validate();
        _store = store;
        _key = key;
        _files = files;
        _options = options;
        _time = time;
    }

    /// <summary>
    /// Makes every committed event durable before a checkpoint that covers it is written outside the log, so that a power
    /// loss cannot leave a checkpoint of events the log lost. Default: nothing (the store's commits are durable already).
    /// </summary>
    public Func<CancellationToken, Task>? MakeDurable { get; init; }

    /// <summary>Where to say that a checkpoint could not be written, or that the log was damaged under the server.</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>What was found wrong with the log while the server ran, or null; once set, no more checkpoints are signed.</summary>
    public AuditProblem? Damage => Volatile.Read(ref _damage);

    /// <summary>Raised after each event it follows has been taken into account; tests wait on it.</summary>
    internal event Action<long>? Observed;

    /// <summary>Raised after each checkpoint is written and recorded; tests wait on it.</summary>
    internal event Action<AuditCheckpoint>? Checkpointed;

    /// <summary>
    /// Starts following the log from <paramref name="tail"/>, the end a check found it intact (or accepted) at. With
    /// <paramref name="anchorNow"/>, first signs a checkpoint of everything up to the end of the log as it is now.
    /// </summary>
    public async Task StartAsync(AuditTail tail, bool anchorNow, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tail);
        _last = tail.Position;
        _lastHash = tail.Hash;
        _uncovered = tail.Uncovered;
        if (anchorNow)
        {
            if (!await CatchUpAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new EventStoreException($"the log changed while it was being anchored: {Damage}");
            }

            _uncovered = Math.Max(_uncovered, 1);
            await CheckpointAsync(cancellationToken).ConfigureAwait(false);
        }

        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
    }

    /// <summary>Stops following the log and signs a last checkpoint of everything not covered yet (a clean shutdown).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stopping.Dispose();
        try
        {
            if (Damage is null && await CatchUpAsync(CancellationToken.None).ConfigureAwait(false))
            {
                await CheckpointAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            Warn?.Invoke($"the last audit checkpoint could not be written: {ex.Message}");
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        CancellationTokenSource? timer = null;
        Task? due = null;
        try
        {
            var events = _store.SubscribeAsync(_last + 1, stopping).GetAsyncEnumerator(stopping);
            await using (events.ConfigureAwait(false))
            {
                if (_uncovered > 0)
                {
                    (timer, due) = Arm();
                }

                Task<bool>? next = null;
                while (true)
                {
                    next ??= events.MoveNextAsync().AsTask();
                    if (due is not null && await Task.WhenAny(next, due).ConfigureAwait(false) == due)
                    {
                        Disarm(ref timer, ref due);
                        if (!await TryCheckpointAsync(stopping).ConfigureAwait(false))
                        {
                            return;
                        }

                        continue;
                    }

                    if (!await next.ConfigureAwait(false))
                    {
                        return;
                    }

                    var e = events.Current;
                    next = null;
                    if (e.Position <= _last)
                    {
                        continue;
                    }

                    if (!Observe(e))
                    {
                        return;
                    }

                    if (_uncovered >= _options.EveryEvents)
                    {
                        Disarm(ref timer, ref due);
                        if (!await TryCheckpointAsync(stopping).ConfigureAwait(false))
                        {
                            return;
                        }
                    }
                    else if (_uncovered > 0 && due is null)
                    {
                        (timer, due) = Arm();
                    }

                    Observed?.Invoke(e.Position);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is ApiaryException or ObjectDisposedException)
        {
            Warn?.Invoke($"audit checkpoints stopped: {ex.Message}; the next start checks the log from the last one");
        }
        finally
        {
            Disarm(ref timer, ref due);
        }
    }

    /// <summary>Signs a checkpoint; a failure to write one is reported and tried again later. False once the log is damaged.</summary>
    private async Task<bool> TryCheckpointAsync(CancellationToken cancellationToken)
    {
        try
        {
            await CheckpointAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException)
        {
            Warn?.Invoke($"an audit checkpoint could not be written: {ex.Message}; trying again with the next one");
        }

        return Damage is null;
    }

    private async Task CheckpointAsync(CancellationToken cancellationToken)
    {
        if (_uncovered == 0 || _last == 0)
        {
            return;
        }

        // The event seen last must still be there as it was seen: a log cut or rewritten under the server is never signed.
        RecordedEvent? current = null;
        await foreach (var e in _store.ReadAllAsync(_last, cancellationToken).ConfigureAwait(false))
        {
            current = e;
            break;
        }

        if (current is null || current.Position != _last || !current.Hash.Span.SequenceEqual(_lastHash.Span))
        {
            Fail(current is null || current.Position != _last
                ? new AuditProblem(AuditProblemKind.CutTail, _last, null, "the event at this position was cut off the log while the server was running")
                : new AuditProblem(AuditProblemKind.Rewritten, _last, null, "the event at this position was replaced while the server was running"));
            return;
        }

        if (MakeDurable is { } makeDurable)
        {
            await makeDurable(cancellationToken).ConfigureAwait(false);
        }

        var checkpoint = _key.Sign(AuditCheckpoint.CheckpointLabel, _last, _lastHash.Span, _time.GetUtcNow());

        // Outside the log first: a checkpoint recorded only in the log would be cut off with the events it covers.
        await _files.WriteHeadAsync(checkpoint, cancellationToken).ConfigureAwait(false);
        await _store.AppendAsync(AuditEvents.Stream, ExpectedVersion.Any, [AuditEvents.CheckpointEvent(checkpoint)], cancellationToken).ConfigureAwait(false);
        _uncovered = 0;
        Checkpointed?.Invoke(checkpoint);
    }

    /// <summary>Takes in the events committed after the last one seen; false when they do not link to it.</summary>
    private async Task<bool> CatchUpAsync(CancellationToken cancellationToken)
    {
        await foreach (var e in _store.ReadAllAsync(_last + 1, cancellationToken).ConfigureAwait(false))
        {
            if (!Observe(e))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Takes in the next event; false (and no more checkpoints) when it does not link to the last one seen.</summary>
    private bool Observe(RecordedEvent e)
    {
        // The link is enough here: a checkpoint signs the hash the chain has, and an event edited in place without that
        // hash is found by verification at its own position.
        if (e.Position != _last + 1 || !e.PreviousHash.Span.SequenceEqual(_lastHash.Span))
        {
            Fail(new AuditProblem(AuditProblemKind.BrokenLink, e.Position, null,
                $"it does not follow position {_last} as this server saw it: the log was cut or rewritten while the server was running"));
            return false;
        }

        _last = e.Position;
        _lastHash = e.Hash;
        if (!AuditEvents.IsCheckpoint(e))
        {
            _uncovered++;
        }

        return true;
    }

    private void Fail(AuditProblem problem)
    {
        Volatile.Write(ref _damage, problem);
        Warn?.Invoke($"the event log was damaged while the server was running ({problem}); no more audit checkpoints are signed, and 'apiary audit verify' reports it");
    }

    private (CancellationTokenSource Timer, Task Due) Arm()
    {
        var timer = new CancellationTokenSource();
        return (timer, Task.Delay(_options.Interval, _time, timer.Token));
    }

    private static void Disarm(ref CancellationTokenSource? timer, ref Task? due)
    {
        timer?.Cancel();
        timer?.Dispose();
        timer = null;
        due = null;
    }
}
