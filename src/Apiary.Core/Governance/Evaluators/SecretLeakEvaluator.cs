namespace Apiary.Governance;

/// <summary>
/// Escalates a proposal whose texts (command, arguments, path, recipients, further arguments) contain the value of a
/// known secret, so a person sees it before a secret leaves in a command line, a file name or a message. Reasons name
/// where the value was found, never the value.
/// </summary>
public sealed class SecretLeakEvaluator : IProposalEvaluator
{
    private readonly string[] _values;

    /// <summary>Creates the evaluator over <paramref name="secretValues"/>; empty values are ignored.</summary>
    public SecretLeakEvaluator(IEnumerable<string> secretValues, string name = "secret-leak")
    {
        ArgumentNullException.ThrowIfNull(secretValues);
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        _values = [.. secretValues.Where(v => !string.IsNullOrEmpty(v)).Distinct(StringComparer.Ordinal)];
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        foreach (var (label, text) in ProposalText.Of(proposal))
        {
            foreach (var secret in _values)
            {
                if (text.Contains(secret, StringComparison.Ordinal))
                {
                    return ValueTask.FromResult(EvaluatorVerdict.Escalate($"{label} contains the value of a secret"));
                }
            }
        }

        return ValueTask.FromResult(EvaluatorVerdict.Pass);
    }
}
