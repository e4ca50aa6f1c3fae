using System.Globalization;
using System.Text.RegularExpressions;

namespace Apiary.Sandbox.Templates;

/// <summary>
/// Sizes as operators write them in templates: a whole number of bytes, or a whole number with a binary unit, such as
/// <c>512B</c>, <c>64KiB</c>, <c>1MiB</c> or <c>1GiB</c>.
/// </summary>
public static partial class SizeText
{
    /// <summary>What to show people when a size does not parse.</summary>
    public const string Expected = "a size such as 512B, 64KiB, 1MiB or 1GiB, or a whole number of bytes";

    [GeneratedRegex(@"^(?<n>\d+)\s*(?<unit>B|KiB|MiB|GiB)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    /// <summary>Parses <paramref name="text"/> into bytes; false when it is empty, has an unknown unit, or overflows.</summary>
    public static bool TryParse(string? text, out long bytes)
    {
        bytes = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var match = Pattern().Match(text.Trim());
        if (!match.Success || !long.TryParse(match.Groups["n"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        var scale = match.Groups["unit"].Value switch
        {
            "KiB" => 1L << 10,
            "MiB" => 1L << 20,
            "GiB" => 1L << 30,
            _ => 1L,
        };

        if (number > long.MaxValue / scale)
        {
            return false;
        }

        bytes = number * scale;
        return true;
    }

    /// <summary>Formats <paramref name="bytes"/> in the largest unit that divides it exactly, for example <c>64KiB</c>.</summary>
    public static string Format(long bytes)
    {
        foreach (var (unit, scale) in new[] { ("GiB", 1L << 30), ("MiB", 1L << 20), ("KiB", 1L << 10) })
        {
            if (bytes != 0 && bytes % scale == 0)
            {
                return (bytes / scale).ToString(CultureInfo.InvariantCulture) + unit;
            }
        }

        return bytes.ToString(CultureInfo.InvariantCulture) + "B";
    }
}
