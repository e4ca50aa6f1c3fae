namespace Apiary.Agents;

/// <summary>
/// Splits a Markdown document into its frontmatter (the lines between a <c>---</c> fence on the first line and the
/// next <c>---</c> or <c>...</c> line) and its body.
/// </summary>
internal static class Frontmatter
{
    /// <summary>The parts of a document.</summary>
    /// <param name="Yaml">The frontmatter text, or null when the document has none.</param>
    /// <param name="YamlFirstLine">The 1-based line of the file on which the frontmatter text starts.</param>
    /// <param name="Body">Everything after the closing fence (the whole text when there is no frontmatter).</param>
    /// <param name="Error">Why the fences are malformed, or null.</param>
    internal sealed record Parts(string? Yaml, int YamlFirstLine, string Body, string? Error);

    public static Parts Split(string text)
    {
        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            text = text[1..];
        }

        var firstEnd = LineEnd(text, 0, out var next);
        if (!IsFence(text.AsSpan(0, firstEnd), closing: false))
        {
            return new Parts(null, 0, text, null);
        }

        var start = next;
        var position = next;
        while (position < text.Length)
        {
            var end = LineEnd(text, position, out var after);
            if (IsFence(text.AsSpan(position, end - position), closing: true))
            {
                return new Parts(text[start..position], 2, text[after..], null);
            }

            position = after;
        }

        return new Parts(null, 0, "", "the frontmatter opened by '---' on line 1 is never closed; add a '---' line after the last field");
    }

    private static bool IsFence(ReadOnlySpan<char> line, bool closing)
    {
        var trimmed = line.TrimEnd();
        return trimmed is "---" || (closing && trimmed is "...");
    }

    private static int LineEnd(string text, int start, out int next)
    {
        var newline = text.IndexOf('\n', start);
        if (newline < 0)
        {
            next = text.Length;
            return text.Length;
        }

        next = newline + 1;
        return newline > start && text[newline - 1] == '\r' ? newline - 1 : newline;
    }
}
