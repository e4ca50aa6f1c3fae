namespace Apiary.Governance;

/// <summary>How much harm a side effect could do, as the policy (never the proposer) judges it.</summary>
public enum RiskLevel
{
    /// <summary>Read-only or confined to the workspace.</summary>
    Low,

    /// <summary>Changes the workspace or costs resources.</summary>
    Medium,

    /// <summary>Changes the world outside the workspace.</summary>
    High,

    /// <summary>Could destroy data or the machine.</summary>
    Critical,
}

/// <summary>What a policy rule does with a proposal it matches.</summary>
public enum PolicyTier
{
    /// <summary>Run it.</summary>
    Allow,

    /// <summary>Run it only after a person approves.</summary>
    Approve,

    /// <summary>Refuse it.</summary>
    Deny,

    /// <summary>Refuse it and tell the agent what to do instead.</summary>
    Steer,
}

/// <summary>
/// What the control plane knows about the moment of a proposal, for conditions: the time (in the operator's time
/// zone, from an injected <see cref="TimeProvider"/>) and how many proposals the session has made before this one.
/// </summary>
/// <param name="Now">The local time of the proposal.</param>
/// <param name="SessionProposalCount">Proposals the session made before this one.</param>
public sealed record PolicyContext(DateTimeOffset Now, int SessionProposalCount)
{
    /// <summary>A context at <paramref name="time"/>'s local now.</summary>
    public static PolicyContext At(TimeProvider time, int sessionProposalCount)
    {
        ArgumentNullException.ThrowIfNull(time);
        return new(time.GetLocalNow(), sessionProposalCount);
    }
}
