namespace Apiary.Runtime;

/// <summary>
/// Items kept in order so that a reader who comes late replays them from the start, then follows live until the log
/// is closed: a run's progress steps, a command's output.
/// </summary>
internal sealed class ReplayLog<T>
{
    private readonly Lock _gate = new();
    private readonly List<T> _items = [];
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the log is closed.</summary>
    public Task Closed => _closed.Task;

    /// <summary>Appends <paramref name="item"/>; ignored once the log is closed.</summary>
    public void Add(T item) => Change(log => log._items.Add(item), close: false);

    /// <summary>Closes the log, after <paramref name="last"/> when one is given, in one step, so no reader misses it.</summary>
    public void Close(T? last = default, bool withLast = false) => Change(log =>
    {
        if (withLast)
        {
            log._items.Add(last!);
        }
    }, close: true);

    /// <summary>The items from the start, live until the log is closed.</summary>
    public async IAsyncEnumerable<T> ReadAllAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var next = 0;
        while (true)
        {
            Task changed;
            T[] batch;
            bool closed;
            lock (_gate)
            {
                changed = _changed.Task;
                batch = _items.Skip(next).ToArray();
                closed = _closed.Task.IsCompleted;
            }

            next += batch.Length;
            foreach (var item in batch)
            {
                yield return item;
            }

            if (closed)
            {
                // Whatever was added before closing was in the batch taken under the lock with the closed flag.
                yield break;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void Change(Action<ReplayLog<T>> change, bool close)
    {
        TaskCompletionSource previous;
        lock (_gate)
        {
            if (_closed.Task.IsCompleted)
            {
                return;
            }

            change(this);
            if (close)
            {
                _closed.TrySetResult();
            }

            previous = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        previous.TrySetResult();
    }
}
