using System.Text.RegularExpressions;

namespace Apiary.Governance;

/// <summary>
/// Denies (or escalates) a proposal when a regular expression matches any of its texts: the command, each argument,
/// the path, each recipient and each further argument. Patterns run on the non-backtracking engine with a timeout.
/// </summary>
public sealed class RegexEvaluator : IProposalEvaluator
{
    private readonly Regex[] _patterns;
    private readonly EvaluatorVerdictKind _onMatch;

    /// <summary>Creates the evaluator.</summary>
    /// <param name="name">Its name in explanations.</param>
    /// <param name="patterns">.NET regular expressions; one match is enough.</param>
    /// <param name="onMatch">What a match means: <see cref="EvaluatorVerdictKind.Deny"/> (the default) or escalate.</param>
    /// <exception cref="ArgumentException">A pattern is not a valid regular expression.</exception>
    /// <exception cref="NotSupportedException">A pattern needs the backtracking engine (a backreference or a lookaround), which an evaluator does not run.</exception>
    public RegexEvaluator(string name, IEnumerable<string> patterns, EvaluatorVerdictKind onMatch = EvaluatorVerdictKind.Deny)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(patterns);
        Name = name;
        _onMatch = onMatch == EvaluatorVerdictKind.Pass ? throw new ArgumentOutOfRangeException(nameof(onMatch), "a match must deny or escalate") : onMatch;
        _patterns = [.. patterns.Select(p => new Regex(p, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant, TextPattern.RegexTimeout))];
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        foreach (var (label, text) in ProposalText.Of(proposal))
        {
            foreach (var pattern in _patterns)
            {
                bool matched;
                try
                {
                    matched = pattern.IsMatch(text);
                }
                catch (RegexMatchTimeoutException)
                {
                    // A pattern that cannot answer in time fails closed, whatever a match would have meant.
                    return ValueTask.FromResult(EvaluatorVerdict.Deny($"the pattern /{pattern}/ timed out on {label}; the proposal is denied"));
                }

                if (matched)
                {
                    var reason = $"{label} matches /{pattern}/";
                    return ValueTask.FromResult(_onMatch == EvaluatorVerdictKind.Deny ? EvaluatorVerdict.Deny(reason) : EvaluatorVerdict.Escalate(reason));
                }
            }
        }

        return ValueTask.FromResult(EvaluatorVerdict.Pass);
    }
}
