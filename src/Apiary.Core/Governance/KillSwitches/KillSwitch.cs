namespace Apiary.Governance.KillSwitches;

/// <summary>
/// Stops agents: a switch engaged at global, agent or session scope blocks every proposal it covers, and cancels
/// the <see cref="TokenFor"/> tokens of running work in that scope. Releasing a switch re-arms: tokens handed out
/// afterwards are fresh. Thread-safe.
/// </summary>
/// <remarks>
/// Every change is a <see cref="KillSwitchFact"/> handed to the recorder given at construction (under the lock,
/// before the change; a recorder that throws stops it, and it must not call back in), then applied with
/// <see cref="Apply"/>. Token cancellation and the <see cref="Engaged"/> event run after the lock is released, on the
/// caller's thread.
/// </remarks>
public sealed class KillSwitch
{
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly Action<KillSwitchFact>? _record;
    private readonly Dictionary<KillSwitchScope, EngagedKillSwitch> _engaged = [];

    // One source per (agent, session) pair that asked for a token; removed when cancelled or forgotten.
    private readonly Dictionary<(string Agent, string Session), CancellationTokenSource> _sources = [];

    /// <summary>Creates a kill switch with nothing engaged.</summary>
    /// <param name="time">The clock facts are stamped with; the system clock when null.</param>
    /// <param name="record">Called with every fact before it is applied, under the lock.</param>
    public KillSwitch(TimeProvider? time = null, Action<KillSwitchFact>? record = null)
    {
        _time = time ?? TimeProvider.System;
        _record = record;
    }

    /// <summary>Raised after a switch is engaged (not when an engaged switch is engaged again), after tokens are cancelled.</summary>
    public event EventHandler<KillSwitchEngaged>? Engaged;

    /// <summary>Raised after a switch is released.</summary>
    public event EventHandler<KillSwitchReleased>? Released;

    /// <summary>The engaged switches, widest level first, then by id.</summary>
    public IReadOnlyList<EngagedKillSwitch> EngagedSwitches
    {
        get
        {
            lock (_gate)
            {
                return [.. _engaged.Values.OrderBy(s => s.Scope.Level).ThenBy(s => s.Scope.Id, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>
    /// The engaged switch that blocks a principal, or null. When several cover it, the widest wins: global, then its
    /// agent, then its session.
    /// </summary>
    public EngagedKillSwitch? IsBlocked(Principal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        lock (_gate)
        {
            return BlockingLocked(principal);
        }
    }

    /// <summary>
    /// A token that is cancelled when a switch covering the principal engages; already cancelled when one is engaged.
    /// Running work in the principal's session passes it on, so engaging a switch stops that work.
    /// </summary>
    public CancellationToken TokenFor(Principal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        lock (_gate)
        {
            if (BlockingLocked(principal) is not null)
            {
                return new CancellationToken(canceled: true);
            }

            var key = (principal.Agent.Value, principal.SessionId);
            if (!_sources.TryGetValue(key, out var source))
            {
                source = new CancellationTokenSource();
                _sources[key] = source;
            }

            return source.Token;
        }
    }

    /// <summary>Forgets a session that ended, so its token source does not outlive it. Its tokens stay valid and are never cancelled.</summary>
    public void Forget(Principal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        lock (_gate)
        {
            // Not disposed: running work may still hold its token.
            _sources.Remove((principal.Agent.Value, principal.SessionId));
        }
    }

    /// <summary>Engages a switch and cancels the tokens of every session it covers.</summary>
    /// <param name="scope">Where.</param>
    /// <param name="reason">Why, for people.</param>
    /// <param name="engagedBy">Who.</param>
    /// <returns>The fact, or null when the switch was already engaged (the first reason stands).</returns>
    public KillSwitchEngaged? Engage(KillSwitchScope scope, string reason, string engagedBy)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        ArgumentException.ThrowIfNullOrWhiteSpace(engagedBy);
        KillSwitchEngaged fact;
        List<CancellationTokenSource> covered;
        lock (_gate)
        {
            if (_engaged.ContainsKey(scope))
            {
                return null;
            }

            fact = new KillSwitchEngaged(scope, reason, engagedBy, _time.GetUtcNow());
            _record?.Invoke(fact);
            covered = ApplyLocked(fact);
        }

        try
        {
            Cancel(covered);
        }
        finally
        {
            Engaged?.Invoke(this, fact);
        }

        return fact;
    }

    /// <summary>Releases a switch. Work it blocked may run again unless another switch covers it.</summary>
    /// <returns>The fact, or null when the switch was not engaged.</returns>
    public KillSwitchReleased? Release(KillSwitchScope scope, string releasedBy)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(releasedBy);
        KillSwitchReleased fact;
        lock (_gate)
        {
            if (!_engaged.ContainsKey(scope))
            {
                return null;
            }

            fact = new KillSwitchReleased(scope, releasedBy, _time.GetUtcNow());
            _record?.Invoke(fact);
            ApplyLocked(fact);
        }

        Released?.Invoke(this, fact);
        return fact;
    }

    /// <summary>
    /// Applies a recorded fact: used to rebuild the switches from their facts in order. Engaging cancels covered
    /// tokens here too, but raises no event.
    /// </summary>
    public void Apply(KillSwitchFact fact)
    {
        ArgumentNullException.ThrowIfNull(fact);
        List<CancellationTokenSource> covered;
        lock (_gate)
        {
            covered = ApplyLocked(fact);
        }

        Cancel(covered);
    }

    private static void Cancel(List<CancellationTokenSource> sources)
    {
        // Outside the lock: cancellation runs the callbacks of running work synchronously. Every source is cancelled
        // even when a callback throws; the failures are thrown together afterwards. Cancelled sources are not
        // disposed: work may still register on their tokens, and they hold nothing unmanaged.
        List<Exception>? failures = null;
        foreach (var source in sources)
        {
            try
            {
                source.Cancel();
            }
            catch (AggregateException ex)
            {
                (failures ??= []).AddRange(ex.InnerExceptions);
            }
        }

        if (failures is not null)
        {
            throw new AggregateException("cancellation callbacks failed after the kill switch engaged", failures);
        }
    }

    private EngagedKillSwitch? BlockingLocked(Principal principal)
    {
        foreach (var scope in KillSwitchScope.Covering(principal))
        {
            if (_engaged.TryGetValue(scope, out var engaged))
            {
                return engaged;
            }
        }

        return null;
    }

    private List<CancellationTokenSource> ApplyLocked(KillSwitchFact fact)
    {
        switch (fact)
        {
            case KillSwitchEngaged engaged:
                _engaged[engaged.Scope] = new EngagedKillSwitch(engaged.Scope, engaged.Reason, engaged.EngagedBy, engaged.At);
                var covered = new List<CancellationTokenSource>();
                foreach (var (key, source) in _sources.ToList())
                {
                    if (Covers(engaged.Scope, key.Agent, key.Session))
                    {
                        _sources.Remove(key);
                        covered.Add(source);
                    }
                }

                return covered;

            case KillSwitchReleased released:
                // Nothing to re-arm eagerly: cancelled sources were removed, so the next TokenFor makes a fresh one.
                _engaged.Remove(released.Scope);
                return [];

            default:
                throw new ArgumentException($"unknown kill switch fact {fact.GetType().Name}", nameof(fact));
        }
    }

    private static bool Covers(KillSwitchScope scope, string agent, string session) => scope.Level switch
    {
        KillSwitchLevel.Global => true,
        KillSwitchLevel.Agent => string.Equals(scope.Id, agent, StringComparison.Ordinal),
        _ => string.Equals(scope.Id, session, StringComparison.Ordinal),
    };
}
