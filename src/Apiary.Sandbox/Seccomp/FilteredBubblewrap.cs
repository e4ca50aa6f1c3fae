using System.Diagnostics;
using Apiary.Sandbox.Execution;

namespace Apiary.Sandbox.Seccomp;

/// <summary>What a bubblewrap run under the filter produced.</summary>
/// <param name="ExitCode">bubblewrap's exit code: the command's, or 128 plus the signal that killed it.</param>
/// <param name="Stdout">Standard output.</param>
/// <param name="Stderr">Standard error (bubblewrap's own complaints land here).</param>
internal sealed record FilteredRun(int ExitCode, string Stdout, string Stderr);

/// <summary>
/// Starts bubblewrap with the seccomp program open as descriptor <see cref="ProgramFd"/>. .NET cannot pass a child
/// extra descriptors, so a shell opens the program file and executes bubblewrap in its place with the descriptor open.
/// </summary>
internal static class FilteredBubblewrap
{
    /// <summary>The descriptor bubblewrap reads the program from.</summary>
    public const int ProgramFd = 3;

    // $0 is the program file, "$@" bubblewrap and its arguments; exec keeps the pid, so killing the shell kills bubblewrap.
    private const string OpenProgramThenExec = "exec \"$@\" 3<\"$0\"";

    /// <summary>
    /// The command line that runs <paramref name="bwrapPath"/> with <paramref name="arguments"/> (options, then the
    /// command) under the program in <paramref name="programFile"/>: <c>/bin/sh</c> first, then its arguments.
    /// </summary>
    public static IReadOnlyList<string> CommandLine(string programFile, string bwrapPath, IEnumerable<string> arguments) =>
        ["/bin/sh", "-c", OpenProgramThenExec, programFile, bwrapPath, "--seccomp", $"{ProgramFd}", .. arguments];

    /// <summary>Runs bubblewrap under the program and collects its output.</summary>
    public static async Task<FilteredRun> RunAsync(
        string programFile, string bwrapPath, IEnumerable<string> arguments, CancellationToken cancellationToken = default)
    {
        var commandLine = CommandLine(programFile, bwrapPath, arguments);
        var start = new ProcessStartInfo(commandLine[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in commandLine.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("/bin/sh did not start");

        // .NET reaps this child; the orphan reaper, when enabled, must leave its exit status to .NET.
        OrphanReaper.Track(process.Id);
        try
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            return new FilteredRun(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            }

            OrphanReaper.Untrack(process.Id);
        }
    }
}
