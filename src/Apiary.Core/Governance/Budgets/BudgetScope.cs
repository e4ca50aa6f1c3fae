using Apiary.Agents;

namespace Apiary.Governance.Budgets;

/// <summary>What a budget belongs to.</summary>
public enum BudgetScopeKind
{
    /// <summary>An agent, across all its sessions.</summary>
    Agent,

    /// <summary>One session.</summary>
    Session,
}

/// <summary>One budget: an agent's or a session's. Shown as <c>agent coder</c> or <c>session s-1</c>.</summary>
/// <param name="Kind">Agent or session.</param>
/// <param name="Id">The agent's name or the session id.</param>
public readonly record struct BudgetScope(BudgetScopeKind Kind, string Id)
{
    /// <summary>The budget of an agent.</summary>
    public static BudgetScope Agent(AgentName agent)
    {
        ArgumentNullException.ThrowIfNull(agent);
        return new(BudgetScopeKind.Agent, agent.Value);
    }

    /// <summary>The budget of a session.</summary>
    public static BudgetScope Session(string sessionId)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        return new(BudgetScopeKind.Session, sessionId);
    }

    /// <summary>The scopes a principal's proposals are charged to: its agent's and its session's.</summary>
    public static IReadOnlyList<BudgetScope> Of(Principal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return [Agent(principal.Agent), Session(principal.SessionId)];
    }

    /// <inheritdoc/>
    public override string ToString() => $"{(Kind == BudgetScopeKind.Agent ? "agent" : "session")} {Id}";
}

/// <summary>The identity of one budget reservation.</summary>
/// <param name="Value">The underlying value.</param>
public readonly record struct BudgetReservationId(Guid Value)
{
    /// <summary>A new, random id.</summary>
    public static BudgetReservationId New() => new(Guid.NewGuid());

    /// <inheritdoc/>
    public override string ToString() => Value.ToString("N");
}

/// <summary>Amounts held against every listed scope until the work is settled or released.</summary>
/// <param name="Id">The reservation's identity.</param>
/// <param name="Scopes">The scopes it is charged to, in the order given.</param>
/// <param name="Amounts">What it holds.</param>
/// <param name="At">When it was made.</param>
public sealed record BudgetReservation(BudgetReservationId Id, IReadOnlyList<BudgetScope> Scopes, BudgetAmounts Amounts, DateTimeOffset At);

/// <summary>Why a reservation was refused: the scope and dimension at fault (null for an unpriced proposal) and a reason for people.</summary>
/// <param name="Scope">The scope whose limit would be passed, or null when the proposal could not be priced.</param>
/// <param name="Dimension">The dimension at fault (the first unknown one for an unpriced proposal).</param>
/// <param name="Reason">For example <c>session s-1: cost 1.20 used + 0.50 asked &gt; 1.50 limit</c>.</param>
public sealed record BudgetDenial(BudgetScope? Scope, BudgetDimension Dimension, string Reason)
{
    /// <inheritdoc/>
    public override string ToString() => Reason;
}

/// <summary>The state of one scope's budget: its limits, what was spent and what is reserved.</summary>
/// <param name="Limits">The limits (null per dimension: not limited).</param>
/// <param name="Spent">What settled work used.</param>
/// <param name="Reserved">What open reservations hold.</param>
public sealed record BudgetUsage(BudgetLimits Limits, BudgetAmounts Spent, BudgetAmounts Reserved)
{
    /// <summary>Spent and reserved together: what the next reservation is measured against.</summary>
    public BudgetAmounts Used => Spent.Add(Reserved);
}
