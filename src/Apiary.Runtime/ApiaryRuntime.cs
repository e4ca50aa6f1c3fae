using System.Collections.Concurrent;
using Apiary.Agents;
using Apiary.Contracts;
using Apiary.Events;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;
using Apiary.Governance.Pipeline;
using Apiary.Home;
using Apiary.Sandbox;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Templates;
using Apiary.Sandbox.Unconfined;
using Apiary.Secrets;
using Apiary.Runtime.Audit;
using Apiary.Storage.Sqlite;
using Apiary.Configuration;

namespace Apiary.Runtime;

/// <summary>
/// Everything one server runs for its home: the event store, the governance pipeline (which owns every session, so
/// recovery at start gives back whatever a previous server left unfinished), the sandbox backend, the API sessions and
/// the proposals submitted through them.
/// </summary>
internal sealed partial class ApiaryRuntime : IAsyncDisposable
{
    /// <summary>The event log's file in the home.</summary>
    public const string StoreFileName = "events.db";

    /// <summary>The agent a session acts as when the person at the terminal works through it (<c>apiary exec</c> without <c>--agent</c>).</summary>
    public static readonly AgentName Operator = AgentName.Parse("operator");

    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, ApiSession> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ProposalRun> _runs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Task, byte> _work = new();
    private readonly BudgetLedger _ledger;
    private readonly ISecretStore _secrets;
    private Task _following = Task.CompletedTask;
    private LogGuard? _guard;

    private ApiaryRuntime(ApiaryHome home, HomeConfig config, SqliteEventStore store, GovernancePipeline pipeline, BudgetLedger ledger, TokenStore tokens, ISecretStore secrets, TimeProvider time)
    {
        Home = home;
        Config = config;
        Store = store;
        Pipeline = pipeline;
        _ledger = ledger;
        Tokens = tokens;
        _secrets = secrets;
        Time = time;
        Catalog = new AgentCatalog(home, config);
    }

    public ApiaryHome Home { get; }

    public HomeConfig Config { get; }

    public AgentCatalog Catalog { get; }

    public SqliteEventStore Store { get; }

    public GovernancePipeline Pipeline { get; }

    public TokenStore Tokens { get; }

    public TimeProvider Time { get; }

    public ISandboxBackend? Backend { get; private set; }

    /// <summary>Why there is no sandbox backend, when there is none.</summary>
    public string? SandboxProblem { get; private set; }

    /// <summary>Why the policies did not load, when they did not; every proposal is refused until they do.</summary>
    public string? PolicyProblem { get; private set; }

    /// <summary>Cancelled when the server stops: running commands, approval waits and live streams end.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>The one reader of the log that live event streams share.</summary>
    public LiveEventFeed Feed { get; private set; } = null!;

    public IEnumerable<ApiSession> Sessions => _sessions.Values.OrderBy(s => s.OpenedAt);

    public static async Task<ApiaryRuntime> OpenAsync(ApiaryHome home, RuntimeOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        var (config, diagnostics) = await HomeConfig.LoadAsync(home, cancellationToken).ConfigureAwait(false);
        if (config is null)
        {
            throw new ServerStartException($"{home.ConfigFile} has errors: {string.Join("; ", diagnostics.Select(d => d.ToString()))}; fix them and start again");
        }

        var loaded = PolicyLoader.LoadDirectory(home.PoliciesDirectory);
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

        var engine = new PolicyEngine(loaded.Policy ?? Policy.Empty, [new SecretLeakEvaluator(catalog)]);
        var ledger = new BudgetLedger(time);
        var store = await SqliteEventStore.OpenAsync(Path.Combine(home.Root, StoreFileName), new SqliteEventStoreOptions { TimeProvider = time, BeforeAppend = new EventRedaction(() => catalog.Redactor).Redact }, cancellationToken).ConfigureAwait(false);
        LogGuard? guard = null;
        try
        {
            // Nothing is read from or appended to a log that was cut or rewritten, unless the operator accepted it.
            guard = await LogGuard.StartAsync(home, store, options, time, cancellationToken).ConfigureAwait(false);
            var pipeline = new GovernancePipeline(store, engine, ledger, new LockTable(time), new KillSwitch(time), new GovernancePipelineOptions { Redactor = () => catalog.Redactor }, time);
            await pipeline.LoadAsync(cancellationToken).ConfigureAwait(false);

            // Whatever an earlier server (or a dead CLI process) left allowed but unfinished is given back. Sessions a
            // live process still holds (an 'apiary exec' running now) are left alone; this server's own sessions are
            // held the same way while they are open, so a CLI process recovering meanwhile leaves them alone too.
            await pipeline.RecoverAsync(LiveSessions.Of(home).IsAlive, cancellationToken).ConfigureAwait(false);
            var tokens = await TokenStore.OpenAsync(home, time, cancellationToken).ConfigureAwait(false);
            var runtime = new ApiaryRuntime(home, config, store, pipeline, ledger, tokens, secrets, time) { _guard = guard };
            if (!loaded.Succeeded)
            {
                runtime.PolicyProblem = $"the policies in {home.PoliciesDirectory} cannot be loaded: " +
                    string.Join("; ", loaded.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString())) +
                    "; fix them ('apiary policy check') and restart the server";
            }

            runtime.OpenBackend(options);
            runtime.Models = options.Models ?? await runtime.LoadModelsAsync(home, secrets, time, cancellationToken).ConfigureAwait(false);

            // Kill switches engaged by another process on the same home (such as a local 'apiary kill') still apply here.
            runtime._following = Task.Run(() => pipeline.FollowAsync(runtime._stopping.Token), CancellationToken.None);
            runtime.Feed = await LiveEventFeed.StartAsync(store, cancellationToken).ConfigureAwait(false);

            // The supervisor seeds the agents' states from the log as it stands, so what resuming runs changes is reported.
            await runtime.StartSupervisorAsync(options, cancellationToken).ConfigureAwait(false);

            // Runs a previous server left unended (waiting for an approval, or running) go on where they stood.
            await runtime.ResumeRunsAsync(cancellationToken).ConfigureAwait(false);
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

    /// <summary>Records an event the server itself produces; a failure to record is the caller's to handle.</summary>
    public Task<AppendResult> RecordAsync(string stream, EventData data, CancellationToken cancellationToken = default) =>
        Store.AppendAsync(stream, ExpectedVersion.Any, [data], cancellationToken);

    public ApiSession? FindSession(string id) => _sessions.GetValueOrDefault(id);

    public ProposalRun? FindRun(string id) => _runs.GetValueOrDefault(id);

    /// <summary>
    /// Opens a session as <see cref="OpenSessionRequest.Agent"/>: its sandbox over its workspace (or the one asked for),
    /// its budget, a token. The agent <c>operator</c> is the person at the terminal: a manager with no budget beyond what
    /// the policies allow, working in the folder asked for or in a new empty one removed when the session closes.
    /// </summary>
    public Task<OpenSessionResponse> OpenSessionAsync(OpenSessionRequest request, string by, CancellationToken cancellationToken) =>
        OpenSessionAsync(request, by, null, cancellationToken);

    /// <summary>
    /// Opens a session; with <paramref name="sessionId"/>, under that id again (a resumed run's session, so its approval
    /// tickets, budget and record stay its own).
    /// </summary>
    private async Task<OpenSessionResponse> OpenSessionAsync(OpenSessionRequest request, string by, string? sessionId, CancellationToken cancellationToken)
    {
        var backend = Backend ?? throw new RequestRefusedException(Refusal.Unavailable, "No sandbox", $"sessions cannot open: {SandboxProblem}");
        var asOperator = request.Agent == Operator.Value;
        var agent = asOperator ? null : await LoadAgentAsync(request.Agent, cancellationToken).ConfigureAwait(false);
        string? workspace = null;
        if (request.Workspace is not null)
        {
            var check = WorkspaceGuard.Validate(request.Workspace, Home.UserHome, Home.Root);
            workspace = check.Path ?? throw new RequestRefusedException(Refusal.Invalid, "Invalid workspace", check.Reason!);
            if (!Directory.Exists(workspace))
            {
                throw new RequestRefusedException(Refusal.Invalid, "Workspace missing", $"the workspace {workspace} does not exist; create it first");
            }
        }
        else if (agent is not null)
        {
            workspace = agent.Workspace.Path;
            if (!Directory.Exists(workspace))
            {
                if (agent.Workspace.IsDefault)
                {
                    WorkspaceGuard.EnsureDefault(agent.Directory);
                }
                else
                {
                    throw new RequestRefusedException(Refusal.Conflict, "Workspace missing", $"the workspace {workspace} of agent '{agent.Name}' does not exist; create it or change 'workspace:' in its AGENTS.md");
                }
            }
        }

        var template = await LoadTemplateAsync(request.Template ?? agent?.Settings.Template.Value ?? AgentSettings.DefaultTemplate, explicitly: request.Template is not null, cancellationToken).ConfigureAwait(false);
        var id = sessionId ?? Guid.NewGuid().ToString("N");
        var principal = agent is null ? new Principal(Operator, AgentRole.Manager, id) : new Principal(agent.Name, agent.Settings.Role.Value, id);
        if (agent is not null)
        {
            _ledger.SetLimits(BudgetScope.Session(id), new BudgetLimits(agent.Settings.Commands.Value, agent.Settings.WallTime.Value, agent.Settings.Tokens.Value, agent.Settings.CostUsd.Value));
        }

        var temporary = workspace is null ? Directory.CreateTempSubdirectory("apiary-session-").FullName : null;
        workspace ??= temporary!;
        var alive = LiveSessions.Of(Home).Hold(id);
        ISandboxSession sandbox;
        try
        {
            // The store is always given: a command may ask for secrets by name (exec 'secrets'), and the template may too.
            sandbox = await backend.OpenSessionAsync(
                new SandboxSessionOptions { Workspace = workspace, Template = template, Secrets = _secrets, Id = id },
                cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            alive.Dispose();
            DeleteTemporary(temporary);
            throw;
        }

        var session = new ApiSession(principal, sandbox, template, alive, Time.GetUtcNow(), temporary);
        try
        {
            await RecordAsync("session-" + id, ServerEventJsonContext.Event(
                ServerEventTypes.SessionOpened,
                new SessionEventData(id, session.AgentName, session.Workspace, by, session.OpenedAt),
                ServerEventJsonContext.Default.SessionEventData), cancellationToken).ConfigureAwait(false);
            var token = await Tokens.IssueSessionAsync(session.AgentName, id, cancellationToken).ConfigureAwait(false);
            _sessions[id] = session;
            return new OpenSessionResponse(session.ToDto(), token);
        }
        catch
        {
            await sandbox.DisposeAsync().ConfigureAwait(false);
            session.Dispose();
            DeleteTemporary(temporary);
            throw;
        }
    }

    /// <summary>Closes a session: what runs in it is cancelled (and recorded), its tokens are revoked.</summary>
    public async Task<SessionDto> CloseSessionAsync(ApiSession session, string by, CancellationToken cancellationToken)
    {
        if (session.TryClose(Time.GetUtcNow()))
        {
            await WaitForRunsAsync(_runs.Values.Where(r => r.Session == session)).ConfigureAwait(false);
            await session.Sandbox.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            await session.Sandbox.DisposeAsync().ConfigureAwait(false);
            await Tokens.RevokeSessionAsync(session.Id, CancellationToken.None).ConfigureAwait(false);
            session.ReleaseLiveMark();
            DeleteTemporary(session.TemporaryWorkspace);
            await RecordAsync("session-" + session.Id, ServerEventJsonContext.Event(
                ServerEventTypes.SessionClosed,
                new SessionEventData(session.Id, session.AgentName, session.Workspace, by, session.ClosedAt!.Value),
                ServerEventJsonContext.Default.SessionEventData), cancellationToken).ConfigureAwait(false);
        }

        return session.ToDto();
    }

    public async Task<AgentDefinition> LoadAgentAsync(string raw, CancellationToken cancellationToken)
    {
        if (!AgentName.TryCreate(raw, out var name, out var error))
        {
            throw new RequestRefusedException(Refusal.Invalid, "Invalid agent name", $"'{raw}' is not a valid agent name: {error.Message}");
        }

        var entry = await Catalog.LoadAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false)
            ?? throw new RequestRefusedException(Refusal.NotFound, "Unknown agent", $"there is no agent named '{name}' in {Home.AgentsDirectory}; GET /api/agents lists the agents, POST /api/agents creates one");
        return entry.Definition
            ?? throw new RequestRefusedException(Refusal.Conflict, "Broken agent", $"agent '{name}' cannot be used until its definition is fixed: {string.Join("; ", entry.Errors.Select(e => e.ToString()))}");
    }

    public async ValueTask DisposeAsync()
    {
        if (Supervisor is not null)
        {
            await Supervisor.DisposeAsync().ConfigureAwait(false);
        }

        await StopWorkAsync().ConfigureAwait(false);
        foreach (var session in _sessions.Values)
        {
            session.TryClose(Time.GetUtcNow());
            await session.Sandbox.DisposeAsync().ConfigureAwait(false);
            DeleteTemporary(session.TemporaryWorkspace);
            session.Dispose();
        }

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

        // The last checkpoint covers everything recorded, down to the server's stop.
        if (_guard is not null)
        {
            await _guard.DisposeAsync().ConfigureAwait(false);
        }

        await Store.DisposeAsync().ConfigureAwait(false);
        (Backend as IDisposable)?.Dispose();
        _ownedModels?.Dispose();
        Tokens.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Cancels what runs and waits (recording how each ended); idempotent.</summary>
    public async Task<int> StopWorkAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return 0;
        }

        var cancelled = _runs.Values.Count(r => !r.IsTerminal);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await WaitForRunsAsync(_runs.Values).ConfigureAwait(false);
        await Task.WhenAll(_work.Keys).WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return cancelled;
    }

    private static async Task WaitForRunsAsync(IEnumerable<ProposalRun> runs) =>
        await Task.WhenAll(runs.Select(r => r.Terminal)).WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    private void Track(Task task)
    {
        _work[task] = 0;
        task.ContinueWith(t => _work.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void OpenBackend(RuntimeOptions options)
    {
        if (options.Unconfined)
        {
            Backend = new UnconfinedBackend(options.Warnings ?? Console.Error);
            return;
        }

        try
        {
            Backend = BubblewrapBackend.Create();
        }
        catch (SandboxUnavailableException ex)
        {
            SandboxProblem = $"{ex.Message}; install bubblewrap ('apiary doctor' says what is missing)";
        }
    }

    private static void DeleteTemporary(string? folder)
    {
        if (folder is null)
        {
            return;
        }

        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A folder left in the temp directory is harmless; the session's record is what matters.
        }
    }

    /// <summary>Loads a sandbox template; one the request named (<paramref name="explicitly"/>) that cannot be used is the request's fault (400), the agent's own a conflict (409).</summary>
    private async Task<SandboxTemplate> LoadTemplateAsync(string name, bool explicitly, CancellationToken cancellationToken)
    {
        if (name == AgentSettings.DefaultTemplate && !File.Exists(Path.Combine(Home.TemplatesDirectory, name + SandboxTemplateLoader.Extension)))
        {
            return SandboxTemplate.Default;
        }

        var result = await new SandboxTemplateLoader(Home.TemplatesDirectory, Home.Root).LoadAsync(name, cancellationToken).ConfigureAwait(false);
        return result.Template
            ?? throw new RequestRefusedException(explicitly ? Refusal.Invalid : Refusal.Conflict, "Broken template", $"sandbox template '{name}' cannot be used: {string.Join("; ", result.Diagnostics.Select(d => d.ToString()))}");
    }
}
