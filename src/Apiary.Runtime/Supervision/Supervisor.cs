using Apiary.Runtime.Telemetry;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Apiary.Agents;
using Apiary.Runtime.Messaging;

namespace Apiary.Runtime.Supervision;

/// <summary>
/// Watches every agent's lifecycle: it folds the log into a <see cref="LifecycleBoard"/> (the states found at start are
/// seeded silently), watches the agents' folders for changed definitions, records each state change as an event, tells
/// an agent's managers what they need to know as system messages, and restarts crashed runs with backoff up to a limit.
/// Everything happens on one loop, in the order it was seen.
/// </summary>
internal sealed class Supervisor : IAsyncDisposable
{
    /// <summary>The sender of the supervisor's system messages.</summary>
    public const string Sender = "apiary";

    private readonly ApiaryRuntime _runtime;
    private readonly SupervisorOptions _options;
    private readonly TimeProvider _clock;
    private readonly LifecycleBoard _board;
    private readonly Dictionary<string, AgentFingerprint> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _states = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AgentFailureDto> _failures = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<ITimer, byte> _timers = new();
    private readonly Channel<Func<Task>> _inputs = Channel.CreateUnbounded<Func<Task>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private FileSystemWatcher? _watcher;
    private Task _loop = Task.CompletedTask;
    private Task _follow = Task.CompletedTask;

    public Supervisor(ApiaryRuntime runtime, SupervisorOptions options, TimeProvider clock)
    {
        _runtime = runtime;
        _options = options;
        _clock = clock;
        _board = new LifecycleBoard(options.MaxRestarts);
    }

    /// <summary>Each agent's state as the supervisor last settled it; agents it has not seen are stopped.</summary>
    public string StateOf(string agent) => _states.GetValueOrDefault(agent) ?? LifecycleState.Stopped;

    /// <summary>How <paramref name="agent"/>'s last run that did not finish ended, and whether it is restarted; null when its last run finished.</summary>
    public AgentFailureDto? LastFailureOf(string agent) => _failures.GetValueOrDefault(agent);

    /// <summary>
    /// Seeds the board from the log as it stands and from the agents' files, silently (recording only one
    /// <c>lifecycle.seeded</c>), schedules the restarts a previous server left due, and starts following.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var last = _runtime.Feed.LastPosition;
        await foreach (var e in _runtime.Store.ReadAllAsync(1, cancellationToken).ConfigureAwait(false))
        {
            if (e.Position > last)
            {
                break;
            }

            _board.Apply(e);
        }

        foreach (var folder in Directory.Exists(_runtime.Home.AgentsDirectory) ? Directory.EnumerateDirectories(_runtime.Home.AgentsDirectory) : [])
        {
            var agent = Path.GetFileName(folder);
            if (AgentName.TryCreate(agent, out _, out _))
            {
                var fingerprint = AgentFingerprint.Of(folder);
                _files[agent] = fingerprint;
                _board.SetFiles(agent, fingerprint.Value, "seeded");
            }
        }

        Publish();
        PublishFailures();
        await _runtime.RecordAsync(LifecycleEventTypes.Stream, new EventData(
            LifecycleEventTypes.Seeded,
            JsonSerializer.SerializeToUtf8Bytes(new SeededData(new SortedDictionary<string, string>(_states, StringComparer.Ordinal), _clock.GetUtcNow()), RuntimeJsonContext.Default.SeededData)),
            cancellationToken).ConfigureAwait(false);

        _loop = Task.Run(LoopAsync, CancellationToken.None);
        var subscription = _runtime.Feed.Subscribe(last + 1, 1 << 16);
        _follow = Task.Run(() => FollowAsync(subscription, last + 1), CancellationToken.None);
        foreach (var crashed in _board.Crashed.ToList())
        {
            await ScheduleRestartAsync(crashed).ConfigureAwait(false);
        }

        WatchFolders();
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _watcher?.Dispose();
        foreach (var timer in _timers.Keys)
        {
            await timer.DisposeAsync().ConfigureAwait(false);
        }

        _inputs.Writer.TryComplete();
        await Task.WhenAll(_follow, _loop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
    }

    private async Task FollowAsync(LiveEventFeed.Subscription subscription, long next)
    {
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                await foreach (var e in subscription.ReadAllAsync(_stopping.Token).ConfigureAwait(false))
                {
                    next = e.Position + 1;
                    _inputs.Writer.TryWrite(() => ApplyAsync(e));
                }

                // Dropped for falling behind (or the feed ended): take up again where it stopped, nothing lost.
                subscription.Dispose();
                if (_stopping.IsCancellationRequested)
                {
                    break;
                }

                subscription = _runtime.Feed.Subscribe(next, 1 << 16);
            }
        }
        catch (OperationCanceledException)
        {
            // The server stops.
        }
        finally
        {
            subscription.Dispose();
        }
    }

    private async Task LoopAsync()
    {
        await foreach (var input in _inputs.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await input().ConfigureAwait(false);
            }
#pragma warning disable CA1031 // One input that cannot be handled (a record that fails, an agent that cannot load) must not stop supervision.
            catch (Exception ex) when (!_stopping.IsCancellationRequested)
#pragma warning restore CA1031
            {
                RuntimeLog.SupervisorChangeFailed(_runtime.Log, ex.Message, ex);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                // The server stops: what is left undone is taken up from the log by the next one.
            }
        }
    }

    private async Task ApplyAsync(RecordedEvent e)
    {
        var (transitions, notes) = _board.Apply(e);
        PublishFailures();
        await SettleAsync(transitions).ConfigureAwait(false);
        foreach (var note in notes)
        {
            await NotifyAsync(note).ConfigureAwait(false);
        }
    }

    private async Task SettleAsync(List<LifecycleTransition> transitions)
    {
        Publish();
        foreach (var t in transitions)
        {
            await _runtime.RecordAsync(LifecycleEventTypes.AgentStream(t.Agent), new EventData(
                LifecycleEventTypes.StateChanged,
                JsonSerializer.SerializeToUtf8Bytes(new StateChangedData(t.Agent, t.From, t.To, t.Reason, t.Run, _clock.GetUtcNow()), RuntimeJsonContext.Default.StateChangedData)),
                _stopping.Token).ConfigureAwait(false);
            if (t.To == LifecycleState.Crashed && _board.Crashed.FirstOrDefault(c => c.Agent == t.Agent) is { } crashed)
            {
                var next = crashed.Attempt + 1;
                var plan = next <= _options.MaxRestarts
                    ? $"the supervisor restarts it in {Seconds(_options.DelayBefore(next))} (restart {next} of {_options.MaxRestarts})"
                    : $"it is not restarted again ({_options.MaxRestarts} restarts in a row crashed); start it yourself once the cause is fixed";
                await NotifyAsync(new LifecycleNote(LifecycleNotice.Crashed, t.Agent, $"agent '{t.Agent}' crashed in run {crashed.Run}: {crashed.Error}; {plan}")).ConfigureAwait(false);
                await ScheduleRestartAsync(crashed).ConfigureAwait(false);
            }
            else if (t.To == LifecycleState.NeedsUpdate)
            {
                await NotifyAsync(new LifecycleNote(LifecycleNotice.NeedsUpdate, t.Agent, $"agent '{t.Agent}''s files changed since its run started ({t.Reason}); call update to reload its definition")).ConfigureAwait(false);
            }
        }
    }

    private void Publish()
    {
        foreach (var (agent, state) in _board.States)
        {
            _states[agent] = state;
        }
    }

    private void PublishFailures()
    {
        foreach (var agent in _failures.Keys.Where(a => !_board.Failures.ContainsKey(a)))
        {
            _failures.TryRemove(agent, out _);
        }

        foreach (var (agent, failure) in _board.Failures)
        {
            _failures[agent] = failure;
        }
    }

    /// <summary>Schedules the restart of a crashed run, unless the limit is reached; a restart already due replaces nothing (it checks the board first).</summary>
    private async Task ScheduleRestartAsync(CrashedRun crashed)
    {
        var attempt = crashed.Attempt + 1;
        if (attempt > _options.MaxRestarts)
        {
            return;
        }

        var delay = _options.DelayBefore(attempt);
        var now = _clock.GetUtcNow();

        // The timer first, then its record: whoever sees the record can count on the restart being due.
        ITimer? timer = null;
        timer = _clock.CreateTimer(
            _ =>
            {
                if (timer is not null && _timers.TryRemove(timer, out byte _))
                {
                    timer.Dispose();
                }

                _inputs.Writer.TryWrite(() => RestartAsync(crashed, attempt));
            },
            null,
            delay,
            Timeout.InfiniteTimeSpan);
        _timers[timer] = 0;
        await _runtime.RecordAsync(LifecycleEventTypes.AgentStream(crashed.Agent), new EventData(
            LifecycleEventTypes.RestartScheduled,
            JsonSerializer.SerializeToUtf8Bytes(
                new RestartScheduledData(crashed.Agent, crashed.Run, crashed.Session, attempt, _options.MaxRestarts, (long)delay.TotalMilliseconds, now + delay, now, crashed.Error),
                RuntimeJsonContext.Default.RestartScheduledData)),
            _stopping.Token).ConfigureAwait(false);
    }

    private async Task RestartAsync(CrashedRun crashed, int attempt)
    {
        // Someone started the agent meanwhile (or the crash was already restarted): nothing to do.
        if (_board.Crashed.FirstOrDefault(c => c.Agent == crashed.Agent) is not { } still || still.Run != crashed.Run)
        {
            return;
        }

        try
        {
            await _runtime.Runs.RestartRunAsync(crashed, attempt, _options.MaxRestarts, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException or JsonException)
        {
            await _runtime.RecordAsync(LifecycleEventTypes.AgentStream(crashed.Agent), new EventData(
                LifecycleEventTypes.RestartFailed,
                JsonSerializer.SerializeToUtf8Bytes(new RestartFailedData(crashed.Agent, crashed.Run, attempt, ex.Message, _clock.GetUtcNow()), RuntimeJsonContext.Default.RestartFailedData)),
                _stopping.Token).ConfigureAwait(false);
            await NotifyAsync(new LifecycleNote(LifecycleNotice.Crashed, crashed.Agent, $"agent '{crashed.Agent}' could not be restarted after crashing in run {crashed.Run}: {ex.Message}")).ConfigureAwait(false);
        }
    }

    /// <summary>A system message to the note's recipient, or to each of the agent's managers.</summary>
    private async Task NotifyAsync(LifecycleNote note)
    {
        var recipients = note.To is { } to ? [to] : await _runtime.Manager.ManagersOfAsync(note.Agent, _stopping.Token).ConfigureAwait(false);
        foreach (var recipient in recipients.Where(r => r != note.Agent))
        {
            var message = new MessageSentData(
                Guid.NewGuid().ToString("N"), Sender, recipient, "system", LifecycleEventTypes.AgentStream(note.Agent), null, null, null, _clock.GetUtcNow());
            await _runtime.Messaging.Broker.DeliverAsync(message, $"{note.Kind}: {note.Text}", _stopping.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Fingerprints an agent's folder again after a change in it; only a different fingerprint counts.</summary>
    private async Task FilesChangedAsync(string agent)
    {
        var folder = Path.Combine(_runtime.Home.AgentsDirectory, agent);
        var fingerprint = Directory.Exists(folder) ? AgentFingerprint.Of(folder) : null;
        var before = _files.GetValueOrDefault(agent);
        if (fingerprint?.Value == before?.Value)
        {
            return;
        }

        if (fingerprint is null)
        {
            _files.Remove(agent);
        }
        else
        {
            _files[agent] = fingerprint;
        }

        var changed = fingerprint?.ChangedSince(before) ?? [];
        var reason = fingerprint is null ? "its folder was removed" : $"changed: {string.Join(", ", changed.Take(10))}{(changed.Count > 10 ? ", ..." : "")}";
        await SettleAsync(_board.SetFiles(agent, fingerprint?.Value, reason)).ConfigureAwait(false);
    }

    private void WatchFolders()
    {
        if (!Directory.Exists(_runtime.Home.AgentsDirectory))
        {
            return;
        }

        try
        {
            _watcher = new FileSystemWatcher(_runtime.Home.AgentsDirectory)
            {
                IncludeSubdirectories = true,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
            };
            _watcher.Changed += OnChange;
            _watcher.Created += OnChange;
            _watcher.Deleted += OnChange;
            _watcher.Renamed += OnChange;
            _watcher.Error += (_, e) => RuntimeLog.SupervisorWatchStopped(_runtime.Log, e.GetException().Message);
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException)
        {
            RuntimeLog.SupervisorCannotWatch(_runtime.Log, _runtime.Home.AgentsDirectory, ex.Message);
        }
    }

    private void OnChange(object sender, FileSystemEventArgs e)
    {
        var relative = Path.GetRelativePath(_runtime.Home.AgentsDirectory, e.FullPath).Replace('\\', '/');
        var agent = relative.Split('/')[0];
        var inside = relative.Length > agent.Length ? relative[(agent.Length + 1)..] : "";
        if (agent is "." or ".." || inside.StartsWith("workspace", StringComparison.Ordinal) || inside.StartsWith(".state", StringComparison.Ordinal) || !AgentName.TryCreate(agent, out _, out _))
        {
            return;
        }

        _inputs.Writer.TryWrite(() => FilesChangedAsync(agent));
    }

    private static string Seconds(TimeSpan delay) => delay.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + " s";
}
