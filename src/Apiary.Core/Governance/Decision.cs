namespace Apiary.Governance;

/// <summary>The four answers of the governance pipeline.</summary>
public enum DecisionKind
{
    /// <summary>The side effect may run.</summary>
    Allow,

    /// <summary>The side effect must not run; <see cref="Decision.Reason"/> says why.</summary>
    Deny,

    /// <summary>The side effect waits for a person's approval.</summary>
    Pending,

    /// <summary>The side effect must not run; <see cref="Decision.Reason"/> tells the agent what to do instead.</summary>
    Steer,
}

/// <summary>What decided: a rule, one of its conditions, or an evaluator.</summary>
public enum DecisionSource
{
    /// <summary>The first matching rule's tier.</summary>
    Rule,

    /// <summary>A rule's <c>auto_approve</c> or <c>escalate</c> condition changed the rule's tier.</summary>
    Condition,

    /// <summary>An evaluator denied or escalated.</summary>
    Evaluator,
}

/// <summary>
/// Why a decision came out as it did: what decided (<see cref="Source"/> and <see cref="DecidedBy"/>), the rule that
/// matched, and the inputs it saw (the proposal, with its normalized path and argument line, and the context).
/// </summary>
/// <param name="Source">Whether a rule, a condition or an evaluator decided.</param>
/// <param name="DecidedBy">The rule name, <c>rule.auto_approve</c> / <c>rule.escalate</c>, or the evaluator's name.</param>
/// <param name="Detail">For a condition, the condition as text; for an evaluator, its reason; else null.</param>
/// <param name="Proposal">The proposal as the policy saw it.</param>
/// <param name="Context">The context as the policy saw it.</param>
/// <param name="Evaluators">Every evaluator's verdict, when evaluators ran.</param>
public sealed record Explanation(
    DecisionSource Source,
    string DecidedBy,
    string? Detail,
    Proposal Proposal,
    PolicyContext Context,
    IReadOnlyList<EvaluatorResult> Evaluators)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{Source.ToString().ToLowerInvariant()} '{DecidedBy}'{(Detail is null ? "" : $" ({Detail})")} on {Proposal.Kind.Name()} by {Proposal.Principal.Agent}";
}

/// <summary>
/// The governance pipeline's answer to a proposal. Every decision names the rule that matched (<see cref="Rule"/>,
/// <c>default-deny</c> when none did), the risk that rule assigns, and an <see cref="Explanation"/>.
/// </summary>
/// <param name="Kind">Allow, deny, pending or steer.</param>
/// <param name="Rule">The rule that matched.</param>
/// <param name="Risk">The risk the rule assigns.</param>
/// <param name="Reason">For deny, why; for steer, what to do instead; for pending, what needs approving; null for allow.</param>
/// <param name="Explanation">What decided and what it saw.</param>
public sealed record Decision(DecisionKind Kind, string Rule, RiskLevel Risk, string? Reason, Explanation Explanation)
{
    /// <summary>
    /// The version of the policy that decided (<see cref="Policy.Version"/>, the SHA-256 of its files); null when the
    /// policy was not loaded from files.
    /// </summary>
    public string? PolicyVersion { get; init; }

    /// <summary>True when the side effect may run now.</summary>
    public bool IsAllowed => Kind == DecisionKind.Allow;

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Kind.ToString().ToLowerInvariant()} by rule '{Rule}' (risk {Risk.ToString().ToLowerInvariant()}){(Reason is null ? "" : ": " + Reason)}";
}
