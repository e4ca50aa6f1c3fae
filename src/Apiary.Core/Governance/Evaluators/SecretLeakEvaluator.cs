using Apiary.Secrets;

namespace Apiary.Governance;

/// <summary>
/// Denies a proposal whose texts (command, program, arguments, environment, standard input, content, working folder,
/// path, recipients, further arguments) carry the value of a known secret in any form <see cref="SecretForms"/> knows:
/// a secret reaches a command only by name, through the proposal's secrets, and never in the clear where the record
/// and an approver would see it. Reasons name the secret and where it was found, never the value; the pipeline
/// records the proposal with the value replaced by <c>[secret:NAME]</c>.
/// </summary>
public sealed class SecretLeakEvaluator : IProposalEvaluator
{
    private readonly Func<SecretRedactor> _redactor;

    /// <summary>Creates the evaluator over <paramref name="secretValues"/>; empty values are ignored.</summary>
    public SecretLeakEvaluator(IEnumerable<string> secretValues, string name = "secret-leak")
        : this(Fixed(secretValues), name)
    {
    }

    /// <summary>Creates the evaluator over the secrets <paramref name="catalog"/> holds, read again when they change.</summary>
    public SecretLeakEvaluator(SecretCatalog catalog, string name = "secret-leak")
        : this(() => catalog.Redactor, name)
    {
        _catalog = catalog;
    }

    private SecretLeakEvaluator(Func<SecretRedactor> redactor, string name)
    {
        ArgumentNullException.ThrowIfNull(redactor);
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        _redactor = redactor;
    }

    private readonly SecretCatalog? _catalog;

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public async ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        if (_catalog is not null)
        {
            await _catalog.RefreshAsync(cancellationToken).ConfigureAwait(false);
        }

        var redactor = _redactor();
        foreach (var (label, text) in ProposalText.Of(proposal))
        {
            if (redactor.Find(text) is { } secret)
            {
                return EvaluatorVerdict.Deny($"{label} contains the value of secret {secret} (or an encoding of it); a command is given a secret by name, never its value");
            }
        }

        return EvaluatorVerdict.Pass;
    }

    private static Func<SecretRedactor> Fixed(IEnumerable<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var redactor = new SecretRedactor(values.Where(v => !string.IsNullOrEmpty(v)).Distinct(StringComparer.Ordinal).Select((v, i) => new KeyValuePair<string, string>($"secret-{i + 1}", v)));
        return () => redactor;
    }
}
