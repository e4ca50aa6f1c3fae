using System.Text;

namespace Apiary.Configuration;

/// <summary>How serious a finding about a file of the home is.</summary>
public enum DiagnosticSeverity
{
    /// <summary>Something the operator should know; the agent still loads.</summary>
    Warning,

    /// <summary>The agent cannot be used until this is fixed.</summary>
    Error,
}

/// <summary>
/// One finding about a file of the home (an agent's definition, a policy, a template, apiary.yaml, models.yaml), with
/// where it was found. Formats like a compiler message:
/// <c>agents/coder/AGENTS.md:3:7: error: role must be 'manager' or 'worker', not 'boss'</c>.
/// </summary>
/// <param name="Severity">Warning or error.</param>
/// <param name="Message">What is wrong and what to do about it.</param>
/// <param name="File">The file or folder the finding is about, if any.</param>
/// <param name="Line">The 1-based line in <paramref name="File"/>, if known.</param>
/// <param name="Column">The 1-based column in <paramref name="File"/>, if known.</param>
public sealed record Diagnostic(
    DiagnosticSeverity Severity,
    string Message,
    string? File = null,
    int? Line = null,
    int? Column = null)
{
    /// <summary>A warning about <paramref name="file"/>.</summary>
    public static Diagnostic Warn(string message, string? file = null, int? line = null, int? column = null) =>
        new(DiagnosticSeverity.Warning, message, file, line, column);

    /// <summary>An error about <paramref name="file"/>.</summary>
    public static Diagnostic Fail(string message, string? file = null, int? line = null, int? column = null) =>
        new(DiagnosticSeverity.Error, message, file, line, column);

    /// <inheritdoc/>
    public override string ToString()
    {
        var text = new StringBuilder();
        if (File is not null)
        {
            text.Append(File);
            if (Line is { } line)
            {
                text.Append(':').Append(line);
                if (Column is { } column)
                {
                    text.Append(':').Append(column);
                }
            }

            text.Append(": ");
        }

        text.Append(Severity == DiagnosticSeverity.Error ? "error: " : "warning: ").Append(Message);
        return text.ToString();
    }
}
