using Apiary.Agents;
using System.Text.RegularExpressions;

namespace Apiary.Governance;

/// <summary>
/// Decides proposals: the first rule of the <see cref="Policy"/> that matches (by priority) gives the tier and risk,
/// its conditions may auto-approve or escalate, and then the evaluators run in parallel under a deadline.
/// A proposal no rule matches is denied by <see cref="Policy.DefaultDenyRule"/>, unless its kind is a control-plane one
/// (<see cref="ProposalKinds.IsControlPlane"/>), which <see cref="Policy.ControlPlaneRule"/> allows. Thread-safe; pure and in memory.
/// The policy can be replaced while the engine decides (<see cref="Use"/>): each decision is made by one policy, the one
/// in force when it began, and names its <see cref="Policy.Version"/>.
/// </summary>
public sealed class PolicyEngine
{
    /// <summary>How long evaluators get unless told otherwise.</summary>
    public static readonly TimeSpan DefaultEvaluatorDeadline = TimeSpan.FromSeconds(2);

    private static readonly EvaluatorResult[] NoEvaluators = [];

    private volatile Policy _policy;
    private readonly IProposalEvaluator[] _evaluators;
    private readonly IProposalEvaluator[] _checks;
    private readonly TimeProvider _time;
    private readonly TimeSpan _deadline;

    /// <summary>Creates an engine over <paramref name="policy"/>.</summary>
    /// <param name="policy">The rules.</param>
    /// <param name="evaluators">Checks run by <see cref="DecideAsync"/> after the rules.</param>
    /// <param name="evaluatorDeadline">How long the evaluators get together (default <see cref="DefaultEvaluatorDeadline"/>).</param>
    /// <param name="time">The clock for the deadline (default the system clock).</param>
    public PolicyEngine(Policy policy, IEnumerable<IProposalEvaluator>? evaluators = null, TimeSpan? evaluatorDeadline = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        _policy = policy;
        var all = evaluators?.ToArray() ?? [];
        _checks = [.. all.OfType<IControlPlaneCheck>()];
        _evaluators = [.. all.Where(e => e is not IControlPlaneCheck)];
        _deadline = evaluatorDeadline ?? DefaultEvaluatorDeadline;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_deadline, TimeSpan.Zero, nameof(evaluatorDeadline));
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The policy decisions are made by now.</summary>
    public Policy Policy => _policy;

    /// <summary>
    /// Makes <paramref name="policy"/> the one later decisions are made by, at once and as a whole: a decision already
    /// begun finishes with the policy it began with, and no decision sees part of one policy and part of another.
    /// </summary>
    public void Use(Policy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        _policy = policy;
    }

    /// <summary>The policy rules and conditions alone, without evaluators: fast, synchronous and allocation-light.</summary>
    public Decision Decide(Proposal proposal, PolicyContext context)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        ArgumentNullException.ThrowIfNull(context);
        return DecideWith(_policy, proposal, context);
    }

    private static Decision DecideWith(Policy policy, Proposal proposal, PolicyContext context)
    {
        var decision = DecideByRules(policy.Rules, proposal, context);
        return policy.Version is null ? decision : decision with { PolicyVersion = policy.Version };
    }

    private static Decision DecideByRules(PolicyRule[] rules, Proposal proposal, PolicyContext context)
    {
        if (ManagerOnly(proposal, context) is { } notAManager)
        {
            return notAManager;
        }

        PolicyRule? current = null;
        try
        {
            foreach (var rule in rules)
            {
                current = rule;
                if (rule.Matches(proposal, context))
                {
                    return Guard(rule, proposal, context) ?? FromRule(rule, proposal, context);
                }
            }
        }
        catch (RegexMatchTimeoutException)
        {
            // A pattern that cannot decide in time must not let the proposal through, whatever the rule's tier.
            var reason = $"rule '{current!.Name}' ({current.Location}) could not be decided: its regular expression pattern timed out on this proposal; the proposal is denied (fix the pattern: see apiary policy check)";
            return new Decision(DecisionKind.Deny, current.Name, RiskLevel.High, reason, Explain(DecisionSource.Rule, current.Name, reason, proposal, context));
        }

        if (proposal.Kind.IsControlPlane())
        {
            return new Decision(DecisionKind.Allow, Policy.ControlPlaneRule, RiskLevel.Low, null, Explain(DecisionSource.Rule, Policy.ControlPlaneRule, null, proposal, context));
        }

        return new Decision(
            DecisionKind.Deny,
            Policy.DefaultDenyRule,
            RiskLevel.High,
            $"no policy rule matches this {proposal.Kind.Name()}; a rule in policies/ must allow it",
            Explain(DecisionSource.Rule, Policy.DefaultDenyRule, null, proposal, context));
    }

    /// <summary>
    /// The control plane's checks (<see cref="IControlPlaneCheck"/>) first, whose deny is final; then <see cref="Decide"/>,
    /// then, unless the rules already deny or steer, every evaluator in parallel: any deny denies, any escalation turns
    /// an allow into a pending approval. Throws or missed deadlines deny.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<Decision> DecideAsync(Proposal proposal, PolicyContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        ArgumentNullException.ThrowIfNull(context);

        // One policy for the whole decision, even when another replaces it while the evaluators run.
        var policy = _policy;
        if (_checks.Length > 0)
        {
            var checks = await EvaluatorRunner.RunAsync(_checks, proposal, _deadline, _time, cancellationToken).ConfigureAwait(false);
            if (Array.Find(checks, r => r.Verdict.Kind == EvaluatorVerdictKind.Deny) is { } refused)
            {
                return new Decision(DecisionKind.Deny, refused.Evaluator, RiskLevel.High, refused.Verdict.Reason,
                    Explain(DecisionSource.Evaluator, refused.Evaluator, refused.Verdict.Reason, proposal, context, checks)) { PolicyVersion = policy.Version };
            }
        }

        var decision = DecideWith(policy, proposal, context);
        if (_evaluators.Length == 0 || decision.Kind is DecisionKind.Deny or DecisionKind.Steer)
        {
            return decision;
        }

        var results = await EvaluatorRunner.RunAsync(_evaluators, proposal, _deadline, _time, cancellationToken).ConfigureAwait(false);
        var denied = Array.Find(results, r => r.Verdict.Kind == EvaluatorVerdictKind.Deny);
        if (denied is not null)
        {
            return decision with
            {
                Kind = DecisionKind.Deny,
                Reason = $"evaluator '{denied.Evaluator}': {denied.Verdict.Reason}",
                Explanation = Explain(DecisionSource.Evaluator, denied.Evaluator, denied.Verdict.Reason, proposal, context, results),
            };
        }

        var escalated = Array.Find(results, r => r.Verdict.Kind == EvaluatorVerdictKind.Escalate);
        if (escalated is not null && decision.Kind == DecisionKind.Allow)
        {
            return decision with
            {
                Kind = DecisionKind.Pending,
                Reason = $"evaluator '{escalated.Evaluator}': {escalated.Verdict.Reason}",
                Explanation = Explain(DecisionSource.Evaluator, escalated.Evaluator, escalated.Verdict.Reason, proposal, context, results),
            };
        }

        return decision with { Explanation = decision.Explanation with { Evaluators = results } };
    }

    /// <summary>The built-in rule that denies a worker what only a manager may do: spawn, start, stop, restart or update an agent.</summary>
    public const string ManagerRoleRule = "manager-role";

    /// <summary>The built-in rule that denies an <c>exec</c> asking for more time than its template gives, unless its rule allows it.</summary>
    public const string TemplateLimitsRule = "template-limits";

    /// <summary>
    /// What no rule gives by merely matching: a risky environment variable (<see cref="RiskyEnvironment"/>) must be
    /// named in the deciding rule's <c>env</c>, and a time limit beyond the template's must be within its
    /// <c>max_timeout</c>. A rule that denies or steers needs no such check.
    /// </summary>
    private static Decision? Guard(PolicyRule rule, Proposal proposal, PolicyContext context)
    {
        if (rule.Tier is not (PolicyTier.Allow or PolicyTier.Approve))
        {
            return null;
        }

        var arguments = proposal.Arguments;
        foreach (var (name, value) in arguments.Env.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (RiskyEnvironment.IsRisky(name) && !rule.NamesEnv(name, value))
            {
                var reason = $"setting {name} can change which program runs or make it run other code; rule '{rule.Name}' does not allow it (a rule allows it by naming it in its env match field)";
                return new Decision(DecisionKind.Deny, RiskyEnvironment.Rule, RiskLevel.High, reason, Explain(DecisionSource.Rule, RiskyEnvironment.Rule, reason, proposal, context));
            }
        }

        if (arguments.TimeoutSeconds is { } asked && arguments.TemplateTimeoutSeconds is { } own && asked > own
            && (rule.MaxTimeout is not { } max || asked > max.TotalSeconds))
        {
            var reason = $"a time limit of {asked}s is more than the template's {own}s; rule '{rule.Name}' " +
                (rule.MaxTimeout is { } allowed ? $"allows at most {(long)allowed.TotalSeconds}s" : "does not allow raising it (a rule allows it with max_timeout)");
            return new Decision(DecisionKind.Deny, TemplateLimitsRule, RiskLevel.Medium, reason, Explain(DecisionSource.Rule, TemplateLimitsRule, reason, proposal, context));
        }

        return null;
    }

    /// <summary>The <see cref="ManagerRoleRule"/>, before any rule of the policies: no rule can let a worker act as a manager.</summary>
    private static Decision? ManagerOnly(Proposal proposal, PolicyContext context)
    {
        if (proposal.Principal.Role == AgentRole.Manager
            || proposal.Kind is not (ProposalKind.SpawnAgent or ProposalKind.StartAgent or ProposalKind.StopAgent or ProposalKind.RestartAgent or ProposalKind.UpdateAgent))
        {
            return null;
        }

        var reason = $"{proposal.Kind.Name()} is a manager's action and agent '{proposal.Principal.Agent}' is a {proposal.Principal.Role.ToString().ToLowerInvariant()}";
        return new Decision(DecisionKind.Deny, ManagerRoleRule, RiskLevel.High, reason, Explain(DecisionSource.Rule, ManagerRoleRule, reason, proposal, context));
    }

    private static Decision FromRule(PolicyRule rule, Proposal proposal, PolicyContext context)
    {
        switch (rule.Tier)
        {
            case PolicyTier.Approve when rule.AutoApprove is { } auto && auto.Holds(proposal, context):
                return new Decision(DecisionKind.Allow, rule.Name, rule.Risk, null,
                    Explain(DecisionSource.Condition, rule.Name + ".auto_approve", auto.Text, proposal, context));
            case PolicyTier.Allow when rule.Escalate is { } escalate && escalate.Holds(proposal, context):
                return new Decision(DecisionKind.Pending, rule.Name, rule.Risk, rule.Message ?? $"rule '{rule.Name}' escalates: {escalate.Text}",
                    Explain(DecisionSource.Condition, rule.Name + ".escalate", escalate.Text, proposal, context));
            default:
                var kind = rule.Tier switch
                {
                    PolicyTier.Allow => DecisionKind.Allow,
                    PolicyTier.Approve => DecisionKind.Pending,
                    PolicyTier.Steer => DecisionKind.Steer,
                    _ => DecisionKind.Deny,
                };
                var reason = kind == DecisionKind.Allow ? null : rule.Message ?? $"rule '{rule.Name}' requires approval";
                return new Decision(kind, rule.Name, rule.Risk, reason, Explain(DecisionSource.Rule, rule.Name, null, proposal, context));
        }
    }

    private static Explanation Explain(
        DecisionSource source, string decidedBy, string? detail, Proposal proposal, PolicyContext context, EvaluatorResult[]? results = null) =>
        new(source, decidedBy, detail, proposal, context, results ?? NoEvaluators);
}
