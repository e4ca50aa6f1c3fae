using System.Collections.Concurrent;
using System.Text;

namespace Apiary.Runtime.Messaging;

/// <summary>
/// The inboxes: each recipient's messages are the events of its stream <c>inbox-&lt;recipient&gt;</c>, numbered by the
/// store (the stream version is the sequence number, so no client chooses it), and its acknowledged cursor is the last
/// <c>inbox.acked</c> of <c>ack-&lt;recipient&gt;</c>. Reading returns what follows the cursor until it is acknowledged,
/// so delivery is at least once and in the order the store committed, also across restarts.
/// </summary>
internal sealed class MessageBroker(IEventStore store, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Inbox> _inboxes = new(StringComparer.Ordinal);

    /// <summary>Appends <paramref name="data"/> (with <paramref name="body"/> as the event's body) to its recipient's inbox and wakes its readers.</summary>
    public async Task<(MessageDto Message, long Position)> DeliverAsync(MessageSentData data, string body, CancellationToken cancellationToken = default)
    {
        var result = await store.AppendAsync(
            MessageEventTypes.InboxStream(data.To),
            ExpectedVersion.Any,
            [new EventData(MessageEventTypes.MessageSent, JsonSerializer.SerializeToUtf8Bytes(data, RuntimeJsonContext.Default.MessageSentData), Encoding.UTF8.GetBytes(body))],
            cancellationToken).ConfigureAwait(false);
        var inbox = _inboxes.GetOrAdd(data.To, _ => new Inbox());
        inbox.Saw(result.StreamVersion);
        inbox.Pulse();
        return (ToDto(data, result.StreamVersion, body), result.LastPosition);
    }

    /// <summary>
    /// The messages of <paramref name="agent"/>'s inbox after <paramref name="after"/> (by default after its acknowledged
    /// cursor), at most <paramref name="max"/>, waiting up to <paramref name="wait"/> for one when there is none.
    /// </summary>
    public async Task<InboxDto> ReadAsync(string agent, long? after, TimeSpan wait, int max, CancellationToken cancellationToken = default)
    {
        var (messages, cursor) = await ReadWhereAsync(agent, after, wait, max, _ => true, cancellationToken).ConfigureAwait(false);
        return new InboxDto(agent, cursor, messages.Select(m => m.Message).ToList());
    }

    /// <summary>
    /// Waits up to <paramref name="wait"/> for a message in <paramref name="agent"/>'s unacknowledged inbox, committed
    /// after <paramref name="afterPosition"/>, that <paramref name="match"/> accepts; null when none came in time. It is
    /// not acknowledged: it stays in the inbox for <c>recv</c> too.
    /// </summary>
    public async Task<MessageDto?> WaitForAsync(string agent, long afterPosition, TimeSpan wait, Func<MessageDto, bool> match, CancellationToken cancellationToken = default)
    {
        var (messages, _) = await ReadWhereAsync(agent, null, wait, 1, m => m.Position > afterPosition && match(m.Message), cancellationToken).ConfigureAwait(false);
        return messages.Count == 0 ? null : messages[0].Message;
    }

    /// <summary>
    /// How many of <paramref name="agent"/>'s messages wait after its acknowledged cursor. Read from the store once per
    /// inbox; after that from memory, as every message of the home is delivered through this broker.
    /// </summary>
    public async Task<long> DepthAsync(string agent, CancellationToken cancellationToken = default)
    {
        var inbox = await LoadAsync(agent, cancellationToken).ConfigureAwait(false);
        return Math.Max(0, inbox.Newest - inbox.Cursor);
    }

    /// <summary>The acknowledged cursor of <paramref name="agent"/>'s inbox.</summary>
    public async Task<long> CursorAsync(string agent, CancellationToken cancellationToken = default) =>
        (await LoadAsync(agent, cancellationToken).ConfigureAwait(false)).Cursor;

    /// <summary>
    /// Acknowledges <paramref name="agent"/>'s messages through <paramref name="through"/>, durably (an <c>inbox.acked</c>
    /// event); a cursor never moves back. Null when there is no message <paramref name="through"/> yet.
    /// </summary>
    public async Task<long?> AckAsync(string agent, long through, string by, CancellationToken cancellationToken = default)
    {
        var inbox = await LoadAsync(agent, cancellationToken).ConfigureAwait(false);
        await inbox.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (through <= inbox.Cursor)
            {
                return inbox.Cursor;
            }

            var exists = false;
            await foreach (var unused in store.ReadStreamAsync(MessageEventTypes.InboxStream(agent), through, cancellationToken).ConfigureAwait(false))
            {
                exists = true;
                break;
            }

            if (!exists)
            {
                return null;
            }

            var data = new InboxAckedData(agent, through, by, time.GetUtcNow());
            await store.AppendAsync(
                MessageEventTypes.AckStream(agent),
                ExpectedVersion.Any,
                [new EventData(MessageEventTypes.InboxAcked, JsonSerializer.SerializeToUtf8Bytes(data, RuntimeJsonContext.Default.InboxAckedData))],
                cancellationToken).ConfigureAwait(false);
            inbox.Cursor = through;
            return through;
        }
        finally
        {
            inbox.Gate.Release();
        }
    }

    /// <summary>The message <paramref name="id"/> of <paramref name="agent"/>'s inbox, acknowledged or not; null when it has none by that id.</summary>
    public async Task<MessageDto?> FindAsync(string agent, string id, CancellationToken cancellationToken = default)
    {
        await foreach (var e in store.ReadStreamAsync(MessageEventTypes.InboxStream(agent), 1, cancellationToken).ConfigureAwait(false))
        {
            if (e.Type == MessageEventTypes.MessageSent && ToDto(e) is { } message && message.Id == id)
            {
                return message;
            }
        }

        return null;
    }

    private async Task<(List<(MessageDto Message, long Position)> Messages, long Cursor)> ReadWhereAsync(
        string agent, long? after, TimeSpan wait, int max, Func<(MessageDto Message, long Position), bool> match, CancellationToken cancellationToken)
    {
        var inbox = await LoadAsync(agent, cancellationToken).ConfigureAwait(false);
        var started = time.GetTimestamp();
        long? scanned = null;
        while (true)
        {
            // Taken before reading, so a message committed after the read still wakes this reader.
            var changed = inbox.Changed;
            var cursor = inbox.Cursor;
            var from = Math.Max(scanned ?? 0, after ?? cursor) + 1;
            var found = new List<(MessageDto, long)>();
            await foreach (var e in store.ReadStreamAsync(MessageEventTypes.InboxStream(agent), from, cancellationToken).ConfigureAwait(false))
            {
                scanned = e.StreamVersion;
                if (e.Type == MessageEventTypes.MessageSent && ToDto(e) is { } message && match((message, e.Position)))
                {
                    found.Add((message, e.Position));
                    if (found.Count >= max)
                    {
                        break;
                    }
                }
            }

            var left = wait - time.GetElapsedTime(started);
            if (found.Count > 0 || left <= TimeSpan.Zero)
            {
                return (found, cursor);
            }

            try
            {
                await changed.WaitAsync(left, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return (found, cursor);
            }
        }
    }

    private async Task<Inbox> LoadAsync(string agent, CancellationToken cancellationToken)
    {
        var inbox = _inboxes.GetOrAdd(agent, _ => new Inbox());
        if (inbox.Loaded)
        {
            return inbox;
        }

        await inbox.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!inbox.Loaded)
            {
                long cursor = 0;
                await foreach (var e in store.ReadStreamAsync(MessageEventTypes.AckStream(agent), 1, cancellationToken).ConfigureAwait(false))
                {
                    if (e.Type == MessageEventTypes.InboxAcked && JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.InboxAckedData) is { } acked)
                    {
                        cursor = Math.Max(cursor, acked.Through);
                    }
                }

                inbox.Cursor = cursor;
                await foreach (var e in store.ReadStreamAsync(MessageEventTypes.InboxStream(agent), cursor + 1, cancellationToken).ConfigureAwait(false))
                {
                    inbox.Saw(e.StreamVersion);
                }

                inbox.Loaded = true;
            }
        }
        finally
        {
            inbox.Gate.Release();
        }

        return inbox;
    }

    private static MessageDto? ToDto(RecordedEvent e) =>
        JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.MessageSentData) is { } data
            ? ToDto(data, e.StreamVersion, e.Body is { } body ? Encoding.UTF8.GetString(body.Span) : null)
            : null;

    private static MessageDto ToDto(MessageSentData data, long seq, string? body) =>
        new(data.Id, seq, data.From, data.To, data.Role, data.Thread, data.ReplyTo, body, data.At);

    /// <summary>One recipient's cursor and the signal its readers wait on.</summary>
    private sealed class Inbox
    {
        private readonly Lock _sync = new();
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _cursor;
        private long _newest;
        private volatile bool _loaded;

        /// <summary>Serializes loading and acknowledging.</summary>
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public bool Loaded
        {
            get => _loaded;
            set => _loaded = value;
        }

        public long Cursor
        {
            get => Interlocked.Read(ref _cursor);
            set => Interlocked.Exchange(ref _cursor, value);
        }

        /// <summary>The newest sequence number seen in the inbox.</summary>
        public long Newest => Interlocked.Read(ref _newest);

        /// <summary>Notes that the inbox holds message <paramref name="seq"/>; the newest never moves back.</summary>
        public void Saw(long seq)
        {
            var known = Interlocked.Read(ref _newest);
            while (seq > known)
            {
                var was = Interlocked.CompareExchange(ref _newest, seq, known);
                if (was == known)
                {
                    return;
                }

                known = was;
            }
        }

        /// <summary>Completes at the next delivery.</summary>
        public Task Changed
        {
            get
            {
                lock (_sync)
                {
                    return _changed.Task;
                }
            }
        }

        public void Pulse()
        {
            TaskCompletionSource previous;
            lock (_sync)
            {
                previous = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            previous.TrySetResult();
        }
    }
}
