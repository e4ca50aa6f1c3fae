using System.Diagnostics.CodeAnalysis;

namespace Apiary.Agents;

/// <summary>
/// The validated name of an agent: 1 to 64 characters of <c>[A-Za-z0-9_-]</c>, never starting with a dot.
/// The only way to get one is <see cref="TryCreate(string?, out AgentName?, out AgentNameError?)"/> or
/// <see cref="Parse(string)"/>, so every <see cref="AgentName"/> in the system is a safe folder name.
/// </summary>
public sealed class AgentName : IEquatable<AgentName>, IComparable<AgentName>
{
    /// <summary>The longest name allowed, in characters.</summary>
    public const int MaxLength = 64;

    private AgentName(string value) => Value = value;

    /// <summary>The name as text.</summary>
    public string Value { get; }

    /// <summary>Validates <paramref name="raw"/> and returns the name, or the rule it broke.</summary>
    public static bool TryCreate(
        string? raw,
        [NotNullWhen(true)] out AgentName? name,
        [NotNullWhen(false)] out AgentNameError? error)
    {
        error = Validate(raw);
        name = error is null ? new AgentName(raw!) : null;
        return error is null;
    }

    /// <summary>Validates <paramref name="raw"/> and returns the name.</summary>
    /// <exception cref="InvalidAgentNameException">The text breaks one of the naming rules.</exception>
    public static AgentName Parse(string raw) =>
        TryCreate(raw, out var name, out var error) ? name : throw new InvalidAgentNameException(error);

    private static AgentNameError? Validate(string? raw)
    {
        if (string.IsNullOrEmpty(raw))
        {
            return new AgentNameError(AgentNameRule.NotEmpty, raw ?? "", "an agent name must not be empty");
        }

        if (raw.Length > MaxLength)
        {
            return new AgentNameError(
                AgentNameRule.MaxLength,
                raw,
                $"an agent name must be at most {MaxLength} characters long; '{Shorten(raw)}' has {raw.Length}");
        }

        if (raw[0] == '.')
        {
            return new AgentNameError(
                AgentNameRule.NoLeadingDot,
                raw,
                $"an agent name must not start with a dot (hidden folder): '{raw}'");
        }

        var bad = raw.Where(c => !IsAllowed(c)).Distinct().ToArray();
        if (bad.Length > 0)
        {
            var shown = string.Join(", ", bad.Select(Describe));
            return new AgentNameError(
                AgentNameRule.AllowedCharacters,
                raw,
                $"an agent name may use only letters A-Z and a-z, digits, '_' and '-'; '{Shorten(raw)}' has {shown}");
        }

        return null;
    }

    private static bool IsAllowed(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-';

    private static string Describe(char c) =>
        char.IsControl(c) || char.IsWhiteSpace(c) ? $"U+{(int)c:X4}" : $"'{c}'";

    private static string Shorten(string raw) =>
        new(raw.Take(80).Select(c => char.IsControl(c) ? '?' : c).ToArray());

    /// <inheritdoc/>
    public bool Equals(AgentName? other) => other is not null && string.Equals(Value, other.Value, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as AgentName);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);

    /// <inheritdoc/>
    public int CompareTo(AgentName? other) => other is null ? 1 : string.CompareOrdinal(Value, other.Value);

    /// <inheritdoc/>
    public override string ToString() => Value;

    /// <summary>Compares two names by value.</summary>
    public static bool operator ==(AgentName? left, AgentName? right) => Equals(left, right);

    /// <summary>Compares two names by value.</summary>
    public static bool operator !=(AgentName? left, AgentName? right) => !Equals(left, right);

    /// <summary>Orders names by ordinal value.</summary>
    public static bool operator <(AgentName left, AgentName right) => left.CompareTo(right) < 0;

    /// <summary>Orders names by ordinal value.</summary>
    public static bool operator >(AgentName left, AgentName right) => left.CompareTo(right) > 0;

    /// <summary>Orders names by ordinal value.</summary>
    public static bool operator <=(AgentName left, AgentName right) => left.CompareTo(right) <= 0;

    /// <summary>Orders names by ordinal value.</summary>
    public static bool operator >=(AgentName left, AgentName right) => left.CompareTo(right) >= 0;
}

/// <summary>The rules an agent name must follow.</summary>
public enum AgentNameRule
{
    /// <summary>At least one character.</summary>
    NotEmpty,

    /// <summary>At most <see cref="AgentName.MaxLength"/> characters.</summary>
    MaxLength,

    /// <summary>No leading dot.</summary>
    NoLeadingDot,

    /// <summary>Only <c>[A-Za-z0-9_-]</c>.</summary>
    AllowedCharacters,
}

/// <summary>Why a text is not a valid agent name: the rule it broke, the text, and a message for people.</summary>
public sealed record AgentNameError(AgentNameRule Rule, string Input, string Message);
