using System.Text;

namespace Apiary.Runtime;

/// <summary>One chunk of a command's output, as the output stream sends it.</summary>
internal sealed record OutputChunk(string Stream, string Text);

/// <summary>
/// A proposal submitted through the API and where it stands: its decision, its output as it comes (kept, so late
/// readers replay it from the start) and its result.
/// </summary>
internal sealed class ProposalRun
{
    /// <summary>The most output kept per proposal for replay and results; the sandbox's own output limit is usually lower.</summary>
    public const int MaxKeptChars = 4 * 1024 * 1024;

    /// <summary>The most output of each stream put in the result.</summary>
    public const int ResultChars = 64 * 1024;

    private readonly Lock _gate = new();
    private readonly ReplayLog<OutputChunk> _chunks = new();
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private long _keptChars;
    private bool _truncated;
    private int _ended;

    public ProposalRun(Proposal proposal, ApiSession session)
    {
        Proposal = proposal;
        Session = session;
        Decision = new DecisionDto("pending", "policy", "", "low");
    }

    public Proposal Proposal { get; }

    public ApiSession Session { get; }

    public string Id => Proposal.Id.ToString();

    public string Status { get; private set; } = "submitted";

    public DecisionDto Decision { get; private set; }

    /// <summary>What decided it, as its explanation names it: a rule, a condition, or an evaluator such as <c>allowed-recipients</c>.</summary>
    public string? DecidedBy { get; set; }

    public ResultDto? Result { get; private set; }

    /// <summary>About how many characters of output it holds: what keeping it after it ended costs.</summary>
    public long Footprint
    {
        get
        {
            lock (_gate)
            {
                return _keptChars + _stdout.Length + _stderr.Length;
            }
        }
    }

    /// <summary>
    /// Called once, when it is denied or completed, before <see cref="Terminal"/> completes: whoever waits for its end
    /// finds what the end changed (the executor lets go of it there) already done.
    /// </summary>
    public Action<ProposalRun>? OnEnd { get; set; }

    /// <summary>Completes when the proposal is denied or completed.</summary>
    public Task Terminal => _chunks.Closed;

    public bool IsTerminal => _chunks.Closed.IsCompleted;

    /// <summary>Waits (up to 15 seconds) for every one of <paramref name="runs"/> to be denied or completed.</summary>
    public static async Task WaitForAllAsync(IEnumerable<ProposalRun> runs) =>
        await Task.WhenAll(runs.Select(r => r.Terminal)).WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    public void SetPending(DecisionDto decision) => Set("pending_approval", decision);

    public void SetRunning(DecisionDto decision) => Set("running", decision);

    public void Deny(DecisionDto decision)
    {
        Set("denied", decision);
        End();
    }

    public void AppendOutput(string stream, string text)
    {
        if (text.Length == 0)
        {
            return;
        }

        lock (_gate)
        {
            var target = stream == "stderr" ? _stderr : _stdout;
            if (target.Length < ResultChars)
            {
                target.Append(text.AsSpan(0, Math.Min(text.Length, ResultChars - target.Length)));
            }

            if (_keptChars + text.Length > MaxKeptChars)
            {
                _truncated = true;
                return;
            }

            _keptChars += text.Length;
        }

        _chunks.Add(new OutputChunk(stream, text));
    }

    /// <summary>Records how it ended, filling in the output the run kept.</summary>
    public void Complete(ResultDto result)
    {
        lock (_gate)
        {
            var stdout = _stdout.Length > 0 ? _stdout.ToString() : result.Stdout;
            var stderr = _stderr.Length > 0 ? _stderr.ToString() : result.Stderr;
            Result = result with { Stdout = stdout, Stderr = stderr, Truncated = result.Truncated || _truncated || _stdout.Length >= ResultChars || _stderr.Length >= ResultChars };
            Status = "completed";
        }

        End();
    }

    private void End()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            OnEnd?.Invoke(this);
        }

        _chunks.Close();
    }

    /// <summary>What <c>proposal.completed</c> records as its body: the start of each stream, or null when there was no output.</summary>
    public string? RecordedOutput()
    {
        lock (_gate)
        {
            return _stdout.Length + _stderr.Length == 0 ? null : _stdout.ToString() + _stderr;
        }
    }

    /// <summary>The output from the start, live while the command runs; ends when the proposal is denied or completed.</summary>
    public IAsyncEnumerable<OutputChunk> ReadOutputAsync(CancellationToken cancellationToken = default) => _chunks.ReadAllAsync(cancellationToken);

    public ProposalDto ToDto()
    {
        lock (_gate)
        {
            return new ProposalDto(Id, Session.Id, Session.AgentName, Proposal.Kind.Name(), Status, Decision, Result);
        }
    }

    private void Set(string status, DecisionDto decision)
    {
        lock (_gate)
        {
            Status = status;
            Decision = decision;
        }
    }
}
