using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Apiary.IO;
using Apiary.Protocol;
using Apiary.Sandbox.Execution;
using Apiary.Sandbox.Files;
using Apiary.Sandbox.Telemetry;
using Apiary.Sandbox.Templates;
using Apiary.Text;

namespace Apiary.Sandbox;

/// <summary>
/// A session of any backend: keeps the workspace, working directory and environment between commands, runs several
/// commands at once, and maps every protocol command to its observations. The backend supplies only how a command
/// becomes a process.
/// </summary>
internal sealed class SandboxSession : ISandboxSession
{
    private static readonly Dictionary<string, string> BaseEnvironment = new()
    {
        ["PATH"] = "/usr/local/bin:/usr/bin:/bin",
        ["LANG"] = "C.UTF-8",
        ["HOME"] = "/workspace",
        ["TERM"] = "dumb",
    };

    private readonly ICommandLauncher _launcher;
    private readonly SandboxSessionOptions _options;
    private readonly ConcurrentDictionary<string, RunningExec> _running = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _closed = new();
    private readonly WorkspaceQuota _quota;
    private long _sequence;

    public SandboxSession(ICommandLauncher launcher, SandboxSessionOptions options)
    {
        _launcher = launcher;
        _options = options;
        Id = options.Id ?? Guid.NewGuid().ToString("N")[..12];
        Workspace = PathResolver.Resolve(Path.GetFullPath(options.Workspace));
        _quota = new WorkspaceQuota(Workspace, (long)options.Template.DiskMb * 1024 * 1024);
    }

    public string Id { get; }

    public string Workspace { get; }

    /// <inheritdoc/>
    public string SearchPath =>
        _options.Env.GetValueOrDefault("PATH") ?? _options.Template.Env.GetValueOrDefault("PATH") ?? BaseEnvironment["PATH"];

    /// <inheritdoc/>
    public string? ResolveProgram(string command, string workdir, string? searchPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        if (command.Contains('/', StringComparison.Ordinal))
        {
            var path = command.StartsWith('/') ? command : "/workspace/" + workdir + "/" + command;
            return Governance.Proposal.NormalizePath(path);
        }

        foreach (var folder in (searchPath ?? SearchPath).Split(':'))
        {
            // An empty or relative entry would mean "the working folder": never searched.
            if (!folder.StartsWith('/'))
            {
                continue;
            }

            var candidate = Governance.Proposal.NormalizePath(folder + "/" + command);
            if (_launcher.HostPathOf(candidate, Workspace, _options.Template) is { } host && IsProgram(host))
            {
                return candidate;
            }
        }

        return null;
    }

    private static bool IsProgram(string hostPath)
    {
        try
        {
            var info = new FileInfo(hostPath);
            const UnixFileMode execute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
            return info.Exists && (info.UnixFileMode & execute) != 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public async IAsyncEnumerable<Observation> ExecuteAsync(Command command, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (_closed.IsCancellationRequested && command is not ShutdownCommand)
        {
            yield return Numbered(new ErrorObservation { RequestId = command.RequestId, Code = "session_closed", Message = $"session {Id} is closed" });
            yield break;
        }

        switch (command)
        {
            case ExecCommand exec:
                await foreach (var observation in ExecAsync(exec, cancellationToken).ConfigureAwait(false))
                {
                    yield return observation;
                }

                break;
            case CancelCommand cancel:
                if (_running.TryGetValue(cancel.TargetRequestId, out var running))
                {
                    running.Runner.Stop(CompletionReason.Cancelled);
                    yield return Numbered(new PongObservation { RequestId = cancel.RequestId });
                }
                else
                {
                    yield return Numbered(new ErrorObservation { RequestId = cancel.RequestId, Code = "unknown_request", Message = $"no command '{cancel.TargetRequestId}' is running in session {Id}" });
                }

                break;
            case ReadFileCommand read:
                yield return Numbered(await ScrubAsync(await WorkspaceFiles.ReadAsync(Workspace, read, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false));
                break;
            case WriteFileCommand write:
                yield return Numbered(await WorkspaceFiles.WriteAsync(Workspace, write, _launcher.FileOwner, _quota, cancellationToken).ConfigureAwait(false));
                break;
            case ListDirCommand list:
                yield return Numbered(WorkspaceFiles.List(Workspace, list));
                break;
            case PingCommand ping:
                yield return Numbered(new PongObservation { RequestId = ping.RequestId });
                break;
            case ShutdownCommand shutdown:
                await CloseAsync(cancellationToken).ConfigureAwait(false);
                yield return Numbered(new ShuttingDownObservation { RequestId = shutdown.RequestId, Reason = "shutdown requested" });
                break;
            default:
                yield return Numbered(new ErrorObservation { RequestId = command.RequestId, Code = "unknown_type", Message = $"this backend does not handle {command.GetType().Name}" });
                break;
        }
    }

    public async Task CloseAsync(CancellationToken cancellationToken = default)
    {
        if (!_closed.IsCancellationRequested)
        {
            await _closed.CancelAsync().ConfigureAwait(false);
        }

        var running = _running.Values.ToList();
        foreach (var exec in running)
        {
            exec.Runner.Stop(CompletionReason.Cancelled);
        }

        // Each running exec finishes its own clean-up (the whole process tree gone) before it signals done.
        await Task.WhenAll(running.Select(r => r.Done.Task)).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        _closed.Dispose();
    }

    private async IAsyncEnumerable<Observation> ExecAsync(ExecCommand exec, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (spec, scrubber, problem) = await ResolveAsync(exec, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            yield return Numbered(problem);
            yield break;
        }

        var template = _options.Template;
        LaunchPlan? plan = null;
        string? failed = null;
        try
        {
            plan = _launcher.Prepare(spec!, Workspace);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or System.ComponentModel.Win32Exception)
        {
            failed = ex.Message;
        }

        if (plan is null)
        {
            // Nothing started: the caller learns why instead of the session failing under it.
            yield return Numbered(new ErrorObservation { RequestId = exec.RequestId, Code = "start_failed", Message = failed ?? "the command could not be prepared" });
            yield break;
        }

        using var runner = new ExecRunner(
            plan,
            exec,
            _launcher.IsConfined,
            _quota,
            exec.OutputLimitBytes ?? template.OutputLimitBytes,
            exec.TimeoutMs is { } ms ? TimeSpan.FromMilliseconds(ms) : template.Timeout,
            _options.KillGrace,
            scrubber!,
            () => Interlocked.Increment(ref _sequence));
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_running.TryAdd(exec.RequestId, new RunningExec(runner, done)))
        {
            yield return Numbered(new ErrorObservation { RequestId = exec.RequestId, Code = "duplicate_request", Message = $"a command with request id '{exec.RequestId}' is already running" });
            yield break;
        }

        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closed.Token);
            await foreach (var observation in SandboxTelemetry.MeasureAsync(runner.RunAsync(linked.Token), exec, Id, _launcher.IsConfined, linked.Token).ConfigureAwait(false))
            {
                yield return observation;
            }
        }
        finally
        {
            _running.TryRemove(exec.RequestId, out _);
            done.TrySetResult();
        }
    }

    private async Task<(CommandSpec? Spec, SecretScrubber? Scrubber, ErrorObservation? Problem)> ResolveAsync(ExecCommand exec, CancellationToken cancellationToken)
    {
        ErrorObservation Fail(string code, string message) => new() { RequestId = exec.RequestId, Code = code, Message = message };

        if (string.IsNullOrWhiteSpace(exec.Command))
        {
            return (null, null, Fail("invalid_command", "the command is empty"));
        }

        if (InvalidValue(exec) is { } invalid)
        {
            return (null, null, Fail("invalid_argument", invalid));
        }

        var workdir = WorkspaceFiles.Relative(exec.Workdir ?? _options.Workdir);
        if (workdir is null || !IsInsideWorkspace(workdir))
        {
            return (null, null, Fail("invalid_path", $"working directory '{exec.Workdir ?? _options.Workdir}' is not a folder inside the workspace"));
        }

        var env = new Dictionary<string, string>(BaseEnvironment, StringComparer.Ordinal);
        foreach (var layer in new[] { _options.Template.Env, _options.Env, exec.Env })
        {
            foreach (var (name, value) in layer)
            {
                if (!EnvironmentName.IsValid(name))
                {
                    return (null, null, Fail("invalid_env", $"'{name}' is not a valid environment variable name"));
                }

                env[name] = value;
            }
        }

        // A command gets exactly the secrets it names, and only ones its template declares: giving a secret is part of
        // what was decided about the command, never a side effect of the template.
        var values = new List<KeyValuePair<string, string>>();
        var files = new List<KeyValuePair<string, string>>();
        foreach (var name in exec.Secrets.Distinct(StringComparer.Ordinal))
        {
            if (_options.Template.Secrets.FirstOrDefault(s => s.Name == name) is not { } secret)
            {
                return (null, null, Fail("undeclared_secret", $"the secret '{name}' is not declared by the sandbox template '{_options.Template.Name}'; add it to the template's 'secrets' to let its commands ask for it"));
            }

            var value = _options.Secrets is null ? null : await _options.Secrets.GetAsync(secret.Name, cancellationToken).ConfigureAwait(false);
            if (value is null)
            {
                return (null, null, Fail("unknown_secret", $"there is no secret named '{secret.Name}'; add it with 'apiary secrets set {secret.Name}'"));
            }

            values.Add(new(secret.Name, value));
            if (secret.Delivery == SecretDelivery.File)
            {
                files.Add(new(secret.Name, value));
            }
            else
            {
                env[secret.Name] = value;
            }
        }

        var fileSize = _quota.FileSizeLimit((long)_options.Template.FileSizeMb * 1024 * 1024);
        var spec = new CommandSpec(Guid.NewGuid().ToString("N")[..16], exec.Command, exec.Args, workdir, env, files, _options.Template, fileSize);

        // Output is scrubbed of every secret the store holds, not only those given: a command may print a file an
        // earlier command wrote a secret into.
        return (spec, new SecretScrubber([.. values, .. await KnownSecretsAsync(values, cancellationToken).ConfigureAwait(false)]), null);
    }

    /// <summary>The secrets of the store other than <paramref name="given"/>, to scrub from what a session returns.</summary>
    private async Task<List<KeyValuePair<string, string>>> KnownSecretsAsync(IReadOnlyCollection<KeyValuePair<string, string>> given, CancellationToken cancellationToken)
    {
        var known = new List<KeyValuePair<string, string>>();
        if (_options.Secrets is not { } store)
        {
            return known;
        }

        foreach (var name in await store.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            if (given.All(g => g.Key != name) && await store.GetAsync(name, cancellationToken).ConfigureAwait(false) is { } value)
            {
                known.Add(new(name, value));
            }
        }

        return known;
    }

    /// <summary>A file's content as returned (and recorded) is scrubbed of every secret the store holds.</summary>
    private async Task<Observation> ScrubAsync(Observation observation, CancellationToken cancellationToken)
    {
        if (observation is not FileContentObservation file)
        {
            return observation;
        }

        var scrubber = new SecretScrubber(await KnownSecretsAsync([], cancellationToken).ConfigureAwait(false));
        if (scrubber.IsEmpty)
        {
            return file;
        }

        return file with { Content = [.. scrubber.Push(file.Content), .. scrubber.Flush()] };
    }

    /// <summary>The first value of <paramref name="exec"/> that cannot become part of a process, described; null when all can.</summary>
    private static string? InvalidValue(ExecCommand exec)
    {
        static string? Check(string field, string? value, bool lineBreaks) =>
            value is not null && ProcessText.Problem(value, lineBreaks) is { } problem ? $"{field} {problem}" : null;

        var problem = Check("command", exec.Command, lineBreaks: false) ?? Check("workdir", exec.Workdir, lineBreaks: false);
        for (var i = 0; problem is null && i < exec.Args.Count; i++)
        {
            problem = Check($"args[{i}]", exec.Args[i], lineBreaks: true);
        }

        foreach (var (name, value) in exec.Env)
        {
            problem ??= Check("an env name", name, lineBreaks: false) ?? Check($"env {name}", value, lineBreaks: true);
        }

        foreach (var name in exec.Secrets)
        {
            problem ??= Check("a secret name", name, lineBreaks: false);
        }

        return problem;
    }

    private bool IsInsideWorkspace(string relative)
    {
        if (relative.Length == 0)
        {
            return true;
        }

        try
        {
            var resolved = PathResolver.Resolve(Path.Combine(Workspace, relative));
            return PathResolver.IsSameOrInside(resolved, Workspace) && Directory.Exists(resolved);
        }
        catch (IOException)
        {
            return false;
        }
    }

    private sealed record RunningExec(ExecRunner Runner, TaskCompletionSource Done);

    private Observation Numbered(Observation observation) => observation with { Sequence = Interlocked.Increment(ref _sequence) };
}

/// <summary>The rule for environment variable names: <c>[A-Za-z_][A-Za-z0-9_]*</c>.</summary>
internal static class EnvironmentName
{
    public static bool IsValid(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
