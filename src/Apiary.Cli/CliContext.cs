using Spectre.Console;

namespace Apiary.Cli;

/// <summary>
/// What a command sees of the world: its output streams, environment variables, current directory and the user's
/// home. Tests run commands in-process with their own context.
/// </summary>
internal sealed class CliContext
{
    public required TextWriter Out { get; init; }

    public required TextWriter Error { get; init; }

    /// <summary>Standard input (by default the console's); tests give each run a reader of their own.</summary>
    public TextReader In { get; init; } = Console.In;

    public required Func<string, string?> GetEnvironmentVariable { get; init; }

    public required string CurrentDirectory { get; init; }

    public required string UserHome { get; init; }

    /// <summary>True when <see cref="Out"/> is a terminal a person is looking at, so colour and wrapping fit it.</summary>
    public bool IsInteractive { get; init; }

    public static CliContext FromProcess() => new()
    {
        Out = Console.Out,
        Error = Console.Error,
        GetEnvironmentVariable = Environment.GetEnvironmentVariable,
        CurrentDirectory = Environment.CurrentDirectory,
        UserHome = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } home
            ? home
            : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile),
        IsInteractive = !Console.IsOutputRedirected,
    };

    /// <summary>A console for tables on <see cref="Out"/>: plain text and wide when the output is not a terminal.</summary>
    public IAnsiConsole CreateTableConsole()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Out),
            Ansi = IsInteractive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = IsInteractive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!IsInteractive)
        {
            // Scripts and pipes get whole lines, not lines wrapped to an imaginary 80-column terminal.
            console.Profile.Width = 240;
        }

        return console;
    }
}
