using Apiary.Agents;
using Apiary.Contracts;
using Apiary.Runtime.Supervision;

namespace Apiary.Runtime;

// What the supervisor asks of the runtime: who an agent's managers are, restarting a crashed run, and where to warn.
internal sealed partial class ApiaryRuntime
{
    private TextWriter _warnings = Console.Error;

    /// <summary>Every agent's lifecycle, as the supervisor follows it.</summary>
    public Supervisor Supervisor { get; private set; } = null!;

    /// <summary>Writes a warning of the server (standard error unless the options say otherwise).</summary>
    public void Warn(string message)
    {
        lock (_warnings)
        {
            _warnings.WriteLine($"apiary: warning: {message}");
        }
    }

    /// <summary>
    /// The managers of <paramref name="agent"/>: the manager that spawned it, and every manager among the agents it may
    /// message (a worker's allowed recipients name its manager). An agent that cannot be loaded has only its spawner.
    /// </summary>
    public async Task<IReadOnlyList<string>> ManagersOfAsync(string agent, CancellationToken cancellationToken)
    {
        var managers = new SortedSet<string>(StringComparer.Ordinal);
        if ((await SpawnsAsync(cancellationToken).ConfigureAwait(false)).GetValueOrDefault(agent) is { } spawned)
        {
            managers.Add(spawned.Parent);
        }

        try
        {
            foreach (var candidate in await AllowedRecipientsAsync(agent, cancellationToken).ConfigureAwait(false))
            {
                if (candidate != Operator.Value && candidate != agent
                    && await Catalog.LoadAsync(AgentName.Parse(candidate), cancellationToken: cancellationToken).ConfigureAwait(false) is { Definition.Settings.Role.Value: AgentRole.Manager })
                {
                    managers.Add(candidate);
                }
            }
        }
        catch (RequestRefusedException)
        {
            // The agent's definition is broken or gone: only its spawner (if any) is told.
        }

        return [.. managers];
    }

    /// <summary>
    /// Restarts crashed run <paramref name="crashed"/> as restart number <paramref name="attempt"/>: a new run in the same
    /// session (so its budget is the same budget), going on from the crashed run's recorded conversation with the
    /// agent's current definition.
    /// </summary>
    public async Task<AgentRun> RestartRunAsync(CrashedRun crashed, int attempt, int maxRestarts, CancellationToken cancellationToken)
    {
        if (PolicyProblem is not null)
        {
            throw new RequestRefusedException(Refusal.Unavailable, "Policies not loaded", PolicyProblem);
        }

        var agent = await LoadAgentAsync(crashed.Agent, cancellationToken).ConfigureAwait(false);
        var (recorded, conversation, fingerprint) = await LoadConversationAsync(agent, crashed.Session, crashed.Run, cancellationToken).ConfigureAwait(false);
        var s = recorded.Started;
        Apiary.Models.ModelBinding binding;
        try
        {
            binding = Models.Resolve(s.Model);
        }
        catch (Apiary.Models.ModelConfigurationException ex)
        {
            throw new RequestRefusedException(Refusal.Conflict, "Model not configured", ex.Message);
        }

        // The restart reopens the crashed run's session. When that run was this server's, its end (recorded, then its
        // session closed) may still be under way as a short backoff falls due: wait for it, or the session is still held.
        if (FindAgentRun(crashed.Run) is { } previous)
        {
            await previous.Ended.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        var by = $"apiary supervisor (restart {attempt} of {maxRestarts} after run {crashed.Run} crashed)";
        var opened = await OpenSessionAsync(new OpenSessionRequest(agent.Name.Value), by, crashed.Session, cancellationToken).ConfigureAwait(false);
        var session = FindSession(opened.Session.Id)!;
        var run = new AgentRun(Guid.NewGuid().ToString("N"), agent.Name.Value, session, binding.Reference);
        try
        {
            await RecordAsync("session-" + session.Id, ServerEventJsonContext.Event(
                ServerEventTypes.RunStarted,
                new RunStartedData(run.Id, run.Agent, session.Id, run.Model, s.MaxTurns, by, Time.GetUtcNow(), fingerprint, crashed.Run, attempt),
                ServerEventJsonContext.Default.RunStartedData,
                recorded.Task), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await CloseSessionAsync(session, by, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        Continue(run, agent, binding, conversation, s.MaxTurns);
        return run;
    }

    /// <summary>What a session's budget allows and has spent so far.</summary>
    public Apiary.Governance.Budgets.BudgetUsage SessionUsage(string session) => _ledger.Usage(Apiary.Governance.Budgets.BudgetScope.Session(session));

    /// <summary>Starts the supervisor once the runtime is open: it seeds from the log and follows it from there.</summary>
    private async Task StartSupervisorAsync(RuntimeOptions options, CancellationToken cancellationToken)
    {
        _warnings = options.Warnings ?? Console.Error;
        Supervisor = new Supervisor(this, options.Supervisor, options.SupervisorClock ?? Time);
        await Supervisor.StartAsync(cancellationToken).ConfigureAwait(false);
    }
}
