using Apiary.Home;
using Apiary.Agents;

namespace Apiary.Runtime.Manager;

/// <summary>
/// Who an agent may reach and who manages it, from the agents' definitions and the spawns on the record: what the
/// control-plane checks of governance (<see cref="ControlPlaneChecks"/>), messaging and the supervisor ask.
/// </summary>
internal sealed class AgentRelations(AgentCatalog catalog, IEventStore store)
{
    /// <summary>The agent a session acts as when the person at the terminal works through it.</summary>
    private static string Operator => RuntimeContext.Operator.Value;

    /// <summary>
    /// Whom <paramref name="agent"/> may message. Its <c>allowed_recipients</c> when it (or the home's defaults) sets
    /// them; otherwise a worker may reach the home's managers (the agents whose role is <c>manager</c>) and the
    /// operator, and a manager every agent and the operator. Null when the agent cannot be loaded.
    /// </summary>
    public async Task<IReadOnlySet<string>?> AllowedRecipientsAsync(string agent, CancellationToken cancellationToken)
    {
        if (!AgentName.TryCreate(agent, out var name, out _)
            || (await catalog.LoadAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false))?.Definition is not { } definition)
        {
            return null;
        }

        var setting = definition.Settings.AllowedRecipients;
        if (setting.Source != SettingSource.Default)
        {
            return setting.Value.ToHashSet(StringComparer.Ordinal);
        }

        var listing = await catalog.ListAsync(cancellationToken).ConfigureAwait(false);
        var isManager = definition.Settings.Role.Value == AgentRole.Manager;
        var allowed = listing.Agents
            .Where(e => e.Definition is { } d && e.Name.Value != agent && (isManager || d.Settings.Role.Value == AgentRole.Manager))
            .Select(e => e.Name.Value)
            .ToHashSet(StringComparer.Ordinal);
        allowed.Add(Operator);
        return allowed;
    }

    /// <summary>The spawns on the record: each spawned agent's parent and depth.</summary>
    public async Task<Dictionary<string, AgentSpawnedData>> SpawnsAsync(CancellationToken cancellationToken)
    {
        var spawns = new Dictionary<string, AgentSpawnedData>(StringComparer.Ordinal);
        await foreach (var e in store.ReadStreamAsync(ManagerEventTypes.SpawnStream, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (e.Type == ManagerEventTypes.AgentSpawned && JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.AgentSpawnedData) is { } spawned)
            {
                spawns[spawned.Agent] = spawned;
            }
        }

        return spawns;
    }

    /// <summary>
    /// Why <paramref name="manager"/> may not start, stop, restart or reload <paramref name="agent"/>, or null when it
    /// may: the operator may any agent; a manager one it spawned or one it may message, never itself.
    /// </summary>
    public async Task<string?> WhyNotManagedAsync(string manager, string agent, CancellationToken cancellationToken)
    {
        if (manager == Operator)
        {
            return null;
        }

        if (agent == manager)
        {
            return "a manager cannot start, stop or reload itself";
        }

        var spawns = await SpawnsAsync(cancellationToken).ConfigureAwait(false);
        if (spawns.TryGetValue(agent, out var spawned) && spawned.Parent == manager)
        {
            return null;
        }

        var reachable = await AllowedRecipientsAsync(manager, cancellationToken).ConfigureAwait(false);
        return reachable?.Contains(agent) == true ? null : $"agent '{agent}' is not one '{manager}' manages (one it spawned or may message)";
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

        foreach (var candidate in await AllowedRecipientsAsync(agent, cancellationToken).ConfigureAwait(false) ?? new HashSet<string>())
        {
            if (candidate != Operator && candidate != agent
                && await catalog.LoadAsync(AgentName.Parse(candidate), cancellationToken: cancellationToken).ConfigureAwait(false) is { Definition.Settings.Role.Value: AgentRole.Manager })
            {
                managers.Add(candidate);
            }
        }

        return [.. managers];
    }
}
