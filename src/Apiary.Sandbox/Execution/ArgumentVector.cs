namespace Apiary.Sandbox.Execution;

/// <summary>
/// The last check before values become a process's argument vector: each value must be one C string with an exact
/// UTF-8 form. A NUL inside a value would end it early and start the next element with the rest (the way an
/// <c>env</c> value once became bubblewrap options), and a lone UTF-16 surrogate would reach the process as another
/// character than the one decided, so both are refused here, whatever the callers above already checked.
/// </summary>
internal static class ArgumentVector
{
    /// <summary>Throws when any of <paramref name="values"/> holds a NUL or a lone surrogate.</summary>
    /// <exception cref="ArgumentException">A value cannot be passed exactly; the message names <paramref name="what"/>, never the value.</exception>
    public static void EnsureExact(IEnumerable<string> values, string what)
    {
        var index = 0;
        foreach (var value in values)
        {
            if (value.Contains('\0', StringComparison.Ordinal))
            {
                throw new ArgumentException($"{what} (element {index}) holds a NUL character, which cannot be passed to a program");
            }

            if (HasLoneSurrogate(value))
            {
                throw new ArgumentException($"{what} (element {index}) holds a lone UTF-16 surrogate, which has no exact UTF-8 form");
            }

            index++;
        }
    }

    private static bool HasLoneSurrogate(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                return true;
            }
        }

        return false;
    }
}
