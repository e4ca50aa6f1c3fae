using Apiary.Runtime.Telemetry;

namespace Apiary.Runtime;

/// <summary>How an agent run stands or ended, as <see cref="RunDto.Status"/> names it.</summary>
internal static class RunStatus
{
    public const string Running = "running";
    public const string WaitingApproval = "waiting_approval";
    public const string Finished = "finished";
    public const string BudgetExhausted = "budget_exhausted";
    public const string Killed = "killed";
    public const string Failed = "failed";

    /// <summary>An exception escaped the run's loop (a bug, or a tool failing in a way it does not handle); the supervisor restarts it.</summary>
    public const string Crashed = "crashed";
}

/// <summary>
/// One agent run started through the API: its session, where it stands, and its steps (kept, so a late reader of the
/// progress stream replays them from the start).
/// </summary>
internal sealed class AgentRun(string id, string agent, ApiSession session, string model)
{
    private readonly Lock _gate = new();
    private readonly ReplayLog<RunProgressDto> _steps = new();
    private string _status = RunStatus.Running;
    private int _turns;
    private string? _answer;
    private string? _error;
    private string? _reloadedPrompt;

    public string Id { get; } = id;

    public string Agent { get; } = agent;

    public ApiSession Session { get; } = session;

    public string Model { get; } = model;

    /// <summary>The figures of the current turn (null before the first); <see cref="StartTally"/> begins the next.</summary>
    public TurnTally? Tally { get; private set; }

    /// <summary>Completes when the run has ended and its <c>end</c> step is added.</summary>
    public Task Ended => _steps.Closed;

    private bool _endCalled;

    /// <summary>
    /// Whether the run is over: it has ended, or its end is decided and being recorded (its <c>run.ended</c> event is
    /// appended before <see cref="Ended"/> completes, so a page reloading on that event already sees the run over).
    /// </summary>
    public bool IsOver
    {
        get
        {
            lock (_gate)
            {
                return Ended.IsCompleted || _status is RunStatus.Finished or RunStatus.BudgetExhausted or RunStatus.Killed or RunStatus.Failed or RunStatus.Crashed;
            }
        }
    }

    public void SetTurn(int turn)
    {
        lock (_gate)
        {
            _turns = turn;
        }
    }

    public TurnTally StartTally(int turn, TimeProvider time) => Tally = new TurnTally(turn, time);

    /// <summary>Gives the run its agent's reloaded prompt, for its next model call (<c>update</c>).</summary>
    public void Reload(string prompt) => Volatile.Write(ref _reloadedPrompt, prompt);

    /// <summary>The prompt an update reloaded since the last call, once; null when there was none.</summary>
    public string? TakeReloadedPrompt() => Interlocked.Exchange(ref _reloadedPrompt, null);

    public void SetStatus(string status)
    {
        lock (_gate)
        {
            _status = status;
        }
    }

    public void Add(RunProgressDto step) => _steps.Add(step);

    /// <summary>
    /// Called once, when the run ends, before <see cref="Ended"/> completes: whoever waits for its end finds what the
    /// end changed (the run service lets go of older runs there) already done.
    /// </summary>
    public Action<AgentRun>? OnEnd { get; set; }

    /// <summary>Ends the run: its status, answer or error, and the final <c>end</c> step.</summary>
    public void End(string status, string? answer, string? error)
    {
        int turns;
        bool first;
        lock (_gate)
        {
            (_status, _answer, _error) = (status, answer, error);
            turns = _turns;
            first = !_endCalled;
            _endCalled = true;
        }

        if (first)
        {
            OnEnd?.Invoke(this);
        }

        _steps.Close(new RunProgressDto("end", turns, Status: status, Answer: answer, Error: error), withLast: true);
    }

    /// <summary>The steps from the start, live while the run goes on; ends with the <c>end</c> step.</summary>
    public IAsyncEnumerable<RunProgressDto> ReadProgressAsync(CancellationToken cancellationToken = default) => _steps.ReadAllAsync(cancellationToken);

    public RunDto ToDto()
    {
        lock (_gate)
        {
            return new RunDto(Id, Agent, Session.Id, _status, Model, _turns, _answer, _error);
        }
    }
}
