using Apiary.Home;
using Apiary.IO;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

using Apiary.Server.Dashboard;
using Apiary.Server.Telemetry;

namespace Apiary.Server;

/// <summary>
/// A running Apiary server for one home: the HTTP API under <c>/api</c>, live event streams, the sandboxes and the
/// governance pipeline. Only one server runs per home (an exclusive lock on <c>run/server.lock</c>); while it runs,
/// <c>run/server.json</c> tells clients where it listens. Dispose it to shut down cleanly: running commands are
/// cancelled and their completion recorded, and <c>run/server.json</c> is removed.
/// </summary>
public sealed class ApiaryServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ApiaryRuntime _runtime;
    private readonly AuthRejections _rejections;
    private readonly FileStream _lock;
    private readonly string _infoPath;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    private readonly ILoggerFactory _logging;

    private ApiaryServer(WebApplication app, ApiaryRuntime runtime, AuthRejections rejections, FileStream serverLock, string url, ILoggerFactory logging)
    {
        _app = app;
        _logging = logging;
        _runtime = runtime;
        _rejections = rejections;
        _lock = serverLock;
        Url = url;
        _infoPath = ServerInfo.PathIn(runtime.Home);
    }

    /// <summary>The base URL it listens on, with the real port when port 0 was asked for.</summary>
    public string Url { get; }

    /// <summary>The operator token (also in <c>keys/operator.token</c>, mode 0600).</summary>
    public string OperatorToken => _runtime.Tokens.OperatorToken;

    /// <summary>The read-only token (also in <c>keys/readonly.token</c>, mode 0600).</summary>
    public string ReadOnlyToken => _runtime.Tokens.ReadOnlyToken;

    /// <summary>The home it serves.</summary>
    public string Home => _runtime.Home.Root;

    /// <summary>The event log's file.</summary>
    public string StorePath => _runtime.Store.Path;

    /// <summary>The sandbox backend's name (<c>bubblewrap</c>, <c>unconfined</c>), or <c>none</c> with the reason.</summary>
    public string SandboxBackend => _runtime.Backend?.Name ?? $"none ({_runtime.SandboxProblem})";

    /// <summary>Why the home's policies did not load, when they did not: every proposal is refused until they do.</summary>
    public string? PolicyProblem => _runtime.PolicyProblem;

    /// <summary>Completes once the server has shut down.</summary>
    public Task Completion => _completion.Task;

    /// <summary>
    /// Starts a server for <paramref name="options"/>' home (initialized with the samples when missing), and returns
    /// once it accepts requests and has written <c>run/server.json</c>.
    /// </summary>
    /// <exception cref="ServerStartException">Another server runs on the home, or the home cannot be served.</exception>
    public static async Task<ApiaryServer> StartAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var userHome = options.UserHome
            ?? (Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
        var home = new ApiaryHome(ApiaryHome.Expand(options.Home, userHome, Environment.CurrentDirectory), userHome);
        if (!home.Exists)
        {
            await home.InitializeAsync(cancellationToken).ConfigureAwait(false);
        }

        // Telemetry is set up before anything else logs; a file with errors is the runtime's to report, below.
        var (config, _) = await HomeConfig.LoadAsync(home, cancellationToken).ConfigureAwait(false);
        var telemetry = config?.Telemetry ?? TelemetrySettings.Off;
        var logging = ServerTelemetry.CreateLoggerFactory(options.LoggerFactory, telemetry);
        var logger = logging.CreateLogger<ApiaryServer>();
        if (telemetry.Exports)
        {
            var protocol = TelemetrySettings.NameOf(telemetry.Protocol);
            ServerLog.ExportingTelemetry(logger, protocol, telemetry.OtlpEndpoint!, telemetry.ServiceName);
        }

        // Whatever an older version or a hand left readable by others in the home is made owner-only; what Apiary
        // creates is owner-only from its first byte. Agents' workspaces keep their files' modes (an agent's scripts).
        foreach (var problem in OwnerOnly.TightenTree(home.Root, IsWorkspace(home)))
        {
            ServerLog.NotOwnerOnly(logger, problem);
        }

        FileStream? serverLock = null;
        ApiaryRuntime? runtime = null;
        AuthRejections? rejections = null;
        WebApplication? app = null;
        try
        {
            OwnerOnly.CreateDirectory(home.RunDirectory);
            serverLock = await AcquireAsync(home, cancellationToken).ConfigureAwait(false);
            runtime = await ApiaryRuntime.OpenAsync(home, options.ToRuntimeOptions(logging), TimeProvider.System, cancellationToken).ConfigureAwait(false);
            var recorder = runtime;
            rejections = new AuthRejections(options.RejectionClock ?? runtime.Time, data => ApiMiddleware.RecordRejectionAsync(recorder, data));
            app = Build(options, runtime, rejections, logging, telemetry);
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                throw new ServerStartException($"cannot listen on {options.Urls}: {ex.Message.TrimEnd('.')}; give another address with --urls (port 0 picks a free one)");
            }
            app.Services.GetRequiredService<HostGuard>().Serve(app.Urls);
            var url = app.Urls.First().TrimEnd('/');
            var info = new ServerInfo(url, Environment.ProcessId, runtime.Time.GetUtcNow(), home.Root);
            await WriteInfoAsync(ServerInfo.PathIn(home), info, cancellationToken).ConfigureAwait(false);
            await runtime.RecordAsync(ServerEventTypes.Stream, RuntimeJsonContext.Event(
                ServerEventTypes.ServerStarted,
                new ServerStartedData(url, Environment.ProcessId, home.Root, runtime.Backend?.Name ?? "none", info.StartedAt),
                RuntimeJsonContext.Default.ServerStartedData), cancellationToken).ConfigureAwait(false);
            return new ApiaryServer(app, runtime, rejections, serverLock, url, logging);
        }
        catch
        {
            if (app is not null)
            {
                await app.DisposeAsync().ConfigureAwait(false);
            }

            if (rejections is not null)
            {
                await rejections.DisposeAsync().ConfigureAwait(false);
            }

            if (runtime is not null)
            {
                await runtime.DisposeAsync().ConfigureAwait(false);
            }

            if (serverLock is not null)
            {
                await serverLock.DisposeAsync().ConfigureAwait(false);
            }
            logging.Dispose();
            throw;
        }
    }

    /// <summary>Shuts down: cancels running commands (recording how they ended), stops listening, removes <c>run/server.json</c>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await _completion.Task.ConfigureAwait(false);
            return;
        }

        try
        {
            var cancelled = await _runtime.StopWorkAsync().ConfigureAwait(false);
            using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
            {
                await _app.StopAsync(grace.Token).ConfigureAwait(false);
            }

            await _app.DisposeAsync().ConfigureAwait(false);

            // Refusals counted and not yet recorded are, before the last line.
            await _rejections.DisposeAsync().ConfigureAwait(false);
            try
            {
                await _runtime.RecordAsync(ServerEventTypes.Stream, RuntimeJsonContext.Event(
                    ServerEventTypes.ServerStopped,
                    new ServerStoppedData(Environment.ProcessId, cancelled, _runtime.Time.GetUtcNow()),
                    RuntimeJsonContext.Default.ServerStoppedData)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ApiaryException or ObjectDisposedException)
            {
                // Shutting down goes on; the log simply lacks its last line.
            }

            await _runtime.DisposeAsync().ConfigureAwait(false);
            File.Delete(_infoPath);
        }
        finally
        {
            await _lock.DisposeAsync().ConfigureAwait(false);

            // Last, so that everything before is logged, and exported when the home exports.
            _logging.Dispose();
            _completion.TrySetResult();
        }
    }

    /// <summary>The web application, for tests that serve it in memory.</summary>
    internal WebApplication App => _app;

    private static async Task<FileStream> AcquireAsync(ApiaryHome home, CancellationToken cancellationToken)
    {
        try
        {
            // FileShare.None is an exclusive advisory lock (flock) on Linux, dropped by the kernel however the process ends.
            return OwnerOnly.Open(Path.Combine(home.RunDirectory, "server.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1);
        }
        catch (IOException)
        {
            var info = await ServerInfo.ReadAsync(home, cancellationToken).ConfigureAwait(false);
            var where = info is null ? "" : $" at {info.Url} (pid {info.Pid})";
            throw new ServerStartException(
                $"another Apiary server is already running on the home {home.Root}{where}; use that one, stop it first (Ctrl-C where it runs), or give this one another --home");
        }
    }

    private static Task WriteInfoAsync(string path, ServerInfo info, CancellationToken cancellationToken) =>
        OwnerOnly.WriteAllBytesAsync(path, JsonSerializer.SerializeToUtf8Bytes(info, ApiJsonContext.Default.ServerInfo), cancellationToken: cancellationToken);

    // The default workspace of an agent: agents/NAME/workspace.
    private static Func<string, bool> IsWorkspace(ApiaryHome home) => folder =>
        Path.GetFileName(folder) == Apiary.Agents.WorkspaceGuard.DefaultFolderName
        && Path.GetDirectoryName(Path.GetDirectoryName(folder)) == home.AgentsDirectory;

    private static WebApplication Build(ServerOptions options, ApiaryRuntime runtime, AuthRejections rejections, ILoggerFactory logging, TelemetrySettings telemetry)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = runtime.Home.Root });
        builder.WebHost.UseUrls(options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
        });
        options.ConfigureWebHost?.Invoke(builder.WebHost);

        // The web host logs where the server does (and is exported with it); only its warnings and errors are wanted.
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddProvider(new ForwardingLoggerProvider(logging));
        builder.Logging.AddFilter("Microsoft.AspNetCore.Server.Kestrel", LogLevel.Error);

        // A host that cannot start (an address in use) is the server's own one-line error, not the host's stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);

        // The dashboard's keys are kept in keys/dashboard, readable by the home's owner only, like the tokens beside them.
        builder.Logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
        builder.Services.AddApiary(runtime, options, rejections).WithDashboard().WithTelemetry(telemetry).WithTools(options.Tools);
        var app = builder.Build();
        app.MapApiary();
        return app;
    }
}
