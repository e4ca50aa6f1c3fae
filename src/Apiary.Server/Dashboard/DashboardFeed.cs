namespace Apiary.Server.Dashboard;

/// <summary>
/// The log as the dashboard's pages follow it: one subscription to the server's live feed, handed to every open page.
/// A page refreshes what it shows when an event it cares about arrives (see <see cref="LivePage"/>). The subscription
/// starts at the log's beginning to fold it into <see cref="Sessions"/>; pages hear only what is appended after start.
/// </summary>
internal sealed class DashboardFeed : IDisposable
{
    private readonly ApiaryRuntime _runtime;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private readonly List<Action<RecordedEvent>> _listeners = [];

    public DashboardFeed(ApiaryRuntime runtime)
    {
        _runtime = runtime;
        _ = Task.Run(FollowAsync, CancellationToken.None);
    }

    /// <summary>Every session in the log, kept up to date before pages hear of an event.</summary>
    public SessionDirectory Sessions { get; } = new();

    /// <summary>Calls <paramref name="listener"/> with each new event (on the feed's thread) until the returned handle is disposed.</summary>
    public IDisposable Listen(Action<RecordedEvent> listener)
    {
        lock (_gate)
        {
            _listeners.Add(listener);
        }

        return new Subscription(this, listener);
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private async Task FollowAsync()
    {
        var start = _runtime.Feed.LastPosition;
        if (start == 0)
        {
            Sessions.MarkReady(start);
        }

        var next = 1L;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, _runtime.Stopping);
        while (!stop.IsCancellationRequested)
        {
            using var subscription = _runtime.Feed.Subscribe(next, 1 << 16);
            try
            {
                await foreach (var e in subscription.ReadAllAsync(stop.Token).ConfigureAwait(false))
                {
                    next = e.Position + 1;
                    Sessions.Apply(e);
                    if (e.Position <= start)
                    {
                        if (e.Position == start)
                        {
                            Sessions.MarkReady(start);
                        }

                        continue;
                    }

                    Action<RecordedEvent>[] listeners;
                    lock (_gate)
                    {
                        listeners = [.. _listeners];
                    }

                    foreach (var listener in listeners)
                    {
                        listener(e);
                    }
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private sealed class Subscription(DashboardFeed feed, Action<RecordedEvent> listener) : IDisposable
    {
        public void Dispose()
        {
            lock (feed._gate)
            {
                feed._listeners.Remove(listener);
            }
        }
    }
}
