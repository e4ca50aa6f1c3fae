using Apiary.Agents;
using Apiary.Governance;

namespace Apiary.Tests.Governance;

internal static class GovernanceTestData
{
    public const string Workspace = "/home/op/agents/coder/workspace";

    public static readonly Principal Coder = new(AgentName.Parse("coder"), AgentRole.Worker, "s-1");

    public static readonly Principal Manager = new(AgentName.Parse("manager"), AgentRole.Manager, "s-2");

    // A Wednesday, 10:30 UTC.
    public static readonly PolicyContext Context = new(new DateTimeOffset(2025, 1, 15, 10, 30, 0, TimeSpan.Zero), 0);

    public static Proposal Exec(string command, params string[] args) => Proposal.Exec(Coder, Workspace, command, args);

    public static Proposal Read(string path) => Proposal.ReadFile(Coder, Workspace, path);

    public static Policy Load(string yaml, string file = "policies/test.yaml")
    {
        var result = PolicyLoader.Parse(file, yaml);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return result.Policy!;
    }

    public static PolicyEngine Engine(string yaml) => new(Load(yaml));

    /// <summary>One rule with the given match, tier and optional extra fields.</summary>
    public static string Rule(string name, int priority, string match, string tier = "allow", string extra = "") =>
        $"""
          - name: {name}
            priority: {priority}
            match: {match}
            risk: low
            tier: {tier}
            message: because {name}
        {Indent(extra)}
        """;

    public static string Rules(params string[] rules) => "rules:\n" + string.Join("\n", rules) + "\n";

    private static string Indent(string extra) =>
        string.Join("\n", extra.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => "    " + l));
}

/// <summary>A clock that moves only when told, with timers that fire when it passes them.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private readonly List<ManualTimer> _timers = [];
    private DateTimeOffset _now = start;

    public int TimerCount
    {
        get
        {
            lock (_timers)
            {
                return _timers.Count;
            }
        }
    }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_timers)
        {
            return _now;
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    public void Advance(TimeSpan by)
    {
        List<ManualTimer> due;
        lock (_timers)
        {
            _now += by;
            due = _timers.Where(t => t.Due <= _now).ToList();
            foreach (var timer in due)
            {
                _timers.Remove(timer);
            }
        }

        foreach (var timer in due)
        {
            timer.Fire();
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset Due { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._timers)
            {
                owner._timers.Remove(this);
                if (dueTime != Timeout.InfiniteTimeSpan)
                {
                    Due = owner._now + dueTime;
                    owner._timers.Add(this);
                }
            }

            return true;
        }

        public void Fire() => callback(state);

        public void Dispose()
        {
            lock (owner._timers)
            {
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
