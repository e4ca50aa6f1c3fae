namespace Apiary.Runtime;

/// <summary>
/// The proposals that ended most recently, kept a moment for late readers (a client that reads a result or replays
/// output just after the command ended): at most <see cref="MaxRuns"/> runs and <see cref="MaxChars"/> characters of
/// output together, the oldest let go first. Any other finished proposal is read from the log.
/// </summary>
internal sealed class FinishedRuns
{
    /// <summary>The most finished runs kept.</summary>
    public const int MaxRuns = 256;

    /// <summary>The most characters of output the finished runs kept may hold together.</summary>
    public const long MaxChars = 16L * 1024 * 1024;

    private readonly Lock _gate = new();
    private readonly Queue<(ProposalRun Run, long Chars)> _order = new();
    private readonly Dictionary<string, ProposalRun> _byId = new(StringComparer.Ordinal);
    private long _chars;

    /// <summary>How many runs it holds.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _byId.Count;
            }
        }
    }

    public void Add(ProposalRun run)
    {
        var chars = run.Footprint;
        lock (_gate)
        {
            if (!_byId.TryAdd(run.Id, run))
            {
                return;
            }

            _order.Enqueue((run, chars));
            _chars += chars;
            while (_order.Count > MaxRuns || (_chars > MaxChars && _order.Count > 1))
            {
                var (oldest, size) = _order.Dequeue();
                _byId.Remove(oldest.Id);
                _chars -= size;
            }
        }
    }

    public ProposalRun? Find(string id)
    {
        lock (_gate)
        {
            return _byId.GetValueOrDefault(id);
        }
    }
}
