using System.Globalization;

namespace Apiary.Text;

/// <summary>
/// The rule for every value that becomes part of a process's argument list or environment (a program, an argument, an
/// environment variable's name or value, a working directory, a path, a secret or template name): it must be text that
/// reaches the process exactly as it was decided. So a NUL (which would cut a C string in two), a lone UTF-16 surrogate
/// (which has no exact UTF-8 form) and control characters are refused. Arguments and environment values may hold tab,
/// line feed and carriage return, because scripts passed as arguments (<c>python3 -c</c>) need them; names and paths
/// may not.
/// </summary>
public static class ProcessText
{
    /// <summary>What is wrong with <paramref name="value"/> as a process value, or null when nothing is.</summary>
    /// <param name="value">The value.</param>
    /// <param name="lineBreaks">True for arguments and environment values, which may hold tab, line feed and carriage return.</param>
    public static string? Problem(string value, bool lineBreaks)
    {
        ArgumentNullException.ThrowIfNull(value);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
                continue;
            }

            if (char.IsSurrogate(c))
            {
                return $"holds a lone UTF-16 surrogate ({Describe(c)}) at character {Number(i)}, which has no exact UTF-8 form";
            }

            if (c == '\0')
            {
                return $"holds a NUL character (U+0000) at character {Number(i)}";
            }

            if (char.IsControl(c) && !(lineBreaks && c is '\t' or '\n' or '\r'))
            {
                return $"holds a control character ({Describe(c)}) at character {Number(i)}";
            }
        }

        return null;
    }

    /// <summary>True when <paramref name="value"/> is fit to become a process value.</summary>
    public static bool IsValid(string value, bool lineBreaks) => Problem(value, lineBreaks) is null;

    private static string Describe(char c) => "U+" + ((int)c).ToString("X4", CultureInfo.InvariantCulture);

    private static string Number(int index) => index.ToString(CultureInfo.InvariantCulture);
}
