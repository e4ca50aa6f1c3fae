using System.Collections.Concurrent;
using Apiary.Agents;
using Apiary.Governance.Budgets;
using Apiary.Home;
using Apiary.Sandbox;
using Apiary.Sandbox.Templates;

namespace Apiary.Runtime;

/// <summary>
/// The sessions of the runtime: each one principal (an agent of the home, or the operator), one sandbox over its
/// workspace, one budget and one token. Opening and closing are recorded; closing waits for what runs in it.
/// </summary>
internal sealed class SessionHost(RuntimeContext context, ISandboxBackend? backend, string? sandboxProblem) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ApiSession> _sessions = new(StringComparer.Ordinal);

    /// <summary>The sandbox backend sessions open in; null when there is none (see <see cref="SandboxProblem"/>).</summary>
    public ISandboxBackend? Backend { get; } = backend;

    /// <summary>Why there is no sandbox backend, when there is none.</summary>
    public string? SandboxProblem { get; } = sandboxProblem;

    /// <summary>The open sessions of this runtime, oldest first; a closed one leaves memory (its record is in the log).</summary>
    public IEnumerable<ApiSession> All => _sessions.Values.OrderBy(s => s.OpenedAt);

    /// <summary>The open session <paramref name="id"/> of this runtime; null for any other (see <see cref="DescribeAsync"/>).</summary>
    public ApiSession? Find(string id) => _sessions.GetValueOrDefault(id);

    /// <summary>
    /// The session <paramref name="id"/>: open in this runtime, or as the log has it: <c>closed</c>, <c>open</c> (held
    /// by another live process on the home, such as an <c>apiary exec</c>), or <c>orphaned</c> (opened by a process
    /// that ended without closing it). Null when the log has no such session.
    /// </summary>
    public async Task<SessionDto?> DescribeAsync(string id, CancellationToken cancellationToken)
    {
        if (Find(id) is { } live)
        {
            return live.ToDto();
        }

        SessionEventData? opened = null, closed = null;
        var orphaned = false;
        await foreach (var e in context.Store.ReadStreamAsync("session-" + id, 1, cancellationToken).ConfigureAwait(false))
        {
            switch (e.Type)
            {
                case ServerEventTypes.SessionOpened:
                    opened ??= JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.SessionEventData);
                    closed = null;
                    break;
                case ServerEventTypes.SessionClosed:
                    (closed, orphaned) = (JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.SessionEventData), false);
                    break;
                case ServerEventTypes.SessionOrphaned:
                    (closed, orphaned) = (JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.SessionEventData), true);
                    break;
            }
        }

        if (opened is null)
        {
            return null;
        }

        var state = closed is not null ? orphaned ? "orphaned" : "closed" : LiveSessions.Of(context.Home).IsAlive(id) ? "open" : "orphaned";
        return new SessionDto(id, opened.Agent, state, opened.Workspace ?? "", opened.At, closed?.At);
    }

    /// <summary>
    /// Opens a session as <see cref="OpenSessionRequest.Agent"/>: its sandbox over its workspace (or the one asked for),
    /// its budget, a token. The agent <c>operator</c> is the person at the terminal: a manager with no budget beyond what
    /// the policies allow, working in the folder asked for or in a new empty one removed when the session closes. With
    /// <paramref name="sessionId"/>, under that id again (a resumed run's session, so its approval tickets, budget and
    /// record stay its own).
    /// </summary>
    public async Task<(ApiSession Session, string Token)> OpenAsync(OpenSessionRequest request, string by, string? sessionId, CancellationToken cancellationToken)
    {
        var sandboxes = Backend ?? throw new RequestRefusedException(Refusal.Unavailable, "No sandbox", $"sessions cannot open: {SandboxProblem}");
        var asOperator = request.Agent == RuntimeContext.Operator.Value;
        var agent = asOperator ? null : await context.LoadAgentAsync(request.Agent, cancellationToken).ConfigureAwait(false);
        var workspace = WorkspaceOf(request, agent);
        var template = await LoadTemplateAsync(request.Template ?? agent?.Settings.Template.Value ?? AgentSettings.DefaultTemplate, explicitly: request.Template is not null, cancellationToken).ConfigureAwait(false);
        var id = sessionId ?? Guid.NewGuid().ToString("N");
        var principal = agent is null ? new Principal(RuntimeContext.Operator, AgentRole.Manager, id) : new Principal(agent.Name, agent.Settings.Role.Value, id);
        if (agent is not null)
        {
            context.Ledger.SetLimits(BudgetScope.Session(id), new BudgetLimits(agent.Settings.Commands.Value, agent.Settings.WallTime.Value, agent.Settings.Tokens.Value, agent.Settings.CostUsd.Value));
        }

        var temporary = workspace is null ? Directory.CreateTempSubdirectory("apiary-session-").FullName : null;
        workspace ??= temporary!;
        var alive = LiveSessions.Of(context.Home).Hold(id);
        ISandboxSession sandbox;
        try
        {
            // The store is always given: a command may ask for secrets by name (exec 'secrets'), and the template may too.
            sandbox = await sandboxes.OpenSessionAsync(
                new SandboxSessionOptions { Workspace = workspace, Template = template, Secrets = context.Secrets, Id = id },
                cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            alive.Dispose();
            DeleteTemporary(temporary);
            throw;
        }

        var session = new ApiSession(principal, sandbox, template, alive, context.Time.GetUtcNow(), temporary);
        try
        {
            await context.RecordAsync("session-" + id, RuntimeJsonContext.Event(
                ServerEventTypes.SessionOpened,
                new SessionEventData(id, session.AgentName, session.Workspace, by, session.OpenedAt),
                RuntimeJsonContext.Default.SessionEventData), cancellationToken).ConfigureAwait(false);
            var token = await context.Tokens.IssueSessionAsync(session.AgentName, id, cancellationToken).ConfigureAwait(false);
            _sessions[id] = session;
            return (session, token);
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
    public async Task<SessionDto> CloseAsync(ApiSession session, string by, CancellationToken cancellationToken)
    {
        if (session.TryClose(context.Time.GetUtcNow()))
        {
            await ProposalRun.WaitForAllAsync(session.Proposals).ConfigureAwait(false);
            await session.Sandbox.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            await session.Sandbox.DisposeAsync().ConfigureAwait(false);
            await context.Tokens.RevokeSessionAsync(session.Id, CancellationToken.None).ConfigureAwait(false);
            session.ReleaseLiveMark();
            DeleteTemporary(session.TemporaryWorkspace);
            try
            {
                await context.RecordAsync("session-" + session.Id, RuntimeJsonContext.Event(
                    ServerEventTypes.SessionClosed,
                    new SessionEventData(session.Id, session.AgentName, session.Workspace, by, session.ClosedAt!.Value),
                    RuntimeJsonContext.Default.SessionEventData), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                // Closed, it leaves memory: its record is in the log, and what ended in it a moment ago is kept with its runs.
                _sessions.TryRemove(session.Id, out _);
            }
        }

        return session.ToDto();
    }

    /// <summary>
    /// Records as orphaned (<c>session.orphaned</c>) every session of the log that was opened and never closed, and that
    /// no live process holds: a process that held it ended without closing it (killed, crashed). Called once this
    /// runtime has taken up what it resumes (runs' sessions, tickets' sessions), which it holds. Returns how many.
    /// </summary>
    public async Task<int> RecordOrphansAsync(CancellationToken cancellationToken)
    {
        var open = new Dictionary<string, SessionEventData>(StringComparer.Ordinal);
        foreach (var type in (string[])[ServerEventTypes.SessionOpened, ServerEventTypes.SessionClosed, ServerEventTypes.SessionOrphaned])
        {
            foreach (var e in await context.Store.FindAsync(type, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                if (JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.SessionEventData) is not { } data)
                {
                    continue;
                }

                if (type == ServerEventTypes.SessionOpened)
                {
                    open.TryAdd(data.Session, data);
                }
                else
                {
                    open.Remove(data.Session);
                }
            }
        }

        var alive = LiveSessions.Of(context.Home);
        var orphans = open.Values.Where(s => Find(s.Session) is null && !alive.IsAlive(s.Session)).ToList();
        foreach (var orphan in orphans)
        {
            await context.RecordAsync("session-" + orphan.Session, RuntimeJsonContext.Event(
                ServerEventTypes.SessionOrphaned,
                new SessionEventData(orphan.Session, orphan.Agent, orphan.Workspace, "apiary server (the process that held it ended without closing it)", context.Time.GetUtcNow()),
                RuntimeJsonContext.Default.SessionEventData), cancellationToken).ConfigureAwait(false);
        }

        return orphans.Count;
    }

    /// <summary>Lets go of every session's sandbox without recording (the runtime stops; a restart resumes what was open).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var session in _sessions.Values)
        {
            session.TryClose(context.Time.GetUtcNow());
            await session.Sandbox.DisposeAsync().ConfigureAwait(false);
            DeleteTemporary(session.TemporaryWorkspace);
            session.Dispose();
        }

        (Backend as IDisposable)?.Dispose();
    }

    private string? WorkspaceOf(OpenSessionRequest request, AgentDefinition? agent)
    {
        if (request.Workspace is not null)
        {
            var check = WorkspaceGuard.Validate(request.Workspace, context.Home.UserHome, context.Home.Root);
            var workspace = check.Path ?? throw new RequestRefusedException(Refusal.Invalid, "Invalid workspace", check.Reason!);
            return Directory.Exists(workspace)
                ? workspace
                : throw new RequestRefusedException(Refusal.Invalid, "Workspace missing", $"the workspace {workspace} does not exist; create it first");
        }

        if (agent is null)
        {
            return null;
        }

        var own = agent.Workspace.Path;
        if (!Directory.Exists(own))
        {
            if (!agent.Workspace.IsDefault)
            {
                throw new RequestRefusedException(Refusal.Conflict, "Workspace missing", $"the workspace {own} of agent '{agent.Name}' does not exist; create it or change 'workspace:' in its AGENTS.md");
            }

            WorkspaceGuard.EnsureDefault(agent.Directory);
        }

        return own;
    }

    /// <summary>Loads a sandbox template; one the request named (<paramref name="explicitly"/>) that cannot be used is the request's fault (400), the agent's own a conflict (409).</summary>
    private async Task<SandboxTemplate> LoadTemplateAsync(string name, bool explicitly, CancellationToken cancellationToken)
    {
        if (name == AgentSettings.DefaultTemplate && !File.Exists(Path.Combine(context.Home.TemplatesDirectory, name + SandboxTemplateLoader.Extension)))
        {
            return SandboxTemplate.Default;
        }

        var result = await new SandboxTemplateLoader(context.Home.TemplatesDirectory, context.Home.Root).LoadAsync(name, cancellationToken).ConfigureAwait(false);
        return result.Template
            ?? throw new RequestRefusedException(explicitly ? Refusal.Invalid : Refusal.Conflict, "Broken template", $"sandbox template '{name}' cannot be used: {string.Join("; ", result.Diagnostics.Select(d => d.ToString()))}");
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
}
