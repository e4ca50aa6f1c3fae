namespace Apiary.Secrets;

/// <summary>
/// The rule for secret names: the rule of environment variable names, <c>[A-Za-z_][A-Za-z0-9_]*</c>, at most
/// <see cref="MaxLength"/> characters. A valid name is also a safe file name, so a name can never reach outside the
/// secrets folder.
/// </summary>
public static class SecretName
{
    /// <summary>The longest name allowed, in characters.</summary>
    public const int MaxLength = 128;

    /// <summary>
    /// Checks <paramref name="name"/> against the rule; null when it is valid, otherwise a message for people. The
    /// message never repeats the name, since a value typed where the name belongs would be printed back.
    /// </summary>
    public static string? Check(string? name)
    {
        const string Rule = "a secret name must be 1 to 128 of A-Z a-z 0-9 _ and not start with a digit, like an environment variable name";
        if (string.IsNullOrEmpty(name))
        {
            return $"{Rule}; this one is empty";
        }

        if (name.Length > MaxLength)
        {
            return $"{Rule}; this one has {name.Length} characters";
        }

        if (char.IsAsciiDigit(name[0]))
        {
            return $"{Rule}; this one starts with a digit";
        }

        var bad = name.Where(c => !IsAllowed(c)).Distinct().Take(5).Select(Describe).ToList();
        return bad.Count == 0 ? null : $"{Rule}; this one has {string.Join(", ", bad)}";
    }

    /// <summary>True when <paramref name="name"/> follows the rule.</summary>
    public static bool IsValid(string? name) => Check(name) is null;

    /// <summary>Throws unless <paramref name="name"/> follows the rule.</summary>
    /// <exception cref="InvalidSecretNameException">The name breaks the rule.</exception>
    public static void Validate(string? name)
    {
        if (Check(name) is { } error)
        {
            throw new InvalidSecretNameException(error);
        }
    }

    private static bool IsAllowed(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    // Only characters outside [A-Za-z0-9_] are shown, and control or space characters as code points.
    private static string Describe(char c) =>
        char.IsControl(c) || char.IsWhiteSpace(c) || !char.IsAscii(c) ? $"U+{(int)c:X4}" : $"'{c}'";
}

/// <summary>A text was used as a secret name but breaks the rule in <see cref="SecretName"/>.</summary>
public sealed class InvalidSecretNameException : ApiaryException
{
    /// <summary>Creates the exception with the message from <see cref="SecretName.Check(string?)"/>.</summary>
    public InvalidSecretNameException(string message)
        : base(message)
    {
    }
}
