using System.Globalization;

namespace Apiary.Events;

/// <summary>
/// What an append expects of its stream: anything (<see cref="Any"/>), that it does not exist yet
/// (<see cref="NoStream"/>), or that its last event has exactly a given version (<see cref="Exactly"/>).
/// </summary>
public readonly record struct ExpectedVersion
{
    private const long AnyValue = -1;

    private ExpectedVersion(long value) => Value = value;

    /// <summary>Append whatever the stream's version is.</summary>
    public static ExpectedVersion Any { get; } = new(AnyValue);

    /// <summary>Append only when the stream has no events yet.</summary>
    public static ExpectedVersion NoStream { get; } = new(0);

    /// <summary>-1 for <see cref="Any"/>, 0 for <see cref="NoStream"/>, else the version the stream must have.</summary>
    public long Value { get; }

    /// <summary>True for <see cref="Any"/>.</summary>
    public bool IsAny => Value == AnyValue;

    /// <summary>Append only when the stream's last version is <paramref name="version"/> (0 means no stream).</summary>
    public static ExpectedVersion Exactly(long version)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(version);
        return new(version);
    }

    /// <summary>True when a stream whose last version is <paramref name="actual"/> (0: none) satisfies this expectation.</summary>
    public bool Accepts(long actual) => IsAny || Value == actual;

    /// <inheritdoc />
    public override string ToString() => Value switch
    {
        AnyValue => "any",
        0 => "no stream",
        _ => Value.ToString(CultureInfo.InvariantCulture),
    };
}
