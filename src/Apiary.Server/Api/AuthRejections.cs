using System.Collections.Concurrent;
using System.Net;

namespace Apiary.Server;

/// <summary>
/// Refused authentication, counted per source address and recorded as <c>auth.rejected</c> at most once per
/// <see cref="Interval"/> for each source: a source's first refusal at once (<c>count</c> 1), the later ones counted and
/// written as one summary when the interval since its last record has passed (how many, since when, the first
/// <see cref="MaxPaths"/> distinct paths and the reasons), so that a flood of missing or wrong tokens cannot fill the
/// log. Never the token. At most <see cref="MaxSources"/> sources are tracked: a new one pushes out the one recorded
/// longest ago, whose count is written first. Time comes from the injected clock.
/// </summary>
internal sealed class AuthRejections : IAsyncDisposable
{
    /// <summary>How long after a source's last record its refusals are only counted. One minute.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    /// <summary>The most sources tracked at once.</summary>
    public const int MaxSources = 1024;

    /// <summary>The most distinct <c>METHOD path</c> a summary lists.</summary>
    public const int MaxPaths = 16;

    /// <summary>The longest <c>METHOD path</c> kept, in characters; longer ones are cut, ending in '…'.</summary>
    public const int MaxPathChars = 200;

    private readonly TimeProvider _time;
    private readonly Func<AuthRejectedData, Task> _record;
    private readonly TimeSpan _interval;
    private readonly int _maxSources;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Source> _sources = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Task, byte> _writing = new();
    private readonly ITimer _timer;
    private DateTimeOffset _timerDue = DateTimeOffset.MaxValue;
    private bool _disposed;

    /// <param name="time">The clock of the intervals and of the records.</param>
    /// <param name="record">Appends one <c>auth.rejected</c> event; it must not throw (a refusal stands whether or not it is recorded).</param>
    /// <param name="interval">How long a source's refusals are only counted after its last record; default <see cref="Interval"/>.</param>
    /// <param name="maxSources">The most sources tracked at once; default <see cref="MaxSources"/>.</param>
    public AuthRejections(TimeProvider time, Func<AuthRejectedData, Task> record, TimeSpan? interval = null, int maxSources = MaxSources)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(record);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSources, 1);
        _time = time;
        _record = record;
        _interval = interval ?? Interval;
        _maxSources = maxSources;
        _timer = time.CreateTimer(_ => WriteSummaries(all: false), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>How many sources are tracked now.</summary>
    internal int Tracked
    {
        get
        {
            lock (_gate)
            {
                return _sources.Count;
            }
        }
    }

    /// <summary>
    /// Counts one refused request from <paramref name="remote"/>, and records it when it is the first from that source
    /// since its last record an interval or more ago; completes once that record is written.
    /// </summary>
    public Task RefuseAsync(IPAddress? remote, string method, string path, string reason)
    {
        var address = remote is { IsIPv4MappedToIPv6: true } ? remote.MapToIPv4().ToString() : remote?.ToString();
        var request = Clip($"{method} {path}");
        var now = _time.GetUtcNow();
        AuthRejectedData? first = null;
        AuthRejectedData? pushedOut = null;
        lock (_gate)
        {
            if (_disposed)
            {
                return Task.CompletedTask;
            }

            if (_sources.TryGetValue(address ?? "", out var source) && (source.Pending > 0 || now - source.RecordedAt < _interval))
            {
                source.Count(request, reason, method, path);
                Schedule(source.RecordedAt + _interval, now);
            }
            else
            {
                if (source is null && _sources.Count >= _maxSources)
                {
                    pushedOut = PushOutOldest(now);
                }

                _sources[address ?? ""] = new Source(address, now);
                first = new AuthRejectedData(address, method, Clip(path), reason, now, Count: 1);
            }
        }

        if (pushedOut is not null)
        {
            Write(pushedOut);
        }

        return first is null ? Task.CompletedTask : Write(first);
    }

    /// <summary>Writes what is counted and not yet recorded, and waits for every record to be written.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        await _timer.DisposeAsync().ConfigureAwait(false);
        WriteSummaries(all: true);

        // A timer callback that was under way may still have added a record.
        while (!_writing.IsEmpty)
        {
            await Task.WhenAll(_writing.Keys).ConfigureAwait(false);
        }
    }

    private static string Clip(string text) => text.Length <= MaxPathChars ? text : string.Concat(text.AsSpan(0, MaxPathChars - 1), "…");

    // The timer's work: a summary for each source whose interval has passed (every source with a count, at the end), and
    // sources with nothing counted since their interval passed are forgotten.
    private void WriteSummaries(bool all)
    {
        var summaries = new List<AuthRejectedData>();
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            _timerDue = DateTimeOffset.MaxValue;
            foreach (var (key, source) in _sources.ToList())
            {
                var due = source.RecordedAt + _interval <= now;
                if (source.Pending > 0 && (due || all))
                {
                    summaries.Add(source.Summarize(now));
                }
                else if (due)
                {
                    _sources.Remove(key);
                }
            }

            if (!_disposed)
            {
                foreach (var source in _sources.Values.Where(s => s.Pending > 0))
                {
                    Schedule(source.RecordedAt + _interval, now);
                }
            }
        }

        summaries.ForEach(s => Write(s));
    }

    private AuthRejectedData? PushOutOldest(DateTimeOffset now)
    {
        var (key, oldest) = _sources.MinBy(p => p.Value.RecordedAt);
        _sources.Remove(key);
        return oldest.Pending > 0 ? oldest.Summarize(now) : null;
    }

    private void Schedule(DateTimeOffset due, DateTimeOffset now)
    {
        if (due < _timerDue)
        {
            _timerDue = due;
            _timer.Change(due > now ? due - now : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }

    private Task Write(AuthRejectedData data)
    {
        var writing = _record(data);
        _writing.TryAdd(writing, 0);
        _ = writing.ContinueWith(done => _writing.TryRemove(done, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return writing;
    }

    /// <summary>One source: when it was last recorded, and what it was refused since.</summary>
    private sealed class Source(string? address, DateTimeOffset recordedAt)
    {
        private readonly List<string> _requests = [];
        private readonly List<string> _reasons = [];
        private (string Method, string Path, string Reason) _last;

        public DateTimeOffset RecordedAt { get; private set; } = recordedAt;

        public int Pending { get; private set; }

        public void Count(string request, string reason, string method, string path)
        {
            Pending++;
            _last = (method, Clip(path), reason);
            if (_requests.Count < MaxPaths && !_requests.Contains(request, StringComparer.Ordinal))
            {
                _requests.Add(request);
            }

            if (_reasons.Count < MaxPaths && !_reasons.Contains(reason, StringComparer.Ordinal))
            {
                _reasons.Add(reason);
            }
        }

        /// <summary>What was counted since the last record, as one; counting starts again from now.</summary>
        public AuthRejectedData Summarize(DateTimeOffset now)
        {
            var summary = new AuthRejectedData(address, _last.Method, _last.Path, _last.Reason, now, Pending, RecordedAt, [.. _requests], [.. _reasons]);
            RecordedAt = now;
            Pending = 0;
            _requests.Clear();
            _reasons.Clear();
            return summary;
        }
    }
}
