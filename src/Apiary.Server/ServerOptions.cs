using Apiary.Home;
using Microsoft.Extensions.Logging;

namespace Apiary.Server;

/// <summary>How <see cref="ApiaryServer.StartAsync"/> runs a server for one home.</summary>
public sealed class ServerOptions
{
    /// <summary>The default address: loopback only, port 7171.</summary>
    public const string DefaultUrls = "http://127.0.0.1:7171";

    /// <summary>The Apiary home the server serves (created with the samples when it does not exist).</summary>
    public required string Home { get; init; }

    /// <summary>Where to listen. Default <see cref="DefaultUrls"/>; port 0 picks a free port (see <see cref="ApiaryServer.Url"/>).</summary>
    public string Urls { get; init; } = DefaultUrls;

    /// <summary>
    /// Host names the server answers to besides its own addresses and the loopback names, added to those of the home's
    /// <c>apiary.yaml</c> (<c>server.allowed_hosts</c>): each a name or an IP address (IPv6 in brackets), optionally with
    /// <c>:PORT</c>. A request whose <c>Host</c> header names any other host is refused (400). Default none.
    /// </summary>
    public IReadOnlyList<string> AllowedHosts { get; init; } = [];

    /// <summary>
    /// Run commands as plain processes instead of in bubblewrap sandboxes. For tests and development on machines
    /// without bubblewrap only: nothing is isolated. Default false.
    /// </summary>
    public bool Unconfined { get; init; }

    /// <summary>The user's home folder, for workspace checks and <c>~</c>; default <c>$HOME</c>.</summary>
    public string? UserHome { get; init; }

    /// <summary>
    /// Where the server, its runtime and its web host log (such as the unconfined backend's warning, or the runtime's
    /// troubles). Default: standard error, one line an entry, warnings and up. The server does not dispose it. Whatever
    /// it is, logs are also exported over OTLP when the home's <c>apiary.yaml</c> sets <c>telemetry.otlp_endpoint</c>.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>The largest request body accepted, in bytes. Default 1 MiB.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>How many events a live stream client may fall behind before it is dropped. Default 4096.</summary>
    public int StreamClientBuffer { get; init; } = 4096;

    /// <summary>
    /// The models agent runs call. Default: the models configured in the home's <c>models.yaml</c>. Set it to embed
    /// Apiary with models of your own, or to give tests a scripted model.
    /// </summary>
    public Apiary.Models.IModelCatalog? Models { get; init; }

    /// <summary>
    /// Serve the home's event log even when the start check finds it cut, rewritten or unanchored (<c>apiary up
    /// --accept-damaged-log</c>): the acceptance is recorded in the log as <c>audit.damage-accepted</c>, with every problem
    /// found and who accepted it, and a new checkpoint is signed. Default false: such a log is refused.
    /// </summary>
    public bool AcceptDamagedLog { get; init; }

    /// <summary>When the server signs checkpoints of its log (besides on every clean shutdown): every 1000 events, 60 seconds after the first one not covered.</summary>
    public Apiary.Events.AuditCheckpointOptions AuditCheckpoints { get; init; } = new();

    /// <summary>How crashed agent runs are restarted: how often, after what backoff.</summary>
    public Apiary.Runtime.Supervision.SupervisorOptions Supervisor { get; init; } = new();

    /// <summary>The clock of the supervisor's restart backoff; tests give a manual one. Default the server's clock.</summary>
    internal TimeProvider? SupervisorClock { get; init; }

    /// <summary>The clock of the intervals at which refused authentication is summarised; tests give a manual one. Default the server's clock.</summary>
    internal TimeProvider? RejectionClock { get; init; }

    /// <summary>
    /// Changes the web host before it is built. Tests use it to serve in memory (<c>UseTestServer</c>) instead of on a
    /// socket; nothing else should need it.
    /// </summary>
    internal Action<Microsoft.AspNetCore.Hosting.IWebHostBuilder>? ConfigureWebHost { get; init; }

    /// <summary>Tools the runs offer their models besides the built-in ones (registered with <c>WithTools</c>).</summary>
    internal IReadOnlyList<IAgentTool> Tools { get; init; } = [];

    /// <summary>What the runtime behind the server is given.</summary>
    internal RuntimeOptions ToRuntimeOptions(ILoggerFactory logging) => new()
    {
        Unconfined = Unconfined,
        LoggerFactory = logging,
        Models = Models,
        AcceptDamagedLog = AcceptDamagedLog,
        AuditCheckpoints = AuditCheckpoints,
        Supervisor = Supervisor,
        SupervisorClock = SupervisorClock,
    };

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Home))
        {
            throw new ArgumentException("the server needs a home folder (--home)", nameof(Home));
        }

        if (string.IsNullOrWhiteSpace(Urls))
        {
            throw new ArgumentException($"the server needs a URL to listen on (--urls), such as {DefaultUrls}", nameof(Urls));
        }

        foreach (var host in AllowedHosts)
        {
            if (!AllowedHost.TryParse(host, out _, out var error))
            {
                throw new ArgumentException($"--allowed-host: {error}", nameof(AllowedHosts));
            }
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRequestBodyBytes, 1024, nameof(MaxRequestBodyBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(StreamClientBuffer, 1, nameof(StreamClientBuffer));
        Supervisor.Validate();
        AuditCheckpoints.Validate();
    }
}

