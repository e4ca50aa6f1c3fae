using Apiary.Agents;
using Apiary.Configuration;

namespace Apiary.Sandbox.Templates;

/// <summary>What loading one template gave: the template (null when there are errors) and the findings.</summary>
/// <param name="Name">The template's name, as asked for.</param>
/// <param name="File">The file it was read from (or would have been, when missing).</param>
/// <param name="Template">The template, or <see langword="null"/> when any error was found.</param>
/// <param name="Diagnostics">Warnings and errors, each naming the file and, where known, the line and column.</param>
public sealed record TemplateLoadResult(string Name, string File, SandboxTemplate? Template, IReadOnlyList<Diagnostic> Diagnostics)
{
    /// <summary>True when the template loaded and can be used.</summary>
    public bool IsLoaded => Template is not null;

    /// <summary>The errors that keep it from loading.</summary>
    public IEnumerable<Diagnostic> Errors => Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error);

    /// <summary>The warnings about it.</summary>
    public IEnumerable<Diagnostic> Warnings => Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning);
}

/// <summary>The templates of a home, each with its load status, and findings about the folder itself.</summary>
/// <param name="Templates">One result per <c>NAME.yaml</c> with a valid name, ordered by name.</param>
/// <param name="Diagnostics">Findings about the folder: it is missing, or holds files that are not templates.</param>
public sealed record TemplateListing(IReadOnlyList<TemplateLoadResult> Templates, IReadOnlyList<Diagnostic> Diagnostics);
