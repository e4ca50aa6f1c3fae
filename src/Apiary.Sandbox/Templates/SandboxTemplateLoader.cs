using Apiary.Agents;
using Apiary.Configuration;

namespace Apiary.Sandbox.Templates;

/// <summary>
/// Loads sandbox templates (<c>NAME.yaml</c>) from a home's templates folder into <see cref="SandboxTemplate"/>.
/// Every value is checked: a template with any error does not load (there is no fallback to defaults), unknown fields
/// are warnings, and each finding names the file, line, column and field. One broken template never hides the others.
/// </summary>
/// <remarks>The format is described in <c>docs/templates.md</c>.</remarks>
public sealed class SandboxTemplateLoader
{
    /// <summary>The extension of a template file.</summary>
    public const string Extension = ".yaml";

    /// <summary>The largest template file read, in bytes; a template is a page of settings, not data.</summary>
    public const int MaxFileBytes = 64 * 1024;

    /// <summary>Creates a loader of the templates in <paramref name="templatesDirectory"/>.</summary>
    /// <param name="templatesDirectory">The folder of templates, usually <c>templates/</c> in the home.</param>
    /// <param name="apiaryHome">The Apiary home in use: a template may not mount it, anything inside it, or anything that contains it.</param>
    public SandboxTemplateLoader(string templatesDirectory, string apiaryHome)
    {
        ArgumentException.ThrowIfNullOrEmpty(templatesDirectory);
        ArgumentException.ThrowIfNullOrEmpty(apiaryHome);
        TemplatesDirectory = Path.GetFullPath(templatesDirectory);
        ApiaryHome = Path.GetFullPath(apiaryHome);
    }

    /// <summary>The folder templates are read from.</summary>
    public string TemplatesDirectory { get; }

    /// <summary>The Apiary home that templates may not expose to a sandbox.</summary>
    public string ApiaryHome { get; }

    /// <summary>
    /// Loads the template <paramref name="name"/> from <c>NAME.yaml</c>. An invalid name is refused before any file is
    /// touched, so a name can never reach outside the templates folder.
    /// </summary>
    /// <returns>The template, or the errors that keep it from loading; warnings either way.</returns>
    public async Task<TemplateLoadResult> LoadAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (SettingRules.CheckName("template", name) is { } invalid)
        {
            return new TemplateLoadResult(name, TemplatesDirectory, null, [Diagnostic.Fail(invalid, TemplatesDirectory)]);
        }

        var file = Path.Combine(TemplatesDirectory, name + Extension);
        return await LoadFileAsync(name, file, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Loads every template of the folder, each on its own. Files whose names are not valid template names are skipped
    /// with a warning; files that are not <c>.yaml</c> are not templates and are passed over.
    /// </summary>
    public async Task<TemplateListing> ListAsync(CancellationToken cancellationToken = default)
    {
        var diagnostics = new List<Diagnostic>();
        var templates = new List<TemplateLoadResult>();
        if (!Directory.Exists(TemplatesDirectory))
        {
            diagnostics.Add(Diagnostic.Fail($"there is no templates folder {TemplatesDirectory}; run 'apiary init' to create one", TemplatesDirectory));
            return new TemplateListing(templates, diagnostics);
        }

        foreach (var file in new DirectoryInfo(TemplatesDirectory).EnumerateFiles().OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            if (file.Name.EndsWith(".yml", StringComparison.Ordinal))
            {
                diagnostics.Add(Diagnostic.Warn($"skipped: templates end in '{Extension}'; rename it to {Path.GetFileNameWithoutExtension(file.Name)}{Extension}", file.FullName));
                continue;
            }

            if (!file.Name.EndsWith(Extension, StringComparison.Ordinal))
            {
                continue;
            }

            var name = file.Name[..^Extension.Length];
            if (SettingRules.CheckName("template", name) is not null)
            {
                diagnostics.Add(Diagnostic.Warn($"skipped: '{name}' is not a valid template name (letters, digits, '_' and '-', at most {AgentName.MaxLength})", file.FullName));
                continue;
            }

            templates.Add(await LoadFileAsync(name, file.FullName, cancellationToken).ConfigureAwait(false));
        }

        return new TemplateListing(templates, diagnostics);
    }

    /// <summary>
    /// Parses the text of a template named <paramref name="name"/>, read from <paramref name="file"/> (which names the
    /// file in diagnostics). Mount host paths are checked against this machine's file system.
    /// </summary>
    public TemplateLoadResult Parse(string name, string yaml, string file)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(file);
        return new TemplateParser(name, file, ApiaryHome).Parse(yaml);
    }

    private async Task<TemplateLoadResult> LoadFileAsync(string name, string file, CancellationToken cancellationToken)
    {
        TemplateLoadResult Failed(string message) => new(name, file, null, [Diagnostic.Fail(message, file)]);

        var info = new FileInfo(file);
        if (!info.Exists)
        {
            return Failed($"sandbox template '{name}' does not exist: there is no file {file}; create it, or pick another template");
        }

        if (info.Length > MaxFileBytes)
        {
            return Failed($"sandbox template '{name}' is {info.Length} bytes; a template file may be at most {MaxFileBytes} bytes");
        }

        string text;
        try
        {
            text = await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Failed($"sandbox template '{name}' cannot be read: {ex.Message}");
        }

        return Parse(name, text, file);
    }
}
