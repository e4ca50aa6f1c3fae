namespace Apiary.Secrets;

/// <summary>
/// The secrets a home holds, by name and value, kept in memory for the checks that must know every value: the
/// evaluator that refuses a proposal carrying one, and the redaction of everything governance records. It is read
/// again when the secret store changes (<see cref="RefreshAsync"/> compares the store's folder time, a cheap check),
/// so a secret set while the server runs is known from the next proposal on.
/// </summary>
public sealed class SecretCatalog
{
    private readonly ISecretStore _store;
    private readonly Func<DateTime> _version;
    private DateTime _loaded = DateTime.MinValue.AddTicks(1);
    private volatile Snapshot _current = new([], SecretRedactor.None);

    /// <summary>A catalog of <paramref name="store"/>, reloaded whenever <paramref name="version"/> changes.</summary>
    public SecretCatalog(ISecretStore store, Func<DateTime> version)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(version);
        _store = store;
        _version = version;
    }

    /// <summary>The catalog of a home's <see cref="FileSecretStore"/>.</summary>
    public static SecretCatalog Of(FileSecretStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return new SecretCatalog(store, () => Directory.Exists(store.SecretsDirectory) ? Directory.GetLastWriteTimeUtc(store.SecretsDirectory) : DateTime.MinValue);
    }

    /// <summary>Every secret, by name, as last loaded.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Secrets => _current.Secrets;

    /// <summary>Replaces every form of every secret's value with <c>[secret:NAME]</c>.</summary>
    public SecretRedactor Redactor => _current.Redactor;

    /// <summary>Loads the secrets again if the store changed since they were last loaded.</summary>
    /// <exception cref="ApiaryException">A secret cannot be read.</exception>
    public async Task RefreshAsync(CancellationToken cancellationToken = default)
    {
        var version = _version();
        if (version == _loaded)
        {
            return;
        }

        // Two callers may both load at once after a change; both read the same store, so either result is right.
        var secrets = new List<KeyValuePair<string, string>>();
        foreach (var name in await _store.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            if (await _store.GetAsync(name, cancellationToken).ConfigureAwait(false) is { Length: > 0 } value)
            {
                secrets.Add(new(name, value));
            }
        }

        _current = new Snapshot(secrets, new SecretRedactor(secrets));
        _loaded = version;
    }

    private sealed record Snapshot(IReadOnlyList<KeyValuePair<string, string>> Secrets, SecretRedactor Redactor);
}

/// <summary>Replaces every form (<see cref="SecretForms"/>) of known secrets' values in a text with <c>[secret:NAME]</c>.</summary>
public sealed class SecretRedactor
{
    private readonly (string Form, string Replacement)[] _forms;

    /// <summary>A redactor over <paramref name="secrets"/> (name and value).</summary>
    public SecretRedactor(IEnumerable<KeyValuePair<string, string>> secrets)
    {
        ArgumentNullException.ThrowIfNull(secrets);

        // Longest first, so a form that contains another is replaced whole.
        _forms = [.. secrets.SelectMany(s => SecretForms.Of(s.Value).Select(f => (f, $"[secret:{s.Key}]"))).OrderByDescending(f => f.f.Length)];
    }

    /// <summary>A redactor that knows no secret.</summary>
    public static SecretRedactor None { get; } = new([]);

    /// <summary>True when it knows no secret.</summary>
    public bool IsEmpty => _forms.Length == 0;

    /// <summary><paramref name="text"/> with every known form replaced; the same instance when nothing was found.</summary>
    public string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var (form, replacement) in _forms)
        {
            if (text.Contains(form, StringComparison.Ordinal))
            {
                text = text.Replace(form, replacement, StringComparison.Ordinal);
            }
        }

        return text;
    }

    /// <summary>The name of the first secret any form of which <paramref name="text"/> holds, or null.</summary>
    public string? Find(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var (form, replacement) in _forms)
        {
            if (text.Contains(form, StringComparison.Ordinal))
            {
                return replacement["[secret:".Length..^1];
            }
        }

        return null;
    }
}
