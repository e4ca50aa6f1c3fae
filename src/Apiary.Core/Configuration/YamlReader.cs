using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Apiary.Configuration;

/// <summary>
/// Reads the YAML of one configuration file (agent frontmatter, <c>apiary.yaml</c>, sandbox templates), collecting
/// diagnostics that name the file, line and column. The conventions every Apiary file shares: unknown fields are
/// warnings with a did-you-mean, values of the wrong shape are errors, and nothing falls back silently.
/// </summary>
/// <param name="file">The file the YAML came from, for messages.</param>
/// <param name="firstLine">The line of the file on which the YAML text starts (2 for frontmatter after its fence).</param>
public sealed class YamlReader(string file, int firstLine = 1)
{
    private readonly List<Diagnostic> _diagnostics = [];

    /// <summary>Every warning and error found so far.</summary>
    public IReadOnlyList<Diagnostic> Diagnostics => _diagnostics;

    /// <summary>True when an error was found.</summary>
    public bool HasErrors => _diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);

    /// <summary>Parses <paramref name="yaml"/> as one YAML document; null when it is empty or malformed (then an error is recorded).</summary>
    public YamlNode? LoadRoot(string yaml)
    {
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            if (stream.Documents.Count > 1)
            {
                Error(stream.Documents[1].RootNode.Start, "more than one YAML document; keep a single mapping of fields");
            }

            var root = stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
            return root is null || IsNull(root) ? null : root;
        }
        catch (YamlException ex)
        {
            // YamlDotNet reports a tab in indentation at the start of the enclosing mapping; point at the tab instead.
            if (FirstIndentingTab(yaml) is { } tab && ex.Message.Contains("tab", StringComparison.OrdinalIgnoreCase))
            {
                Error(tab, "malformed YAML: a tab is used for indentation; YAML needs spaces");
            }
            else if (FirstUnquotedWildcard(yaml) is { } star && Describe(ex).Contains("anchor", StringComparison.OrdinalIgnoreCase))
            {
                // An unquoted '*.github.com' is a YAML alias; YamlDotNet reports the missing anchor at the document start.
                Error(star, "malformed YAML: a wildcard domain must be quoted, such as '*.github.com', because an unquoted '*' starts a YAML alias");
            }
            else
            {
                Error(ex.Start, $"malformed YAML: {Describe(ex)}");
            }

            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner fails this way, without a position, on a flow mapping or sequence ('{ ...' or '[ ...')
            // left open at the end of the text: the file's last line is where it ran out.
            var lines = yaml.TrimEnd('\n').Split('\n');
            Error(new Mark(0, lines.Length, lines[^1].Length + 1), "malformed YAML: the text ends inside an unclosed '{' or '['; close it (or quote the value)");
            return null;
        }
    }

    /// <summary>The key of a mapping entry as text ("" when it is not a plain value).</summary>
    public static string KeyOf(YamlNode keyNode) => (keyNode as YamlScalarNode)?.Value ?? "";

    /// <summary>
    /// Warns that <paramref name="key"/> is not a field of <paramref name="parent"/>, suggesting the closest known
    /// field, or the new name of a field from an older draft of the format (<paramref name="renamed"/>).
    /// </summary>
    public void WarnUnknown(YamlNode keyNode, string key, IReadOnlyList<string> known, string parent, IReadOnlyDictionary<string, string>? renamed = null)
    {
        var hint = renamed is not null && renamed.TryGetValue(key, out var moved) ? $"; did you mean '{moved}'?"
            : Suggest(key, known) is { } close ? $"; did you mean '{parent}{close}'?"
            : $"; known fields: {string.Join(", ", known.Select(k => parent + k))}";
        Warning(keyNode.Start, $"unknown field '{parent}{key}' is ignored{hint}");
    }

    /// <summary>Warns that a field has no value and so keeps its default.</summary>
    public void WarnEmpty(YamlNode keyNode, string field) =>
        Warning(keyNode.Start, $"'{field}' has no value, so it keeps its default; give it a value or remove the line");

    /// <summary>A single non-empty text value, trimmed; null (with an error) otherwise.</summary>
    public string? Text(YamlNode node, string field)
    {
        if (node is not YamlScalarNode scalar)
        {
            Error(node.Start, $"'{field}' must be a single value, not a list or a mapping");
            return null;
        }

        var value = scalar.Value?.Trim();
        if (string.IsNullOrEmpty(value))
        {
            Error(node.Start, $"'{field}' must not be empty");
            return null;
        }

        return value;
    }

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>; '_' may group digits.</summary>
    public long? WholeNumber(YamlNode node, string field, long min, long max)
    {
        var value = Text(node, field);
        if (value is null)
        {
            return null;
        }

        var styles = min < 0 ? NumberStyles.AllowLeadingSign : NumberStyles.None;
        if (!long.TryParse(value.Replace("_", "", StringComparison.Ordinal), styles, CultureInfo.InvariantCulture, out var number)
            || number < min || number > max)
        {
            Error(node.Start, $"'{field}' must be a whole number from {Show(min)} to {Show(max)}, not '{value}'");
            return null;
        }

        return number;
    }

    /// <summary><c>true</c> or <c>false</c> (YAML 1.2 spellings); null (with an error) otherwise.</summary>
    public bool? Boolean(YamlNode node, string field)
    {
        var value = Text(node, field);
        switch (value)
        {
            case null:
                return null;
            case "true" or "True" or "TRUE":
                return true;
            case "false" or "False" or "FALSE":
                return false;
            default:
                Error(node.Start, $"'{field}' must be true or false, not '{value}'");
                return null;
        }
    }

    /// <summary>
    /// True for a plain empty value (<c>field:</c>, <c>~</c>, <c>null</c>). A quoted <c>""</c> is a value: the empty text.
    /// </summary>
    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    /// <summary>Records an error at <paramref name="mark"/>.</summary>
    public void Error(Mark mark, string message) =>
        _diagnostics.Add(Diagnostic.Fail(message, file, LineOf(mark), ColumnOf(mark)));

    /// <summary>Records a warning at <paramref name="mark"/>.</summary>
    public void Warning(Mark mark, string message) =>
        _diagnostics.Add(Diagnostic.Warn(message, file, LineOf(mark), ColumnOf(mark)));

    /// <summary>Records an error about the whole file, with no position.</summary>
    public void Error(string message) => _diagnostics.Add(Diagnostic.Fail(message, file));

    /// <summary>A number as people read it in messages.</summary>
    public static string Show(long number) => number.ToString(CultureInfo.InvariantCulture);

    // YamlDotNet counts lines from 1 within the text it is given, which may start below the file's first line.
    private int? LineOf(Mark mark) => mark.Line > 0 ? (int)mark.Line + firstLine - 1 : null;

    private static int? ColumnOf(Mark mark) => mark.Column > 0 ? (int)mark.Column : null;

    private static Mark? FirstIndentingTab(string yaml)
    {
        var lines = yaml.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var indent = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
            var tab = lines[i].IndexOf('\t', StringComparison.Ordinal);
            if (tab >= 0 && tab < indent)
            {
                return new Mark(0, i + 1, tab + 1);
            }
        }

        return null;
    }

    private static Mark? FirstUnquotedWildcard(string yaml)
    {
        var lines = yaml.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var star = lines[i].IndexOf("*.", StringComparison.Ordinal);
            if (star >= 0 && (star == 0 || lines[i][star - 1] is ' ' or '[' or ',' or '-' or ':'))
            {
                return new Mark(0, i + 1, star + 1);
            }
        }

        return null;
    }

    private static string Describe(YamlException ex)
    {
        // YamlDotNet prefixes messages with its own "(Line: .., Col: ..)", which the diagnostic already gives as file:line:col.
        var message = ex.InnerException?.Message ?? ex.Message;
        var close = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line:", StringComparison.Ordinal) && close > 0 ? message[(close + 3)..] : message;
    }

    private static string? Suggest(string key, IReadOnlyList<string> known) =>
        known.Select(k => (k, d: Levenshtein(key, k))).Where(x => x.d <= 2).OrderBy(x => x.d).Select(x => x.k).FirstOrDefault();

    private static int Levenshtein(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            previous = current;
        }

        return previous[b.Length];
    }
}
