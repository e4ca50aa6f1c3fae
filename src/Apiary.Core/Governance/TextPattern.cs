using System.Text;
using System.Text.RegularExpressions;

namespace Apiary.Governance;

/// <summary>How a glob treats <c>/</c>.</summary>
internal enum GlobFlavor
{
    /// <summary><c>*</c> matches any characters, <c>/</c> included (commands, arguments, names).</summary>
    Text,

    /// <summary><c>*</c> and <c>?</c> stop at <c>/</c>; <c>**</c> matches any number of whole folders.</summary>
    Path,
}

/// <summary>
/// One compiled pattern of a policy: a glob that must match the whole value, or (with the prefix <c>re:</c>) a regular
/// expression that may match anywhere in it unless anchored. Simple globs (literal, prefix, suffix, substring) compare
/// strings directly; the rest become non-backtracking regular expressions, so matching is linear in the input.
/// </summary>
internal abstract class TextPattern
{
    /// <summary>The longest a non-backtracking regular expression may run on one value; a timeout denies the proposal.</summary>
    /// <remarks>
    /// The engine is linear in the input, so this is a backstop, not a budget: generous enough that a busy machine
    /// building a pattern's automaton on first use does not turn a match into a timeout.
    /// </remarks>
    public static readonly TimeSpan RegexTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The longest a pattern that needs the backtracking engine (a backreference, a lookaround, an atomic group) may run
    /// on one value; a timeout denies the proposal.
    /// </summary>
    /// <remarks>
    /// Backtracking can take exponential time (<c>(a+)+$</c> on a long run of <c>a</c> and a <c>!</c>), so this is the
    /// budget that keeps such a pattern from stalling decisions: a legitimate match on a proposal's text takes
    /// microseconds, and one that runs out fails closed.
    /// </remarks>
    public static readonly TimeSpan BacktrackingTimeout = TimeSpan.FromMilliseconds(100);

    private TextPattern(string text) => Text = text;

    /// <summary>The pattern as written.</summary>
    public string Text { get; }

    /// <summary>True when the pattern needs the backtracking engine, which only its timeout bounds.</summary>
    public virtual bool Backtracks => false;

    /// <summary>Whether <paramref name="value"/> matches.</summary>
    /// <exception cref="RegexMatchTimeoutException">A regular expression ran out of time; the caller must fail closed.</exception>
    public abstract bool Matches(string value);

    /// <summary>
    /// True when this pattern matches every value <paramref name="other"/> matches, as far as can be told without
    /// enumerating values: the same pattern, <c>*</c>, a literal this matches, a prefix, suffix or substring inside
    /// this one's, a folder inside this folder. False when unsure, so a caller that warns on it does not warn wrongly.
    /// </summary>
    public bool Covers(TextPattern other)
    {
        ArgumentNullException.ThrowIfNull(other);
        try
        {
            return this is AnyPattern
                || string.Equals(Text, other.Text, StringComparison.Ordinal)
                || (other is LiteralPattern && Matches(other.Text))
                || (this, other) switch
                {
                    (PrefixPattern a, PrefixPattern b) => b.Prefix.StartsWith(a.Prefix, StringComparison.Ordinal),
                    (SuffixPattern a, SuffixPattern b) => b.Suffix.EndsWith(a.Suffix, StringComparison.Ordinal),
                    (ContainsPattern a, PrefixPattern b) => b.Prefix.Contains(a.Inner, StringComparison.Ordinal),
                    (ContainsPattern a, SuffixPattern b) => b.Suffix.Contains(a.Inner, StringComparison.Ordinal),
                    (ContainsPattern a, ContainsPattern b) => b.Inner.Contains(a.Inner, StringComparison.Ordinal),
                    (FolderPattern a, FolderPattern b) => a.Matches(b.Folder),
                    _ => false,
                };
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }

    /// <summary>Compiles <paramref name="text"/>; null with <paramref name="error"/> when it is not a valid pattern.</summary>
    public static TextPattern? Compile(string text, GlobFlavor flavor, out string? error)
    {
        error = null;
        if (text.StartsWith("re:", StringComparison.Ordinal))
        {
            var regex = CompileRegex(text[3..], out error);
            return regex is null ? null : new RegexPattern(text, regex);
        }

        if (flavor == GlobFlavor.Path && text.Split('/').Any(p => p == ".."))
        {
            error = $"path pattern '{text}' must not contain '..'; write the folder it means instead";
            return null;
        }

        var star = text.IndexOf('*', StringComparison.Ordinal);
        var question = text.IndexOf('?', StringComparison.Ordinal);
        if (star < 0 && question < 0)
        {
            return new LiteralPattern(text);
        }

        if (question < 0)
        {
            if (flavor == GlobFlavor.Text)
            {
                var inner = text.Trim('*');
                if (!inner.Contains('*', StringComparison.Ordinal))
                {
                    var leading = text.StartsWith('*');
                    var trailing = text.EndsWith('*');
                    return inner.Length == 0 ? new AnyPattern(text)
                        : leading && trailing ? new ContainsPattern(text, inner)
                        : leading ? new SuffixPattern(text, inner)
                        : new PrefixPattern(text, inner);
                }
            }
            else if (text == "**")
            {
                return new AnyPattern(text);
            }
            else if (text.EndsWith("/**", StringComparison.Ordinal) && text.IndexOf('*', StringComparison.Ordinal) == text.Length - 2)
            {
                return new FolderPattern(text, text[..^3]);
            }
        }

        var glob = CompileRegex(GlobToRegex(text, flavor), out error);
        if (glob is null)
        {
            return null;
        }

        // Cheap checks first: a value shorter than the glob's fixed characters, or without its literal start, cannot match.
        var wildcard = text.IndexOfAny(['*', '?']);
        var minLength = text.Length - text.Count(c => c == '*')
            - (flavor == GlobFlavor.Path ? text.Split("**/").Length - 1 : 0);
        return new GlobPattern(text, glob, text[..wildcard], minLength);
    }

    /// <summary>
    /// Compiles a regular expression from outside (a policy, an evaluator's settings) on the non-backtracking engine,
    /// which cannot take exponential time, with <see cref="RegexTimeout"/>; a pattern that engine cannot run
    /// (backreferences, lookarounds, atomic groups) falls back to the backtracking engine with the shorter
    /// <see cref="BacktrackingTimeout"/>. Null with <paramref name="error"/> when it is not a valid regular expression.
    /// </summary>
    internal static Regex? CompileRegex(string pattern, out string? error)
    {
        error = null;
        try
        {
            return new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant, RegexTimeout);
        }
        catch (NotSupportedException)
        {
            // Backreferences and lookarounds need the backtracking engine; the timeout still bounds it.
            try
            {
                return new Regex(pattern, RegexOptions.CultureInvariant, BacktrackingTimeout);
            }
            catch (ArgumentException ex)
            {
                error = $"'{pattern}' is not a valid regular expression: {ex.Message}";
                return null;
            }
        }
        catch (ArgumentException ex)
        {
            error = $"'{pattern}' is not a valid regular expression: {ex.Message}";
            return null;
        }
    }

    private static string GlobToRegex(string glob, GlobFlavor flavor)
    {
        var regex = new StringBuilder("^");
        for (var i = 0; i < glob.Length; i++)
        {
            var c = glob[i];
            if (c == '*' && flavor == GlobFlavor.Path && i + 1 < glob.Length && glob[i + 1] == '*')
            {
                var atStart = i == 0 || glob[i - 1] == '/';
                var slashAfter = i + 2 < glob.Length && glob[i + 2] == '/';
                if (atStart && slashAfter)
                {
                    regex.Append("(?:[^/]*/)*");
                    i += 2;
                }
                else
                {
                    regex.Append(".*");
                    i++;
                }
            }
            else if (c == '*')
            {
                regex.Append(flavor == GlobFlavor.Path ? "[^/]*" : ".*");
            }
            else if (c == '?')
            {
                regex.Append(flavor == GlobFlavor.Path ? "[^/]" : ".");
            }
            else
            {
                regex.Append(Regex.Escape(c.ToString()));
            }
        }

        return regex.Append(@"\z").ToString();
    }

    private sealed class LiteralPattern(string text) : TextPattern(text)
    {
        public override bool Matches(string value) => string.Equals(value, Text, StringComparison.Ordinal);
    }

    private sealed class AnyPattern(string text) : TextPattern(text)
    {
        public override bool Matches(string value) => true;
    }

    private sealed class PrefixPattern(string text, string prefix) : TextPattern(text)
    {
        public string Prefix => prefix;

        public override bool Matches(string value) => value.StartsWith(prefix, StringComparison.Ordinal);
    }

    private sealed class SuffixPattern(string text, string suffix) : TextPattern(text)
    {
        public string Suffix => suffix;

        public override bool Matches(string value) => value.EndsWith(suffix, StringComparison.Ordinal);
    }

    private sealed class ContainsPattern(string text, string inner) : TextPattern(text)
    {
        public string Inner => inner;

        public override bool Matches(string value) => value.Contains(inner, StringComparison.Ordinal);
    }

    // 'src/**': the folder itself and everything below it.
    private sealed class FolderPattern(string text, string folder) : TextPattern(text)
    {
        public string Folder => folder;

        public override bool Matches(string value) =>
            value.StartsWith(folder, StringComparison.Ordinal)
            && (value.Length == folder.Length || (value[folder.Length] == '/' && folder.Length > 0) || (folder.Length == 0 && value.StartsWith('/')));
    }

    private sealed class GlobPattern(string text, Regex regex, string prefix, int minLength) : TextPattern(text)
    {
        private readonly PerThreadRegex _regex = new(regex);

        public override bool Matches(string value) =>
            value.Length >= minLength && value.StartsWith(prefix, StringComparison.Ordinal) && _regex.IsMatch(value);
    }

    private sealed class RegexPattern(string text, Regex regex) : TextPattern(text)
    {
        private readonly PerThreadRegex _regex = new(regex);

        public override bool Backtracks => (regex.Options & RegexOptions.NonBacktracking) == 0;

        public override bool Matches(string value) => _regex.IsMatch(value);
    }

    /// <summary>
    /// One <see cref="Regex"/> per thread. A Regex keeps a single cached matcher state; threads that match with the same
    /// instance at once keep taking it from each other and building new ones, so decisions on two cores ran slower than
    /// on one. A copy per thread removes that contention.
    /// </summary>
#pragma warning disable CA1001 // A pattern lives as long as its policy; the GC reclaims the per-thread copies with it.
    private sealed class PerThreadRegex(Regex prototype)
    {
        private readonly ThreadLocal<Regex> _copies = new(() => new Regex(prototype.ToString(), prototype.Options, prototype.MatchTimeout));

        public bool IsMatch(string value) => _copies.Value!.IsMatch(value);
    }
#pragma warning restore CA1001
}

/// <summary>A list of patterns of which one must match.</summary>
internal sealed class PatternSet(TextPattern[] patterns)
{
    public IReadOnlyList<TextPattern> Patterns => patterns;

    public bool MatchesAny(string value)
    {
        foreach (var pattern in patterns)
        {
            if (pattern.Matches(value))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when every value <paramref name="other"/> matches, this set matches too (false when unsure).</summary>
    public bool Covers(PatternSet other) => other.Patterns.All(p => patterns.Any(mine => mine.Covers(p)));

    public override string ToString() => string.Join(", ", patterns.Select(p => p.Text));
}
