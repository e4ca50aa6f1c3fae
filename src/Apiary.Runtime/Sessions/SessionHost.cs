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

    public IEnumerable<ApiSession> All => _sessions.Values.OrderBy(s => s.OpenedAt);

    public ApiSession? Find(string id) => _sessions.GetValueOrDefault(id);

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
            await context.RecordAsync("session-" + session.Id, RuntimeJsonContext.Event(
                ServerEventTypes.SessionClosed,
                new SessionEventData(session.Id, session.AgentName, session.Workspace, by, session.ClosedAt!.Value),
                RuntimeJsonContext.Default.SessionEventData), cancellationToken).ConfigureAwait(false);
        }

        return session.ToDto();
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
