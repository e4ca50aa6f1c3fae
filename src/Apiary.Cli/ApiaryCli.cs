using Apiary.Cli.Commands;

namespace Apiary.Cli;

/// <summary>The <c>apiary</c> command tree and how it runs: parse, act, and map every outcome to an exit code.</summary>
internal static class ApiaryCli
{
    public static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken cancellationToken = default)
    {
        var root = Build(context);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                await context.Error.WriteLineAsync($"apiary: {error.Message}").ConfigureAwait(false);
            }

            await context.Error.WriteLineAsync($"Run '{CommandLine(parsed)} --help' for usage.").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }

        try
        {
            return await parsed.InvokeAsync(
                new InvocationConfiguration
                {
                    Output = context.Out,
                    Error = context.Error,
                    EnableDefaultExceptionHandler = false,

                    // Ctrl-C cancels the command; 'apiary up' needs more than the default 2 s to stop its commands and record them.
                    ProcessTerminationTimeout = TimeSpan.FromSeconds(30),
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C (System.CommandLine's own token) or the caller's token: either way the user interrupted.
            await context.Error.WriteLineAsync("apiary: interrupted").ConfigureAwait(false);
            return ExitCodes.Interrupted;
        }
        catch (CliException ex)
        {
            await context.Error.WriteLineAsync($"apiary: {ex.Message}").ConfigureAwait(false);
            return ex.ExitCode;
        }
        catch (InvalidAgentNameException ex)
        {
            await context.Error.WriteLineAsync($"apiary: {ex.Message}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException)
        {
            await context.Error.WriteLineAsync($"apiary: {ex.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    public static RootCommand Build(CliContext context)
    {
        var root = new RootCommand(
            "Apiary: a self-hosted control plane for AI agents. Agents are folders of Markdown files in an Apiary home; " +
            "every side effect they cause is sandboxed, governed and recorded.");
        root.Options.Add(CommonOptions.Home());
        root.Subcommands.Add(InitCommand.Create(context));
        root.Subcommands.Add(AgentsCommand.Create(context));
        root.Subcommands.Add(SecretsCommand.Create(context));
        root.Subcommands.Add(SandboxExecCommand.Create(context));
        root.Subcommands.Add(ApprovalsCommand.Create(context));
        root.Subcommands.Add(KillCommand.Create(context));
        root.Subcommands.Add(ExplainCommand.Create(context));
        root.Subcommands.Add(PolicyCommand.Create(context));
        root.Subcommands.Add(DoctorCommand.Create(context));
        root.Subcommands.Add(AuditCommand.Create(context));
        root.Subcommands.Add(UpCommand.Create(context));
        root.Subcommands.Add(EventsCommand.Create(context));
        root.Subcommands.Add(McpCommand.Create(context));
        root.Subcommands.Add(RunCommand.Create(context));
        root.Subcommands.Add(MessagesCommand.Send(context));
        root.Subcommands.Add(MessagesCommand.Inbox(context));
        return root;
    }

    /// <summary>The words that name the command the user typed, such as <c>apiary agents show</c>.</summary>
    private static string CommandLine(ParseResult parsed)
    {
        var names = new List<string>();
        for (var result = parsed.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Insert(0, result.Command.Name);
        }

        names[0] = "apiary";
        return string.Join(' ', names);
    }
}
