using System.Text.RegularExpressions;

namespace Apiary.Governance;

/// <summary>Which value of a proposal a <see cref="ListEvaluator"/> checks.</summary>
public enum ListField
{
    /// <summary>The program name of an <c>exec</c> (as policies see it: <c>/usr/bin/rm</c> is <c>rm</c>).</summary>
    Program,

    /// <summary>Each recipient of a message.</summary>
    Recipient,

    /// <summary>The normalized absolute path.</summary>
    Path,

    /// <summary>The proposing agent's name.</summary>
    Agent,
}

/// <summary>
/// An allow list and a deny list of glob patterns over one field. A value on the deny list denies; when an allow list
/// is given, a value not on it denies too. Proposals without the field (a path for <c>exec</c>) pass.
/// </summary>
public sealed class ListEvaluator : IProposalEvaluator
{
    private readonly ListField _field;
    private readonly PatternSet? _allow;
    private readonly PatternSet? _deny;

    /// <summary>Creates the evaluator.</summary>
    /// <param name="name">Its name in explanations.</param>
    /// <param name="field">The field it checks.</param>
    /// <param name="allow">Globs of allowed values, or null for no allow list.</param>
    /// <param name="deny">Globs of denied values, or null for no deny list.</param>
    /// <exception cref="ArgumentException">A pattern is invalid.</exception>
    public ListEvaluator(string name, ListField field, IEnumerable<string>? allow = null, IEnumerable<string>? deny = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        _field = field;
        var flavor = field == ListField.Path ? GlobFlavor.Path : GlobFlavor.Text;
        _allow = allow is null ? null : Compile(allow, flavor);
        _deny = deny is null ? null : Compile(deny, flavor);
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        IReadOnlyList<string> values = _field switch
        {
            ListField.Program => proposal.ProgramName is { } program ? [program] : [],
            ListField.Recipient => proposal.Arguments.Recipients,
            ListField.Path => proposal.FullPath is { } path ? [path] : [],
            _ => [proposal.Principal.Agent.Value],
        };

        var field = _field.ToString().ToLowerInvariant();
        try
        {
            foreach (var value in values)
            {
                if (_deny is not null && _deny.MatchesAny(value))
                {
                    return ValueTask.FromResult(EvaluatorVerdict.Deny($"{field} '{value}' is on the deny list"));
                }

                if (_allow is not null && !_allow.MatchesAny(value))
                {
                    return ValueTask.FromResult(EvaluatorVerdict.Deny($"{field} '{value}' is not on the allow list"));
                }
            }
        }
        catch (RegexMatchTimeoutException ex)
        {
            // A list that cannot answer in time fails closed.
            return ValueTask.FromResult(EvaluatorVerdict.Deny($"the pattern /{ex.Pattern}/ timed out on the {field}; the proposal is denied"));
        }

        return ValueTask.FromResult(EvaluatorVerdict.Pass);
    }

    private static PatternSet Compile(IEnumerable<string> patterns, GlobFlavor flavor) =>
        new([.. patterns.Select(p => TextPattern.Compile(p, flavor, out var error) ?? throw new ArgumentException(error, nameof(patterns)))]);
}
