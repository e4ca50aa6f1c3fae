using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Apiary.Text;

/// <summary>
/// Durations as operators write them in YAML and on the command line: a sequence of whole numbers with units,
/// largest first, such as <c>90s</c>, <c>30m</c>, <c>1h30m</c>, <c>2d</c> or <c>500ms</c>.
/// </summary>
public static partial class DurationText
{
    /// <summary>What to show people when a duration does not parse.</summary>
    public const string Expected = "a duration with units, such as 90s, 30m, 1h30m, 2d or 500ms";

    [GeneratedRegex(@"^(?:(?<d>\d+)d)?(?:(?<h>\d+)h)?(?:(?<m>\d+)m(?!s))?(?:(?<s>\d+)s)?(?:(?<ms>\d+)ms)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    /// <summary>Parses <paramref name="text"/>; false when it is empty, has no unit, or overflows.</summary>
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var match = Pattern().Match(text.Trim());
        if (!match.Success || match.Length == 0)
        {
            return false;
        }

        try
        {
            checked
            {
                long ms = Part(match, "d") * 86_400_000L
                    + Part(match, "h") * 3_600_000L
                    + Part(match, "m") * 60_000L
                    + Part(match, "s") * 1_000L
                    + Part(match, "ms");
                duration = TimeSpan.FromMilliseconds(ms);
                return true;
            }
        }
        catch (Exception ex) when (ex is OverflowException or ArgumentOutOfRangeException)
        {
            return false;
        }
    }

    /// <summary>Formats <paramref name="duration"/> in the same syntax, for example <c>1h30m</c>.</summary>
    public static string Format(TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero)
        {
            return "0s";
        }

        var text = new StringBuilder();
        Append(text, duration.Days, "d");
        Append(text, duration.Hours, "h");
        Append(text, duration.Minutes, "m");
        Append(text, duration.Seconds, "s");
        Append(text, duration.Milliseconds, "ms");
        return text.ToString();
    }

    private static long Part(Match match, string unit) =>
        match.Groups[unit] is { Success: true } group ? long.Parse(group.Value, NumberStyles.None, CultureInfo.InvariantCulture) : 0;

    private static void Append(StringBuilder text, int value, string unit)
    {
        if (value > 0)
        {
            text.Append(value.ToString(CultureInfo.InvariantCulture)).Append(unit);
        }
    }
}
