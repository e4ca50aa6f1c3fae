using System.Text.Json;

namespace Apiary.Cli.Tests;

/// <summary>What one run of <c>apiary</c> gave: its exit code and everything it wrote.</summary>
internal sealed record CliResult(int ExitCode, string Out, string Error)
{
    /// <summary>Stdout parsed as JSON; fails the test with the output when it is not JSON.</summary>
    public JsonDocument Json()
    {
        try
        {
            return JsonDocument.Parse(Out);
        }
        catch (JsonException ex)
        {
            throw new Xunit.Sdk.XunitException($"stdout is not JSON ({ex.Message}):\n{Out}\nstderr:\n{Error}");
        }
    }

    /// <summary>The lines of stdout, without line ends.</summary>
    public IReadOnlyList<string> OutLines => Out.Split('\n').Select(l => l.TrimEnd('\r')).ToList();

    /// <summary>The lines of stderr, without line ends.</summary>
    public IReadOnlyList<string> ErrorLines => Error.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToList();

    /// <summary>The first stdout line whose first word is <paramref name="word"/> (a table row); fails when there is none.</summary>
    public string Row(string word) =>
        OutLines.FirstOrDefault(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() == word)
        ?? throw new Xunit.Sdk.XunitException($"no row '{word}' in stdout:\n{Out}");

    /// <summary>Both streams, for assertion messages.</summary>
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Error}";
}
