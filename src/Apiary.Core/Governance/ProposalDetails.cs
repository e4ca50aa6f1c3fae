using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Apiary.Governance;

/// <summary>
/// Everything besides its command line that changes what a proposal does, as policies, the record and an approver see
/// it: the resolved program, the environment it sets, the secrets it is given (by name; a value is never shown), its
/// standard input and written content (size, SHA-256, and the text itself when short), its working folder, template
/// and time limit. Null fields were not set.
/// </summary>
/// <param name="Program">The program as resolved inside the sandbox.</param>
/// <param name="Env">Environment variables the proposal sets.</param>
/// <param name="Secrets">Names of the secrets it is given.</param>
/// <param name="Stdin">Its standard input.</param>
/// <param name="Workdir">Its working folder, relative to the workspace.</param>
/// <param name="Template">Its sandbox template.</param>
/// <param name="TimeoutSeconds">Its time limit.</param>
/// <param name="TemplateTimeoutSeconds">The template's time limit.</param>
/// <param name="Content">What a <c>write_file</c> writes.</param>
public sealed record ProposalDetails(
    string? Program,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<string> Secrets,
    TextSummary? Stdin,
    string? Workdir,
    string? Template,
    int? TimeoutSeconds,
    int? TemplateTimeoutSeconds,
    TextSummary? Content)
{
    /// <summary>The details of <paramref name="proposal"/>; null when it has none (a message, a read).</summary>
    public static ProposalDetails? Of(Proposal proposal)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        var a = proposal.Arguments;
        if (a.Program is null && a.Env.Count == 0 && a.Secrets.Count == 0 && a.Stdin is null && a.Workdir is null && a.Template is null && a.TimeoutSeconds is null && a.Content is null)
        {
            return null;
        }

        return new ProposalDetails(a.Program, a.Env, a.Secrets, TextSummary.Of(a.Stdin), a.Workdir, a.Template, a.TimeoutSeconds, a.TemplateTimeoutSeconds, TextSummary.Of(a.Content));
    }

    /// <summary>One line per detail, for people: what an approver reads under the command line.</summary>
    public IReadOnlyList<string> Lines()
    {
        var lines = new List<string>();
        if (Env.Count > 0)
        {
            lines.Add("env: " + string.Join(' ', Env.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => e.Key + "=" + Proposal.JoinArguments([e.Value]))));
        }

        if (Secrets.Count > 0)
        {
            lines.Add("secrets: " + string.Join(", ", Secrets.Select(s => $"{s} (its value is never shown: [secret:{s}])")));
        }

        if (Stdin is { } stdin)
        {
            lines.Add("stdin: " + stdin.Describe());
        }

        if (Content is { } content)
        {
            lines.Add("content: " + content.Describe());
        }

        if (Workdir is { } workdir)
        {
            lines.Add("workdir: " + workdir);
        }

        if (Template is not null || TimeoutSeconds is not null)
        {
            var limit = TimeoutSeconds is { } t ? Seconds(t) + (TemplateTimeoutSeconds is { } own && own != t ? $" (the template's is {Seconds(own)})" : "") : null;
            lines.Add(string.Join(", ", new[] { Template is null ? null : "template: " + Template, limit is null ? null : "timeout: " + limit }.OfType<string>()));
        }

        return lines;
    }

    private static string Seconds(int seconds) => seconds.ToString(CultureInfo.InvariantCulture) + "s";
}

/// <summary>A text shown by its size and hash, and by itself when it is short enough to read at a glance.</summary>
/// <param name="Bytes">Its length in UTF-8 bytes.</param>
/// <param name="Sha256">Lowercase hex SHA-256 of its UTF-8 bytes.</param>
/// <param name="Text">The text itself when it is at most <see cref="ShownChars"/> characters; else null.</param>
public sealed record TextSummary(long Bytes, string Sha256, string? Text)
{
    /// <summary>Texts up to this many characters are shown whole.</summary>
    public const int ShownChars = 200;

    /// <summary>The summary of <paramref name="text"/>, or null for none.</summary>
    public static TextSummary? Of(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        return new TextSummary(bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes)), text.Length <= ShownChars ? text : null);
    }

    /// <summary>For people: size, hash, and the text when short.</summary>
    public string Describe() =>
        $"{Bytes.ToString(CultureInfo.InvariantCulture)} bytes, sha256 {Sha256[..16]}…" + (Text is null ? "" : ": " + Proposal.JoinArguments([Text]));
}
