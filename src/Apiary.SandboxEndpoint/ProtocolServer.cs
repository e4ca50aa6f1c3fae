using System.Collections.Concurrent;
using System.Reflection;
using Apiary.Protocol;
using Apiary.Sandbox;
using Apiary.Sandbox.Bubblewrap;
using Apiary.SandboxEndpoint.Telemetry;
using Microsoft.Extensions.Logging;

namespace Apiary.SandboxEndpoint;

/// <summary>How a connection ended.</summary>
internal enum ConnectionEnd
{
    /// <summary>The host closed its side between two frames.</summary>
    EndOfInput,

    /// <summary>The host sent <c>shutdown</c> and was answered with <c>shutting_down</c>.</summary>
    Shutdown,

    /// <summary>The stream broke: a frame that cannot be resynchronized, cut short, or a failed read or write.</summary>
    Broken,
}

/// <summary>
/// Serves the execution protocol over any pair of streams: each connection opens its own sandbox session, sends
/// <c>ready</c>, then reads commands and carries them out concurrently, so a long exec never holds up a later cancel or
/// ping. Every observation goes through one <see cref="FrameWriter"/>, which numbers them in wire order.
/// </summary>
internal sealed class ProtocolServer
{
    private static readonly string[] BaseCapabilities = ["exec", "cancel", "files", "ping", "shutdown"];

    private readonly ISandboxBackend _backend;
    private readonly SandboxSessionOptions _sessionOptions;
    private readonly ILogger _logger;

    /// <summary>Creates a server whose connections each open a session of <paramref name="backend"/> with <paramref name="sessionOptions"/>.</summary>
    /// <param name="backend">The sandbox backend that runs commands.</param>
    /// <param name="sessionOptions">The workspace and template of every connection's session.</param>
    /// <param name="logger">Where diagnostics go (standard error): never the protocol stream.</param>
    public ProtocolServer(ISandboxBackend backend, SandboxSessionOptions sessionOptions, ILogger<ProtocolServer> logger)
    {
        _backend = backend;
        _sessionOptions = sessionOptions;
        _logger = logger;
        Capabilities = CapabilitiesOf(backend);
    }

    /// <summary>The agent's own version: the assembly's informational version.</summary>
    public static string AgentVersion { get; } =
        typeof(ProtocolServer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    /// <summary>What <c>ready</c> announces.</summary>
    public IReadOnlyList<string> Capabilities { get; }

    /// <summary>Opens a session and serves one connection until it ends; the session is closed before this returns.</summary>
    /// <exception cref="IOException">The session could not be opened, such as a workspace that has gone.</exception>
    /// <exception cref="ApiaryException">The session could not be opened, such as a template the backend cannot honour.</exception>
    public async Task<ConnectionEnd> ServeAsync(Stream input, Stream output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        await using var session = await _backend.OpenSessionAsync(_sessionOptions, cancellationToken).ConfigureAwait(false);
        using var writer = new FrameWriter(output);

        // Cancelled when a write fails: nobody can hear us any more, so reading on would only run commands for no one.
        using var broken = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var connection = new Connection(session, writer, broken, _logger, cancellationToken);
        try
        {
            var ready = new ReadyObservation { ProtocolVersion = ProtocolInfo.Version, AgentVersion = AgentVersion, Capabilities = Capabilities };
            return await connection.SendAsync(ready).ConfigureAwait(false)
                ? await connection.ReadLoopAsync(new FrameReader(input)).ConfigureAwait(false)
                : ConnectionEnd.Broken;
        }
        finally
        {
            // Whatever ended the connection, nothing may keep running for a host that has gone.
            await connection.StopAsync().ConfigureAwait(false);
        }
    }

    private static string[] CapabilitiesOf(ISandboxBackend backend) => backend switch
    {
        BubblewrapBackend { CgroupVersion: > 0 } => [.. BaseCapabilities, "namespaces", "cgroups"],
        { IsConfined: true } => [.. BaseCapabilities, "namespaces"],
        _ => [.. BaseCapabilities, "unconfined"],
    };

    /// <summary>One connection's state: its session, its writer and the commands in flight.</summary>
    private sealed class Connection(ISandboxSession session, FrameWriter writer, CancellationTokenSource broken, ILogger logger, CancellationToken stopping)
    {
        private readonly HashSet<Task> _inFlight = [];
        private readonly Lock _inFlightLock = new();

        // Execs by request id, registered here in frame order before the next frame is read: the session learns of an
        // exec only once its handler has started, so a cancel (or a repeated id) sent right behind it would race it.
        private readonly ConcurrentDictionary<string, CancellationTokenSource> _execs = new(StringComparer.Ordinal);

        private CancellationToken Token => broken.Token;

        public async Task<ConnectionEnd> ReadLoopAsync(FrameReader reader)
        {
            while (true)
            {
                FrameResult<Command> frame;
                try
                {
                    frame = await reader.ReadCommandAsync(Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException || (ex is OperationCanceledException && !stopping.IsCancellationRequested))
                {
                    EndpointLog.ReadBroke(logger, ex.Message);
                    return ConnectionEnd.Broken;
                }

                if (frame.IsEndOfStream)
                {
                    return ConnectionEnd.EndOfInput;
                }

                if (frame.Failure is { } failure)
                {
                    EndpointLog.BadFrame(logger, failure.Code, failure.Message);
                    if (!await SendAsync(failure.ToErrorObservation()).ConfigureAwait(false) || !failure.CanContinue)
                    {
                        return ConnectionEnd.Broken;
                    }

                    continue;
                }

                switch (frame.Message)
                {
                    case ShutdownCommand shutdown:
                        await StopAsync().ConfigureAwait(false);
                        await SendAsync(new ShuttingDownObservation { RequestId = shutdown.RequestId, Reason = "shutdown requested" }).ConfigureAwait(false);
                        return ConnectionEnd.Shutdown;
                    case ExecCommand exec:
                        await StartExecAsync(exec).ConfigureAwait(false);
                        break;
                    case CancelCommand cancel when await TryCancelAsync(cancel.TargetRequestId).ConfigureAwait(false):
                        await SendAsync(new PongObservation { RequestId = cancel.RequestId }).ConfigureAwait(false);
                        break;
                    case { } command:
                        // Everything else, including a cancel of nothing running (the session answers unknown_request).
                        Track(HandleAsync(command, Token));
                        break;
                }
            }
        }

        /// <summary>Closes the session (stopping every running command) and waits until each command has sent its last observation.</summary>
        public async Task StopAsync()
        {
            await session.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            Task[] pending;
            lock (_inFlightLock)
            {
                pending = [.. _inFlight];
            }

            await Task.WhenAll(pending).ConfigureAwait(false);
        }

        /// <summary>Writes one observation with the next sequence number; false when the connection can no longer be written.</summary>
        public async Task<bool> SendAsync(Observation observation)
        {
            try
            {
                await writer.WriteSequencedAsync(observation, Token).ConfigureAwait(false);
                return true;
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or ApiaryException or OperationCanceledException)
            {
                if (!broken.IsCancellationRequested)
                {
                    EndpointLog.WriteBroke(logger, ex.Message);
                    await broken.CancelAsync().ConfigureAwait(false);
                }

                return false;
            }
        }

        private async Task StartExecAsync(ExecCommand exec)
        {
            var stop = CancellationTokenSource.CreateLinkedTokenSource(Token);
            if (!_execs.TryAdd(exec.RequestId, stop))
            {
                stop.Dispose();
                await SendAsync(new ErrorObservation
                {
                    RequestId = exec.RequestId,
                    Code = ProtocolErrorCodes.DuplicateRequest,
                    Message = $"a command with request id '{exec.RequestId}' is already running",
                }).ConfigureAwait(false);
                return;
            }

            Track(RunExecAsync(exec, stop));
        }

        private async Task RunExecAsync(ExecCommand exec, CancellationTokenSource stop)
        {
            try
            {
                // Cancelling the token stops the exec like a cancel command: TERM, grace, KILL, then complete "cancelled".
                await HandleAsync(exec, stop.Token).ConfigureAwait(false);
            }
            finally
            {
                _execs.TryRemove(new KeyValuePair<string, CancellationTokenSource>(exec.RequestId, stop));
                stop.Dispose();
            }
        }

        private async Task<bool> TryCancelAsync(string target)
        {
            if (!_execs.TryGetValue(target, out var stop))
            {
                return false;
            }

            try
            {
                await stop.CancelAsync().ConfigureAwait(false);
                return true;
            }
            catch (ObjectDisposedException)
            {
                // It ended between the lookup and the cancel: nothing is running any more.
                return false;
            }
        }

        private void Track(Task task)
        {
            lock (_inFlightLock)
            {
                _inFlight.Add(task);
            }

            _ = task.ContinueWith(
                done =>
                {
                    lock (_inFlightLock)
                    {
                        _inFlight.Remove(done);
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        private async Task HandleAsync(Command command, CancellationToken cancellationToken)
        {
            // Off the read loop's path: a command's first steps may be synchronous, and the next frame must not wait for them.
            await Task.Yield();
            try
            {
                await foreach (var observation in session.ExecuteAsync(command, cancellationToken).ConfigureAwait(false))
                {
                    if (command is ExecCommand && observation is CompleteObservation or ErrorObservation)
                    {
                        // Its final observation: from now on its id may be reused, and a cancel of it finds nothing.
                        _execs.TryRemove(command.RequestId, out _);
                    }

                    if (!await SendAsync(observation).ConfigureAwait(false))
                    {
                        return;
                    }
                }
            }
            catch (OperationCanceledException) when (broken.IsCancellationRequested)
            {
                // The connection is gone; the session's close stops what still runs.
            }
            catch (Exception ex)
            {
                // A failure of the agent itself: the host still gets a final observation for its request.
                EndpointLog.CommandFailed(logger, command.GetType().Name, command.RequestId, ex);
                await SendAsync(new ErrorObservation { RequestId = command.RequestId, Code = ProtocolErrorCodes.IoError, Message = $"the agent failed to carry out the command: {ex.Message}" }).ConfigureAwait(false);
            }
        }
    }
}
