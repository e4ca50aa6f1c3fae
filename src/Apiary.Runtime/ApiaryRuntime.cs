using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Apiary.Agents;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;
using Apiary.Governance.Pipeline;
using Apiary.Home;
using Apiary.Models;
using Apiary.Sandbox;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Unconfined;
using Apiary.Secrets;
using Apiary.Runtime.Audit;
using Apiary.Runtime.LiveConfig;
using Apiary.Runtime.Manager;
using Apiary.Runtime.Memory;
using Apiary.Runtime.Messaging;
using Apiary.Runtime.Supervision;
using Apiary.Runtime.Telemetry;
using Apiary.Storage.Sqlite;
using Apiary.Configuration;

namespace Apiary.Runtime;

/// <summary>
/// The application of one home, composed: the event store and the governance pipeline (which owns every session, so
/// recovery at start gives back whatever a previous runtime left unfinished), the <see cref="Sessions"/>, the one
/// governed <see cref="Executor"/>, the turn loop (<see cref="Runs"/>), the tools (<see cref="Tools"/>),
/// <see cref="Messaging"/>, the <see cref="Manager"/>'s actions, <see cref="Memory"/> and the <see cref="Supervisor"/>.
/// Each capability is a class of its folder, given what it needs here; a host (the HTTP server) calls them.
/// </summary>
internal sealed class ApiaryRuntime : IAsyncDisposable
{
    /// <summary>The event log's file in the home.</summary>
    public const string StoreFileName = "events.db";

    /// <summary>The agent a session acts as when the person at the terminal works through it (<c>apiary exec</c> without <c>--agent</c>).</summary>
    public static readonly AgentName Operator = RuntimeContext.Operator;

    private readonly RuntimeContext _context;
    private readonly IDisposable? _ownedModels;
    private Task _following = Task.CompletedTask;
    private ConfigWatcher? _watcher;
    private LogGuard? _guard;

    private ApiaryRuntime(RuntimeContext context, SessionHost sessions, AgentRelations relations, IModelCatalog models, IDisposable? ownedModels)
    {
        _context = context;
        _ownedModels = ownedModels;
        Sessions = sessions;
        Executor = new GovernedExecutor(context);
        Relations = relations;
        Messaging = new MessageService(context, Executor, sessions, Relations);
        var modelCalls = new ModelCalls(Executor);
        Tools = new ToolRegistry();
        Runs = new RunService(context, sessions, Executor, modelCalls, new TurnTelemetry(context, Messaging.Broker), models, Tools);
        Manager = new ManagerService(context, Executor, Runs, Relations);
        Memory = new MemoryService(context, Executor, modelCalls, models);
        foreach (var workspace in WorkspaceTools.Descriptors)
        {
            Tools.Register(new WorkspaceTool(workspace, Runs));
        }

        Tools.Register(new SendTool(Messaging)).Register(new RecvTool(context, Messaging)).Register(new AskTool(Messaging)).Register(new AnswerTool(Messaging))
            .Register(new RequestSpawnTool(Manager)).Register(new StartTool(Manager)).Register(new StopTool(Manager)).Register(new RestartTool(Manager)).Register(new UpdateTool(Manager))
            .Register(new RememberTool(Memory));
    }

    public ApiaryHome Home => _context.Home;

    public HomeConfig Config => _context.Config;

    public AgentCatalog Catalog => _context.Catalog;

    public SqliteEventStore Store => _context.Store;

    public GovernancePipeline Pipeline => _context.Pipeline;

    public TokenStore Tokens => _context.Tokens;

    public TimeProvider Time => _context.Time;

    /// <summary>The sessions: each one principal, one sandbox, one budget.</summary>
    public SessionHost Sessions { get; }

    /// <summary>The one governed executor every side effect passes.</summary>
    public GovernedExecutor Executor { get; }

    /// <summary>The turn loop: agent runs, resumed after a restart, restarted by the supervisor.</summary>
    /// <summary>The proposal <paramref name="id"/>: live or ended a moment ago, else as the log has it; null when there is none.</summary>
    public async Task<ProposalDto?> FindProposalAsync(string id, CancellationToken cancellationToken) =>
        Executor.FindRun(id)?.ToDto() ?? (await FindRecordedProposalAsync(id, cancellationToken).ConfigureAwait(false))?.Proposal;

    /// <summary>The proposal <paramref name="id"/> as the log has it, with its recorded output; null when the log has none.</summary>
    public async Task<(ProposalDto Proposal, string? Output)?> FindRecordedProposalAsync(string id, CancellationToken cancellationToken) =>
        Guid.TryParseExact(id, "N", out _) ? await ProposalRecords.FindAsync(Store, id, cancellationToken).ConfigureAwait(false) : null;

    public RunService Runs { get; }

    /// <summary>The built-in tools the runs offer their models.</summary>
    public ToolRegistry Tools { get; }

    /// <summary>Messages between agents and the operator.</summary>
    public MessageService Messaging { get; }

    /// <summary>The manager's actions on other agents.</summary>
    public ManagerService Manager { get; }

    /// <summary>Agents' memory.</summary>
    public MemoryService Memory { get; }

    /// <summary>Who an agent may reach and who manages it.</summary>
    public AgentRelations Relations { get; }

    /// <summary>Every agent's lifecycle, as the supervisor follows it.</summary>
    public Supervisor Supervisor { get; private set; } = null!;

    public ISandboxBackend? Backend => Sessions.Backend;

    /// <summary>Why there is no sandbox backend, when there is none.</summary>
    public string? SandboxProblem => Sessions.SandboxProblem;

    /// <summary>Why the policies did not load, when they did not; every proposal is refused until they do.</summary>
    public string? PolicyProblem => _context.PolicyProblem;

    /// <summary>The home's configuration as it is reloaded while the runtime runs: the versions in force and what cannot be loaded.</summary>
    public LiveConfiguration Live { get; private init; } = null!;

    /// <summary>Cancelled when the runtime stops: running commands, approval waits and live streams end.</summary>
    public CancellationToken Stopping => _context.Stopping;

    /// <summary>The one reader of the log that live event streams share.</summary>
    public LiveEventFeed Feed { get; private set; } = null!;

    public static async Task<ApiaryRuntime> OpenAsync(ApiaryHome home, RuntimeOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        // Each part is read once, and its version computed from exactly what was read, so the version recorded at start is
        // the one in force (a reload compares the files with it).
        var (configText, configVersion) = await LiveConfiguration.ReadFileAsync(home.ConfigFile, cancellationToken).ConfigureAwait(false);
        var (config, diagnostics) = configText is null ? (HomeConfig.Empty, []) : HomeConfig.Parse(configText, home.ConfigFile);
        if (config is null)
        {
            throw new ServerStartException($"{home.ConfigFile} has errors: {string.Join("; ", diagnostics.Select(d => d.ToString()))}; fix them and start again");
        }

        var policySources = PolicyLoader.ReadDirectory(home.PoliciesDirectory);
        var loaded = policySources is null ? PolicyLoader.LoadDirectory(home.PoliciesDirectory) : PolicyLoader.Parse(policySources);
        var policyErrors = loaded.Succeeded ? null : loaded.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
        var secrets = new FileSecretStore(home);
        var catalog = SecretCatalog.Of(secrets);
        try
        {
            await catalog.RefreshAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException)
        {
            throw new ServerStartException($"the secrets of the home cannot be read ({ex.Message}); the server needs them to refuse proposals that leak them");
        }

        var ledger = new BudgetLedger(time);
        var store = await SqliteEventStore.OpenAsync(Path.Combine(home.Root, StoreFileName), new SqliteEventStoreOptions { TimeProvider = time, BeforeAppend = new EventRedaction(() => catalog.Redactor).Redact }, cancellationToken).ConfigureAwait(false);
        LogGuard? guard = null;
        try
        {
            // Nothing is read from or appended to a log that was cut or rewritten, unless the operator accepted it.
            guard = await LogGuard.StartAsync(home, store, options, time, cancellationToken).ConfigureAwait(false);
            // The control plane's checks (allowed recipients, a manager's reach) are evaluators of the same pipeline, so
            // every decision they make is recorded and explained like any other.
            var agents = new AgentCatalog(home, config);
            var relations = new AgentRelations(agents, store);
            var engine = new PolicyEngine(loaded.Policy ?? Policy.Empty, [new SecretLeakEvaluator(catalog), .. ControlPlaneChecks.All(relations)]);
            var pipeline = new GovernancePipeline(store, engine, ledger, new LockTable(time), new KillSwitch(time), new GovernancePipelineOptions { Redactor = () => catalog.Redactor }, time);
            await pipeline.LoadAsync(cancellationToken).ConfigureAwait(false);

            // Whatever an earlier server (or a dead CLI process) left allowed but unfinished is given back. Sessions a
            // live process still holds (an 'apiary exec' running now) are left alone; this server's own sessions are
            // held the same way while they are open, so a CLI process recovering meanwhile leaves them alone too.
            await pipeline.RecoverAsync(LiveSessions.Of(home).IsAlive, cancellationToken).ConfigureAwait(false);
            var tokens = await TokenStore.OpenAsync(home, time, cancellationToken).ConfigureAwait(false);
            var context = new RuntimeContext(home, config, agents, store, pipeline, ledger, secrets, tokens, time) { Log = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Apiary.Runtime") };
            store.WriteFaultChanged += fault =>
            {
                if (fault is null)
                {
                    RuntimeLog.StoreWritesAgain(context.Log, store.Path);
                }
                else
                {
                    RuntimeLog.StoreCannotWrite(context.Log, store.Path, fault.Reason);
                }
            };
            if (policyErrors is not null)
            {
                context.PolicyProblem = LiveConfiguration.PolicyProblemText(home, policyErrors);
            }

            var (backend, sandboxProblem) = OpenBackend(options);
            var modelOptions = new ModelCatalogOptions { TimeProvider = time };
            var (models, owned, modelsVersion, modelErrors) = options.Models is { } given
                ? (given, null, (await LiveConfiguration.ReadFileAsync(ModelsFile.PathIn(home), cancellationToken).ConfigureAwait(false)).Version, null)
                : await LoadModelsAsync(home, secrets, modelOptions, context.Log, cancellationToken).ConfigureAwait(false);
            var reloadable = options.Models is not null ? null : new ReloadableModelCatalog(models, owned);
            var live = new LiveConfiguration(context, reloadable, modelOptions, [
                (ConfigParts.Policies, LiveConfiguration.PolicyVersion(policySources), policyErrors),
                (ConfigParts.Templates, LiveConfiguration.TemplatesVersion(home), null),
                (ConfigParts.Models, modelsVersion, modelErrors),
                (ConfigParts.Config, configVersion, null),
            ]);
            var runtime = new ApiaryRuntime(context, new SessionHost(context, backend, sandboxProblem), relations, (IModelCatalog?)reloadable ?? models, reloadable) { _guard = guard, Live = live };
            await live.RecordStartAsync(cancellationToken).ConfigureAwait(false);

            // Kill switches engaged by another process on the same home (such as a local 'apiary kill') still apply here.
            runtime._following = Task.Run(() => pipeline.FollowAsync(context.Stopping), CancellationToken.None);
            runtime.Feed = await LiveEventFeed.StartAsync(store, cancellationToken).ConfigureAwait(false);

            // The supervisor seeds the agents' states from the log as it stands, so what resuming runs changes is reported.
            runtime.Supervisor = new Supervisor(runtime, options.Supervisor, options.SupervisorClock ?? time);
            await runtime.Supervisor.StartAsync(cancellationToken).ConfigureAwait(false);

            // Runs a previous server left unended (waiting for an approval, or running) go on where they stood.
            var claimed = await runtime.Runs.ResumeRunsAsync(cancellationToken).ConfigureAwait(false);

            // Tickets a previous server left open for other callers wait again; each runs its exact proposal once, when granted.
            await new TicketRecovery(context, runtime.Sessions, runtime.Executor).TakeUpAsync(claimed, cancellationToken).ConfigureAwait(false);

            // Sessions a dead process left open, and nobody took up, are recorded as orphaned.
            await runtime.Sessions.RecordOrphansAsync(cancellationToken).ConfigureAwait(false);

            // From now on a change of the configuration files applies without a restart.
            runtime._watcher = ConfigWatcher.Start(context, live);
            return runtime;
        }
        catch
        {
            if (guard is not null)
            {
                await guard.DisposeAsync().ConfigureAwait(false);
            }

            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Records an event the runtime itself produces; a failure to record is the caller's to handle.</summary>
    public Task<AppendResult> RecordAsync(string stream, EventData data, CancellationToken cancellationToken = default) => _context.RecordAsync(stream, data, cancellationToken);

    /// <summary>Where the runtime logs.</summary>
    public ILogger Log => _context.Log;

    /// <summary>Loads an agent by the name a caller gave (a refusal names what is wrong).</summary>
    public Task<AgentDefinition> LoadAgentAsync(string raw, CancellationToken cancellationToken) => _context.LoadAgentAsync(raw, cancellationToken);

    /// <summary>Opens a session for a caller of the API (see <see cref="SessionHost.OpenAsync"/>).</summary>
    public async Task<OpenSessionResponse> OpenSessionAsync(OpenSessionRequest request, string by, CancellationToken cancellationToken)
    {
        var (session, token) = await Sessions.OpenAsync(request, by, null, cancellationToken).ConfigureAwait(false);
        return new OpenSessionResponse(session.ToDto(), token);
    }

    /// <summary>Carries out one tool call of <paramref name="run"/>'s model as the turn loop does; what the model is told.</summary>
    public async Task<string> CallToolAsync(AgentRun run, Microsoft.Extensions.AI.FunctionCallContent call, CancellationToken cancellationToken) =>
        (await Runs.DispatchAsync(new ToolCall(run, run.ToDto().Turns, call, AgentTools.ArgumentsJson(call)), cancellationToken).ConfigureAwait(false)).Text;

    /// <summary>Submits a workspace tool call of <paramref name="session"/> for a caller of the API (see <see cref="GovernedExecutor.SubmitAsync"/>).</summary>
    public Task<ProposalRun> SubmitAsync(ApiSession session, ProposalRequest request, CancellationToken cancellationToken) =>
        Executor.SubmitAsync(session, request, keepTicketOnStop: false, cancellationToken);

    /// <summary>What a session's budget allows and has spent so far.</summary>
    public BudgetUsage SessionUsage(string session) => _context.Ledger.Usage(BudgetScope.Session(session));

    public async ValueTask DisposeAsync()
    {
        if (_watcher is not null)
        {
            await _watcher.DisposeAsync().ConfigureAwait(false);
        }

        if (Supervisor is not null)
        {
            await Supervisor.DisposeAsync().ConfigureAwait(false);
        }

        await StopWorkAsync().ConfigureAwait(false);

        await Sessions.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _following.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Following ends by cancellation.
        }

        if (Feed is not null)
        {
            await Feed.DisposeAsync().ConfigureAwait(false);
        }

        // The last checkpoint covers everything recorded, down to the runtime's stop.
        if (_guard is not null)
        {
            await _guard.DisposeAsync().ConfigureAwait(false);
        }

        await Store.DisposeAsync().ConfigureAwait(false);
        _ownedModels?.Dispose();
        Live?.Dispose();
        Tokens.Dispose();
        _context.Dispose();
    }

    /// <summary>Cancels what runs and waits (recording how each ended), then closes on the record every session no unended run holds; idempotent.</summary>
    public async Task<int> StopWorkAsync()
    {
        var cancelled = Executor.Runs.Count(r => !r.IsTerminal);
        if (!await _context.StopAsync().ConfigureAwait(false))
        {
            return 0;
        }

        await ProposalRun.WaitForAllAsync(Executor.Runs).ConfigureAwait(false);
        await _context.WaitForWorkAsync().ConfigureAwait(false);

        // A clean stop closes, on the record, every session no unended run holds (a run's session stays open for the
        // run to resume in after a restart).
        var held = Runs.AgentRuns.Select(r => r.Session.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var session in Sessions.All.Where(s => s.IsOpen && !held.Contains(s.Id)).ToList())
        {
            try
            {
                await Sessions.CloseAsync(session, "apiary server (stopped)", CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is ApiaryException or IOException or ObjectDisposedException)
            {
                // Its closing is not recorded; the stop goes on for the other sessions.
            }
        }

        return cancelled;
    }

    private static (ISandboxBackend? Backend, string? Problem) OpenBackend(RuntimeOptions options)
    {
        if (options.Unconfined)
        {
            return (new UnconfinedBackend((options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<UnconfinedBackend>()), null);
        }

        try
        {
            return (BubblewrapBackend.Create(), null);
        }
        catch (SandboxUnavailableException ex)
        {
            return (null, $"{ex.Message}; install bubblewrap ('apiary doctor' says what is missing)");
        }
    }

    /// <summary>
    /// The models of the home's <c>models.yaml</c>, the version of the file read, and its errors. A file with errors does
    /// not stop the runtime (governance of other tools still works); runs are refused with what is wrong until it is fixed,
    /// which the runtime notices and loads (<see cref="LiveConfiguration"/>).
    /// </summary>
    private static async Task<(IModelCatalog Models, ModelCatalog? Owned, string Version, IReadOnlyList<string>? Errors)> LoadModelsAsync(
        ApiaryHome home, ISecretStore secrets, ModelCatalogOptions options, ILogger log, CancellationToken cancellationToken)
    {
        var path = ModelsFile.PathIn(home);
        var (text, version) = await LiveConfiguration.ReadFileAsync(path, cancellationToken).ConfigureAwait(false);
        var (file, diagnostics) = text is null ? (null, []) : ModelsFile.Parse(text, path);
        List<string> errors = [.. diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString())];
        string problem;
        if (errors.Count == 0)
        {
            try
            {
                var owned = await ModelCatalog.CreateAsync(file, path, secrets, options, cancellationToken).ConfigureAwait(false);
                return (owned, owned, version, null);
            }
            catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException)
            {
                errors.Add($"{path}: error: the keys it names cannot be read: {ex.Message}");
                problem = errors[0];
            }
        }
        else
        {
            problem = $"{ModelsFile.FileName} has errors:{Environment.NewLine}{string.Join(Environment.NewLine, errors.Select(e => "  " + e))}";
        }

        RuntimeLog.ModelsUnavailable(log, problem);
        return (new UnavailableModelCatalog($"{problem}{Environment.NewLine}Fix it: the server loads it when it changes (see docs/models.md)"), null, version, errors);
    }
}
