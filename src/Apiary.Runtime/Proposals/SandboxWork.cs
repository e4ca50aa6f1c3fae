using System.Diagnostics;
using System.Text;
using Apiary.Protocol;

namespace Apiary.Runtime;

/// <summary>The work of a workspace tool's proposal: a command, a file read or write, a folder listing in the session's sandbox.</summary>
internal static class SandboxWork
{
    /// <summary>
    /// Carries out the decided proposal: the sandbox command is built from its arguments alone (the resolved program,
    /// arguments, environment, secret names, standard input, working folder and time limit), never from the request
    /// that asked for it.
    /// </summary>
    public static async Task<ProposalWorkResult> RunAsync(ProposalRun run, Proposal proposal, CancellationToken cancellationToken)
    {
        var sandbox = run.Session.Sandbox;
        var clock = Stopwatch.StartNew();
        var a = proposal.Arguments;
        if (proposal.Kind == ProposalKind.Exec && a.Template != run.Session.Template.Name)
        {
            throw new ApiaryException($"the proposal was decided for sandbox template '{a.Template}', but its session runs '{run.Session.Template.Name}'");
        }

        if (proposal.Kind == ProposalKind.Exec && a.Program is null)
        {
            // Nothing is searched for after the decision: a program that was not found then is not run now.
            run.AppendOutput("stderr", $"apiary: {a.Command}: no such program on the sandbox's search path ({sandbox.SearchPath})\n");
            return new ProposalWorkResult(new ResultDto(127, "exited", clock.ElapsedMilliseconds));
        }

        Protocol.Command command = proposal.Kind switch
        {
            ProposalKind.Exec => new ExecCommand
            {
                RequestId = run.Id,
                Command = a.Program!,
                Args = a.Args,
                Env = a.Env,
                Workdir = a.Workdir,
                Stdin = a.Stdin is null ? null : Encoding.UTF8.GetBytes(a.Stdin),
                TimeoutMs = a.TimeoutSeconds is { } s ? s * 1000L : null,
                Secrets = a.Secrets,
            },
            ProposalKind.ReadFile => new ReadFileCommand { RequestId = run.Id, Path = a.Path! },
            ProposalKind.WriteFile => new WriteFileCommand { RequestId = run.Id, Path = a.Path!, Content = Encoding.UTF8.GetBytes(a.Content ?? "") },
            ProposalKind.ListDir => new ListDirCommand { RequestId = run.Id, Path = a.Path ?? "" },
            _ => throw new ApiaryException($"a {proposal.Kind.Name()} proposal is not run in a sandbox; nothing ran"),
        };

        var stdout = Encoding.UTF8.GetDecoder();
        var stderr = Encoding.UTF8.GetDecoder();
        var (exitCode, reason, truncated) = ((int?)null, "done", false);
        string? error = null, content = null;
        List<DirEntryDto>? entries = null;
        await foreach (var observation in sandbox.ExecuteAsync(command, cancellationToken).ConfigureAwait(false))
        {
            switch (observation)
            {
                case OutputObservation { Stream: OutputChannel.Stdout } output:
                    run.AppendOutput("stdout", Decode(stdout, output.Data));
                    break;
                case OutputObservation output:
                    run.AppendOutput("stderr", Decode(stderr, output.Data));
                    break;
                case CompleteObservation complete:
                    (exitCode, reason, truncated) = (complete.ExitCode, Reason(complete.Reason), complete.Truncated);
                    return new ProposalWorkResult(new ResultDto(exitCode, reason, complete.DurationMs, Truncated: truncated));
                case ErrorObservation failed:
                    (reason, error) = ("error", $"{failed.Code}: {failed.Message}");
                    break;
                case FileContentObservation file:
                    (content, truncated) = (Encoding.UTF8.GetString(file.Content), file.Truncated);
                    break;
                case FileWrittenObservation:
                    break;
                case DirListingObservation listing:
                    entries = listing.Entries.Select(e => new DirEntryDto(e.Name, EntryType(e.Kind), e.Kind == EntryKind.File ? e.Size : null)).ToList();
                    break;
            }
        }

        return new ProposalWorkResult(new ResultDto(exitCode, reason, clock.ElapsedMilliseconds, Truncated: truncated, Content: content, Entries: entries, Error: error));
    }

    private static string Decode(Decoder decoder, byte[] data)
    {
        var chars = new char[decoder.GetCharCount(data, flush: false)];
        decoder.GetChars(data, chars, flush: false);
        return new string(chars);
    }

    private static string Reason(CompletionReason reason) => reason switch
    {
        CompletionReason.Exited => "exited",
        CompletionReason.TimedOut => "timed_out",
        CompletionReason.Cancelled => "cancelled",
        CompletionReason.DiskQuota => "disk_quota",
        _ => "output_limit",
    };

    private static string EntryType(EntryKind kind) => kind switch
    {
        EntryKind.File => "file",
        EntryKind.Directory => "dir",
        EntryKind.Symlink => "symlink",
        _ => "other",
    };
}
