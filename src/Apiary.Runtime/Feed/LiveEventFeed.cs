using System.Threading.Channels;
using Apiary.Storage.Sqlite;

namespace Apiary.Runtime;

/// <summary>
/// One reader of the event log for every live stream client: it follows the store once and hands each new event to
/// every client's bounded queue, so a commit costs one read however many clients listen (each client reading the
/// store for itself cost one connection and one query per client per commit). A client that starts behind the feed
/// catches up from the store first, then continues from the feed with nothing lost or repeated.
/// </summary>
internal sealed class LiveEventFeed : IAsyncDisposable
{
    private readonly SqliteEventStore _store;
    private readonly Lock _gate = new();
    private readonly List<Subscriber> _subscribers = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _pump;
    private long _last;

    private LiveEventFeed(SqliteEventStore store, long last)
    {
        _store = store;
        _last = last;
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>The newest position the feed has handed out (or found at start).</summary>
    public long LastPosition => Volatile.Read(ref _last);

    /// <summary>Starts following <paramref name="store"/> from its current end.</summary>
    public static async Task<LiveEventFeed> StartAsync(SqliteEventStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return new LiveEventFeed(store, await store.LastPositionAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// The events from <paramref name="from"/> on, in order, without gaps or repeats, until cancelled. When the client
    /// falls more than <paramref name="buffer"/> events behind, the sequence ends and <see cref="Subscription.Dropped"/>
    /// is set.
    /// </summary>
    public Subscription Subscribe(long from, int buffer)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(from, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(buffer, 1);

        // Full: the client is too slow; the feed marks it dropped and completes its queue rather than wait for it.
        var queue = Channel.CreateBounded<RecordedEvent>(new BoundedChannelOptions(buffer) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
        var subscriber = new Subscriber(queue);
        long joinedAt;
        lock (_gate)
        {
            // Everything after joinedAt comes through the queue; everything from 'from' to joinedAt is read back.
            joinedAt = _last;
            _subscribers.Add(subscriber);
        }

        return new Subscription(this, subscriber, from, joinedAt);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _pump.ConfigureAwait(false);
        _stopping.Dispose();
        lock (_gate)
        {
            foreach (var subscriber in _subscribers)
            {
                subscriber.Queue.Writer.TryComplete();
            }

            _subscribers.Clear();
        }
    }

    private async Task PumpAsync()
    {
        try
        {
            await foreach (var e in _store.SubscribeAsync(LastPosition + 1, _stopping.Token).ConfigureAwait(false))
            {
                lock (_gate)
                {
                    _last = e.Position;
                    for (var i = _subscribers.Count - 1; i >= 0; i--)
                    {
                        var subscriber = _subscribers[i];
                        if (!subscriber.Queue.Writer.TryWrite(e))
                        {
                            subscriber.Dropped = true;
                            subscriber.Queue.Writer.TryComplete();
                            _subscribers.RemoveAt(i);
                        }
                    }
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or ApiaryException)
        {
            // The server stops (or the store is gone): clients' queues are completed below and in DisposeAsync.
        }
        finally
        {
            lock (_gate)
            {
                foreach (var subscriber in _subscribers)
                {
                    subscriber.Queue.Writer.TryComplete();
                }
            }
        }
    }

    private void Leave(Subscriber subscriber)
    {
        lock (_gate)
        {
            _subscribers.Remove(subscriber);
        }
    }

    internal sealed class Subscriber(Channel<RecordedEvent> queue)
    {
        public Channel<RecordedEvent> Queue { get; } = queue;

        public volatile bool Dropped;
    }

    /// <summary>One client's place in the feed; dispose it when the client leaves.</summary>
    public sealed class Subscription : IDisposable
    {
        private readonly LiveEventFeed _feed;
        private readonly Subscriber _subscriber;
        private readonly long _from;
        private readonly long _joinedAt;

        internal Subscription(LiveEventFeed feed, Subscriber subscriber, long from, long joinedAt)
        {
            _feed = feed;
            _subscriber = subscriber;
            _from = from;
            _joinedAt = joinedAt;
        }

        /// <summary>Whether the feed dropped this client for falling too far behind.</summary>
        public bool Dropped => _subscriber.Dropped;

        /// <summary>The events, catching up from the store first.</summary>
        public async IAsyncEnumerable<RecordedEvent> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            var next = _from;
            if (next <= _joinedAt)
            {
                await foreach (var e in _feed._store.ReadAllAsync(next, cancellationToken).ConfigureAwait(false))
                {
                    if (e.Position > _joinedAt)
                    {
                        break;
                    }

                    yield return e;
                    next = e.Position + 1;
                }
            }

            await foreach (var e in _subscriber.Queue.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (e.Position >= next)
                {
                    yield return e;
                    next = e.Position + 1;
                }
            }
        }

        public void Dispose() => _feed.Leave(_subscriber);
    }
}
