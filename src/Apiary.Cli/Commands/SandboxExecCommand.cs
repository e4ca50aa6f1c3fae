using System.CommandLine;
using System.Globalization;
using System.Text;
using Apiary.Agents;
using Apiary.Protocol;
using Command = System.CommandLine.Command;
using Apiary.Sandbox;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Templates;
using Apiary.Sandbox.Unconfined;
using Apiary.Secrets;
using Apiary.Text;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary exec</c>: runs one command in a fresh sandbox session on this machine, streams its output as it comes,
/// and exits with its exit code (124 on timeout, 137 when it was killed).
/// </summary>
internal static class SandboxExecCommand
{
    /// <summary>The exit code when the command ran past its timeout (as timeout(1) uses).</summary>
    public const int TimedOutExitCode = 124;

    /// <summary>The exit code when the command was killed (cancelled or over its output limit): 128 + SIGKILL.</summary>
    public const int KilledExitCode = 137;

    public static Command Create(CliContext context)
    {
        var program = new Argument<string[]>("command") { Description = "The program and its arguments, after '--'.", Arity = ArgumentArity.OneOrMore };
        var template = new Option<string?>("--template") { Description = "The sandbox template, from templates/ in the home (default: default).", HelpName = "NAME" };
        var timeout = new Option<string?>("--timeout") { Description = "Wall-clock limit: seconds, or a duration such as 90s or 5m (default: the template's).", HelpName = "S" };
        var secrets = new Option<string[]>("--secret") { Description = "Give the command this secret from the secret store, as an environment variable. Repeatable.", HelpName = "NAME", AllowMultipleArgumentsPerToken = false };
        var env = new Option<string[]>("--env") { Description = "Set an environment variable for the command. Repeatable.", HelpName = "NAME=VALUE" };
        var workspace = new Option<string?>("--workspace") { Description = "The folder mounted at /workspace (default: a new empty folder, removed afterwards).", HelpName = "DIR" };
        var workdir = new Option<string?>("--workdir") { Description = "The working directory, relative to the workspace.", HelpName = "DIR" };
        var unconfined = new Option<bool>("--unconfined") { Description = "Run without a sandbox, as a plain process. For development on machines without bubblewrap only." };
        var command = new Command("exec", "Run one command in a fresh sandbox (no network, system read-only, only /workspace writable) and stream its output. Exits with the command's exit code, 124 on timeout, 137 when killed.")
        {
            program, template, timeout, secrets, env, workspace, workdir, unconfined,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            var timeoutMs = ParseTimeout(parse.GetValue(timeout));
            var environment = ParseEnv(parse.GetValue(env) ?? []);
            var sandboxTemplate = await LoadTemplateAsync(home, parse.GetValue(template), context, cancellationToken).ConfigureAwait(false);
            var secretNames = parse.GetValue(secrets) ?? [];
            ISecretStore? store = secretNames.Length > 0 || sandboxTemplate.Secrets.Count > 0 ? new FileSecretStore(home) : null;

            string? temporary = null;
            var folder = parse.GetValue(workspace);
            if (folder is null)
            {
                temporary = Directory.CreateTempSubdirectory("apiary-exec-").FullName;
                folder = temporary;
            }
            else
            {
                var check = WorkspaceGuard.Validate(ApiaryHomePath(folder, context), context.UserHome, home.Root);
                folder = check.Path ?? throw CliException.BadInput(check.Reason!);
            }

            try
            {
                var backend = CreateBackend(parse.GetValue(unconfined), context);
                using var owned = backend as IDisposable;
                await using var session = await backend.OpenSessionAsync(new SandboxSessionOptions { Workspace = folder, Template = sandboxTemplate, Secrets = store }, cancellationToken).ConfigureAwait(false);
                var exec = new ExecCommand
                {
                    RequestId = "exec-1",
                    Command = parse.GetValue(program)![0],
                    Args = parse.GetValue(program)![1..],
                    Env = environment,
                    Workdir = parse.GetValue(workdir),
                    TimeoutMs = timeoutMs,
                    Secrets = secretNames,
                };
                return await StreamAsync(session, exec, context, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                if (temporary is not null)
                {
                    Directory.Delete(temporary, recursive: true);
                }
            }
        });
        return command;
    }

    private static async Task<int> StreamAsync(ISandboxSession session, ExecCommand exec, CliContext context, CancellationToken cancellationToken)
    {
        var stdout = Encoding.UTF8.GetDecoder();
        var stderr = Encoding.UTF8.GetDecoder();
        await foreach (var observation in session.ExecuteAsync(exec, cancellationToken).ConfigureAwait(false))
        {
            switch (observation)
            {
                case OutputObservation { Stream: OutputChannel.Stdout } output:
                    await WriteAsync(context.Out, stdout, output.Data).ConfigureAwait(false);
                    break;
                case OutputObservation output:
                    await WriteAsync(context.Error, stderr, output.Data).ConfigureAwait(false);
                    break;
                case ErrorObservation error:
                    throw error.Code is "start_failed" or "io_error"
                        ? CliException.Failure(error.Message)
                        : CliException.BadInput(error.Message);
                case CompleteObservation complete:
                    return await ExitCodeAsync(complete, exec, context).ConfigureAwait(false);
            }
        }

        throw CliException.Failure("the sandbox ended without reporting how the command ended");
    }

    private static async Task<int> ExitCodeAsync(CompleteObservation complete, ExecCommand exec, CliContext context)
    {
        var note = complete.Truncated ? " (output truncated at the limit)" : "";
        switch (complete.Reason)
        {
            case CompletionReason.TimedOut:
                await context.Error.WriteLineAsync($"apiary: '{exec.Command}' timed out after {complete.DurationMs} ms and was stopped{note}").ConfigureAwait(false);
                return TimedOutExitCode;
            case CompletionReason.Cancelled:
                await context.Error.WriteLineAsync($"apiary: '{exec.Command}' was cancelled and stopped{note}").ConfigureAwait(false);
                return KilledExitCode;
            case CompletionReason.OutputLimit:
                await context.Error.WriteLineAsync($"apiary: '{exec.Command}' wrote more than its output limit and was stopped").ConfigureAwait(false);
                return KilledExitCode;
            default:
                if (complete.Truncated)
                {
                    await context.Error.WriteLineAsync($"apiary: output truncated at the limit").ConfigureAwait(false);
                }

                return complete.ExitCode ?? KilledExitCode;
        }
    }

    private static async Task WriteAsync(TextWriter writer, Decoder decoder, byte[] data)
    {
        var chars = new char[decoder.GetCharCount(data, flush: false)];
        decoder.GetChars(data, chars, flush: false);
        await writer.WriteAsync(chars).ConfigureAwait(false);
        await writer.FlushAsync().ConfigureAwait(false);
    }

    private static ISandboxBackend CreateBackend(bool unconfined, CliContext context)
    {
        if (unconfined)
        {
            return new UnconfinedBackend(context.Error);
        }

        try
        {
            return BubblewrapBackend.Create();
        }
        catch (SandboxUnavailableException ex)
        {
            throw CliException.Failure($"{ex.Message}; or run with --unconfined, for development only");
        }
    }

    private static async Task<SandboxTemplate> LoadTemplateAsync(Home.ApiaryHome home, string? name, CliContext context, CancellationToken cancellationToken)
    {
        if (name is null && !File.Exists(Path.Combine(home.TemplatesDirectory, "default" + SandboxTemplateLoader.Extension)))
        {
            return SandboxTemplate.Default;
        }

        var loader = new SandboxTemplateLoader(home.TemplatesDirectory, home.Root);
        var result = await loader.LoadAsync(name ?? "default", cancellationToken).ConfigureAwait(false);
        await CommonOptions.ReportAsync(context, result.Diagnostics).ConfigureAwait(false);

        return result.Template ?? throw CliException.BadInput($"template '{name ?? "default"}' cannot be used: {string.Join("; ", result.Errors.Select(e => e.Message))}");
    }

    private static long? ParseTimeout(string? text)
    {
        if (text is null)
        {
            return null;
        }

        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            return seconds * 1000;
        }

        return DurationText.TryParse(text, out var duration) && duration > TimeSpan.Zero
            ? (long)duration.TotalMilliseconds
            : throw CliException.BadInput($"--timeout must be a number of seconds or {DurationText.Expected}, not '{text}'");
    }

    private static Dictionary<string, string> ParseEnv(string[] pairs)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw CliException.BadInput($"--env takes NAME=VALUE, not '{pair}'");
            }

            env[pair[..equals]] = pair[(equals + 1)..];
        }

        return env;
    }

    private static string ApiaryHomePath(string path, CliContext context) =>
        Home.ApiaryHome.Expand(path, context.UserHome, context.CurrentDirectory);
}
