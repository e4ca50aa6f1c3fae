using System.Text;
using Apiary.Text;
using Apiary.Configuration;

namespace Apiary.Agents;

/// <summary>What happened to one bootstrap file when the prompt was composed.</summary>
public enum SectionStatus
{
    /// <summary>Included whole.</summary>
    Included,

    /// <summary>Included with its middle cut to fit the section cap.</summary>
    Truncated,

    /// <summary>Left out; <see cref="PromptSection.Reason"/> says why.</summary>
    Skipped,
}

/// <summary>One bootstrap file's part in a composed prompt.</summary>
/// <param name="File">The file name, such as <c>SOUL.md</c>.</param>
/// <param name="Status">Included, truncated or skipped.</param>
/// <param name="OriginalChars">Characters the file contributed before any cap (0 when skipped).</param>
/// <param name="IncludedChars">Characters of it in the prompt.</param>
/// <param name="Reason">Why it was skipped or truncated, for people.</param>
public sealed record PromptSection(string File, SectionStatus Status, int OriginalChars, int IncludedChars, string? Reason);

/// <summary>A composed system prompt and an account of how it was made.</summary>
/// <param name="Text">The prompt.</param>
/// <param name="Sections">Every bootstrap file in injection order, with what happened to it.</param>
/// <param name="TotalOmittedChars">Characters cut by the whole-prompt cap (0 when it fit).</param>
/// <param name="Warnings">Findings the operator should see, such as a file too large to read.</param>
public sealed record ComposedPrompt(string Text, IReadOnlyList<PromptSection> Sections, int TotalOmittedChars, IReadOnlyList<Diagnostic> Warnings);

/// <summary>
/// Composes an agent's system prompt from its bootstrap files in a fixed order (SOUL, USER, AGENTS body, MEMORY,
/// IDENTITY, TOOLS, BOOTSTRAP), each under a section marker. Missing and blank files are skipped, files over the size
/// limit are skipped with a warning, each section and the whole prompt are capped keeping head and tail, and
/// BOOTSTRAP.md is left out once the agent has completed a session.
/// </summary>
public static class PromptComposer
{
    /// <summary>The bootstrap files, in the order they are injected.</summary>
    public static readonly IReadOnlyList<string> Files =
        ["SOUL.md", "USER.md", "AGENTS.md", "MEMORY.md", "IDENTITY.md", "TOOLS.md", "BOOTSTRAP.md"];

    /// <summary>The file that is injected only until the agent's first completed session.</summary>
    public const string BootstrapFile = "BOOTSTRAP.md";

    /// <summary>The file whose frontmatter is configuration and whose body alone goes into the prompt.</summary>
    public const string ManifestFile = "AGENTS.md";

    /// <summary>The marker line that opens a section in the prompt.</summary>
    public static string SectionMarker(string file) => $"=== {Path.GetFileNameWithoutExtension(file)} ===";

    /// <summary>
    /// Composes the prompt of the agent in <paramref name="agentDirectory"/>. <paramref name="agentsBody"/> is the
    /// body of its <c>AGENTS.md</c> without frontmatter; <paramref name="bootstrapConsumedReason"/>, when set, says
    /// why BOOTSTRAP.md is left out.
    /// </summary>
    public static async Task<ComposedPrompt> ComposeAsync(
        string agentDirectory,
        string agentsBody,
        string? bootstrapConsumedReason,
        PromptOptions options,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(agentDirectory);
        ArgumentNullException.ThrowIfNull(agentsBody);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var sections = new List<PromptSection>();
        var warnings = new List<Diagnostic>();
        var prompt = new StringBuilder();
        foreach (var file in Files)
        {
            var path = Path.Combine(agentDirectory, file);
            string? content;
            if (file == BootstrapFile && bootstrapConsumedReason is not null)
            {
                sections.Add(new PromptSection(file, SectionStatus.Skipped, 0, 0, bootstrapConsumedReason));
                continue;
            }

            if (file == ManifestFile)
            {
                content = agentsBody;
            }
            else
            {
                var read = await ReadAsync(path, options.MaxFileBytes, cancellationToken).ConfigureAwait(false);
                if (read.Skipped is { } why)
                {
                    sections.Add(new PromptSection(file, SectionStatus.Skipped, 0, 0, why));
                    if (read.IsWarning)
                    {
                        warnings.Add(Diagnostic.Warn($"skipped: {why}", path));
                    }

                    continue;
                }

                content = read.Text!;
            }

            content = content.Trim();
            if (content.Length == 0)
            {
                sections.Add(new PromptSection(file, SectionStatus.Skipped, 0, 0, file == ManifestFile ? "no text after the frontmatter" : "empty or only whitespace"));
                continue;
            }

            var capped = HeadTailTruncation.Apply(content, options.SectionChars, file);
            sections.Add(capped.WasTruncated
                ? new PromptSection(file, SectionStatus.Truncated, content.Length, capped.Text.Length, $"{content.Length} characters exceed the section cap of {options.SectionChars}; {capped.OmittedChars} were cut from the middle")
                : new PromptSection(file, SectionStatus.Included, content.Length, content.Length, null));
            if (prompt.Length > 0)
            {
                prompt.Append("\n\n");
            }

            prompt.Append(SectionMarker(file)).Append('\n').Append(capped.Text);
        }

        var whole = HeadTailTruncation.Apply(prompt.ToString(), options.TotalChars, "the prompt");
        return new ComposedPrompt(whole.Text, sections, whole.OmittedChars, warnings);
    }

    private readonly record struct FileRead(string? Text, string? Skipped, bool IsWarning);

    private static async Task<FileRead> ReadAsync(string path, long maxBytes, CancellationToken cancellationToken)
    {
        if (Directory.Exists(path))
        {
            return new FileRead(null, "it is a folder, not a file", IsWarning: true);
        }

        if (!File.Exists(path))
        {
            return new FileRead(null, "no such file", IsWarning: false);
        }

        try
        {
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 4096, FileOptions.Asynchronous);
            if (stream.Length > maxBytes)
            {
                return new FileRead(null, $"{stream.Length} bytes is over the limit of {maxBytes} bytes for a bootstrap file; shorten it", IsWarning: true);
            }

            using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            return new FileRead(await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false), null, false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new FileRead(null, $"cannot be read: {ex.Message}", IsWarning: true);
        }
    }
}
