using System.Text;

namespace Apiary.Runtime.Manager;

/// <summary>
/// A unified diff of a set of text files against their current version (or nothing), for the person who approves a
/// spawn. One hunk per changed file, covering the whole file: drafts are small, and the reader sees every line.
/// </summary>
internal static class UnifiedDiff
{
    /// <summary>The diff of <paramref name="after"/> against <paramref name="before"/>, files in ordinal order; empty when nothing changes.</summary>
    public static string Of(string folder, IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after)
    {
        var text = new StringBuilder();
        foreach (var file in after.Keys.Order(StringComparer.Ordinal))
        {
            var old = before.GetValueOrDefault(file);
            var now = after[file];
            if (old == now)
            {
                continue;
            }

            text.Append("--- ").Append(old is null ? "/dev/null" : $"a/{folder}/{file}").Append('\n');
            text.Append("+++ b/").Append(folder).Append('/').Append(file).Append('\n');
            AppendHunk(text, Lines(old), Lines(now));
        }

        return text.ToString();
    }

    private static string[] Lines(string? text) =>
        string.IsNullOrEmpty(text) ? [] : text.TrimEnd('\n').Split('\n');

    private static void AppendHunk(StringBuilder text, string[] a, string[] b)
    {
        // Longest common subsequence by dynamic programming: quadratic, and drafts are capped in size.
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
        {
            for (var j = b.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        text.Append(CultureInfo.InvariantCulture, $"@@ -{(a.Length == 0 ? 0 : 1)},{a.Length} +{(b.Length == 0 ? 0 : 1)},{b.Length} @@\n");
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                text.Append(' ').Append(a[x++]).Append('\n');
                y++;
            }
            else if (y < b.Length && (x == a.Length || lcs[x, y + 1] >= lcs[x + 1, y]))
            {
                text.Append('+').Append(b[y++]).Append('\n');
            }
            else
            {
                text.Append('-').Append(a[x++]).Append('\n');
            }
        }
    }
}
