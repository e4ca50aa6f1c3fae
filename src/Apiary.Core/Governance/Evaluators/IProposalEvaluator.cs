namespace Apiary.Governance;

/// <summary>What an evaluator says about a proposal.</summary>
public enum EvaluatorVerdictKind
{
    /// <summary>Nothing to object to.</summary>
    Pass,

    /// <summary>A person must approve it, even if the policy allows it.</summary>
    Escalate,

    /// <summary>It must not run.</summary>
    Deny,
}

/// <summary>An evaluator's verdict and, unless it passes, why.</summary>
/// <param name="Kind">Pass, escalate or deny.</param>
/// <param name="Reason">Why it escalates or denies; never a secret value.</param>
public sealed record EvaluatorVerdict(EvaluatorVerdictKind Kind, string? Reason)
{
    /// <summary>The verdict of an evaluator with nothing to object to.</summary>
    public static EvaluatorVerdict Pass { get; } = new(EvaluatorVerdictKind.Pass, null);

    /// <summary>A person must approve, because of <paramref name="reason"/>.</summary>
    public static EvaluatorVerdict Escalate(string reason) => new(EvaluatorVerdictKind.Escalate, reason);

    /// <summary>It must not run, because of <paramref name="reason"/>.</summary>
    public static EvaluatorVerdict Deny(string reason) => new(EvaluatorVerdictKind.Deny, reason);
}

/// <summary>One evaluator's verdict on one proposal, as recorded in an <see cref="Explanation"/>.</summary>
/// <param name="Evaluator">The evaluator's name.</param>
/// <param name="Verdict">Its verdict; a throw or a missed deadline is recorded as a deny.</param>
public sealed record EvaluatorResult(string Evaluator, EvaluatorVerdict Verdict);

/// <summary>
/// A pluggable check that runs after the policy rules, in parallel with the other evaluators and under a deadline.
/// An evaluator that throws or misses the deadline counts as a deny: the pipeline fails closed.
/// </summary>
public interface IProposalEvaluator
{
    /// <summary>The evaluator's name, shown in explanations.</summary>
    string Name { get; }

    /// <summary>Judges <paramref name="proposal"/>; <paramref name="cancellationToken"/> fires at the deadline.</summary>
    ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default);
}

/// <summary>
/// A check of the control plane's own invariants (whom an agent may message, which agents a manager manages): it runs
/// before the policy rules, and its deny is final, so no rule can allow what it refuses. Its decisions are recorded and
/// explained like every other (the explanation names it).
/// </summary>
public interface IControlPlaneCheck : IProposalEvaluator;
