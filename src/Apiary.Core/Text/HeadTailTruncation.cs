using System.Globalization;

namespace Apiary.Text;

/// <summary>The result of fitting a text under a cap.</summary>
/// <param name="Text">The text, at most the cap long.</param>
/// <param name="OmittedChars">How many characters of the original were left out (0 when it fit).</param>
public readonly record struct Truncated(string Text, int OmittedChars)
{
    /// <summary>True when part of the original was left out.</summary>
    public bool WasTruncated => OmittedChars > 0;
}

/// <summary>
/// Fits text under a character cap by keeping its head and its tail and putting an explicit marker where the middle
/// was. The result never exceeds the cap, and never splits a surrogate pair.
/// </summary>
public static class HeadTailTruncation
{
    /// <summary>The smallest cap that leaves room for the marker and some text on each side.</summary>
    public const int MinimumCap = 256;

    /// <summary>The share of the kept characters that come from the head; the rest come from the tail.</summary>
    private const double HeadShare = 2.0 / 3.0;

    /// <summary>
    /// Returns <paramref name="text"/> unchanged when it fits in <paramref name="cap"/> characters; otherwise its head,
    /// a marker naming <paramref name="what"/> and how much was left out, and its tail.
    /// </summary>
    public static Truncated Apply(string text, int cap, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(cap, MinimumCap);
        if (text.Length <= cap)
        {
            return new Truncated(text, 0);
        }

        // The marker is sized for the largest count it could show, so the real one never pushes past the cap.
        var room = cap - Marker(what, text.Length, text.Length).Length;
        if (room < 2)
        {
            throw new ArgumentException($"the description '{what}' leaves no room under a cap of {cap}", nameof(what));
        }

        var head = (int)(room * HeadShare);
        var tail = room - head;
        if (char.IsHighSurrogate(text[head - 1]))
        {
            head--;
        }

        var tailStart = text.Length - tail;
        if (char.IsLowSurrogate(text[tailStart]))
        {
            tailStart++;
        }

        var omitted = tailStart - head;
        return new Truncated(string.Concat(text.AsSpan(0, head), Marker(what, omitted, text.Length), text.AsSpan(tailStart)), omitted);
    }

    private static string Marker(string what, int omitted, int total) =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"\n\n[... truncated: {omitted} of {total} characters of {what} left out here; the start and the end are kept ...]\n\n");
}
