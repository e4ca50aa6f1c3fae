using Apiary.Agents;

namespace Apiary.Governance.KillSwitches;

/// <summary>How much a kill switch stops, from widest to narrowest.</summary>
public enum KillSwitchLevel
{
    /// <summary>Every agent.</summary>
    Global,

    /// <summary>One agent, in all its sessions.</summary>
    Agent,

    /// <summary>One session.</summary>
    Session,
}

/// <summary>Where a kill switch applies. Shown as <c>global</c>, <c>agent coder</c> or <c>session s-1</c>.</summary>
/// <param name="Level">Global, agent or session.</param>
/// <param name="Id">The agent's name or the session id; empty for global.</param>
public readonly record struct KillSwitchScope(KillSwitchLevel Level, string Id)
{
    /// <summary>Every agent.</summary>
    public static KillSwitchScope Global { get; } = new(KillSwitchLevel.Global, "");

    /// <summary>One agent.</summary>
    public static KillSwitchScope Agent(AgentName agent)
    {
        ArgumentNullException.ThrowIfNull(agent);
        return new(KillSwitchLevel.Agent, agent.Value);
    }

    /// <summary>One session.</summary>
    public static KillSwitchScope Session(string sessionId)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        return new(KillSwitchLevel.Session, sessionId);
    }

    /// <summary>The scopes that cover a principal, widest first: global, its agent, its session.</summary>
    public static IReadOnlyList<KillSwitchScope> Covering(Principal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return [Global, Agent(principal.Agent), Session(principal.SessionId)];
    }

    /// <summary>True when this scope covers the principal.</summary>
    public bool Covers(Principal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return Level switch
        {
            KillSwitchLevel.Global => true,
            KillSwitchLevel.Agent => string.Equals(Id, principal.Agent.Value, StringComparison.Ordinal),
            _ => string.Equals(Id, principal.SessionId, StringComparison.Ordinal),
        };
    }

    /// <inheritdoc/>
    public override string ToString() => Level switch
    {
        KillSwitchLevel.Global => "global",
        KillSwitchLevel.Agent => $"agent {Id}",
        _ => $"session {Id}",
    };
}

/// <summary>An engaged kill switch: where, why, by whom and when.</summary>
/// <param name="Scope">Where it applies.</param>
/// <param name="Reason">Why, for people.</param>
/// <param name="EngagedBy">Who engaged it (an operator, or the component that tripped it).</param>
/// <param name="EngagedAt">When.</param>
public sealed record EngagedKillSwitch(KillSwitchScope Scope, string Reason, string EngagedBy, DateTimeOffset EngagedAt)
{
    /// <inheritdoc/>
    public override string ToString() => $"kill switch {Scope} engaged by {EngagedBy}: {Reason}";
}

/// <summary>
/// Something that happened to a <see cref="KillSwitch"/>. Folding its facts in order with
/// <see cref="KillSwitch.Apply"/> rebuilds which switches are engaged.
/// </summary>
/// <param name="Scope">The switch's scope.</param>
/// <param name="At">When, on the kill switch's clock.</param>
public abstract record KillSwitchFact(KillSwitchScope Scope, DateTimeOffset At);

/// <summary>A switch was engaged.</summary>
/// <param name="Scope">Where.</param>
/// <param name="Reason">Why.</param>
/// <param name="EngagedBy">By whom.</param>
/// <param name="At">When.</param>
public sealed record KillSwitchEngaged(KillSwitchScope Scope, string Reason, string EngagedBy, DateTimeOffset At) : KillSwitchFact(Scope, At);

/// <summary>A switch was released: work in its scope may run again.</summary>
/// <param name="Scope">Where.</param>
/// <param name="ReleasedBy">By whom.</param>
/// <param name="At">When.</param>
public sealed record KillSwitchReleased(KillSwitchScope Scope, string ReleasedBy, DateTimeOffset At) : KillSwitchFact(Scope, At);
