using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Apiary.Agents;
using Apiary.Contracts;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Pipeline;
using Apiary.IO;
using Apiary.Runtime.Manager;
using Apiary.Runtime.Messaging;
using Microsoft.Extensions.AI;
using Apiary.Configuration;

namespace Apiary.Runtime;

// The manager's tools: spawning an agent from a draft (checked by the control plane so it cannot widen, then a
// spawn_agent proposal a person approves with the diff), and starting, stopping, restarting and reloading agents.
internal sealed partial class ApiaryRuntime
{
    /// <summary>How deep spawns may nest: a manager the operator made is depth 0, its children depth 1, and so on.</summary>
    public const int MaxSpawnDepth = 2;

    /// <summary>The most agents one manager may have spawned (that still exist).</summary>
    public const int MaxChildrenPerManager = 5;

    /// <summary>The share of each of the manager's remaining session budget figures a child's budget may have.</summary>
    public const decimal ChildBudgetShare = 0.5m;

    /// <summary>The most files of a draft, and the most characters of one file.</summary>
    private const int MaxDraftFiles = 32;

    private const int MaxDraftFileChars = 64 * 1024;

    /// <summary>The task each agent was last started with by a manager, for <c>restart</c>.</summary>
    private readonly ConcurrentDictionary<string, string> _lastTasks = new(StringComparer.Ordinal);

    /// <summary>
    /// Runs a manager tool call of <paramref name="run"/> and returns what the model is told; null when
    /// <paramref name="call"/> is not a manager tool. An agent whose role is not manager is told it may not.
    /// </summary>
    public async Task<string?> CallManagerToolAsync(AgentRun run, FunctionCallContent call, CancellationToken cancellationToken)
    {
        if (!ManagerTools.Handles(call.Name))
        {
            return null;
        }

        if (run.Session.Principal.Role != AgentRole.Manager)
        {
            return $"not allowed: {call.Name} is a manager's tool and agent '{run.Agent}' is a {run.Session.Principal.Role.ToString().ToLowerInvariant()}; ask your manager instead. Nothing was done";
        }

        try
        {
            switch (call.Name)
            {
                case ManagerTools.RequestSpawn:
                {
                    var args = AgentTools.Arguments(call, "name", "from_draft");
                    return await RequestSpawnAsync(run, args.RequiredString("name"), args.RequiredString("from_draft"), cancellationToken).ConfigureAwait(false);
                }

                case ManagerTools.Start:
                {
                    var args = AgentTools.Arguments(call, "agent", "task");
                    return await StartManagedAsync(run, args.RequiredString("agent"), args.RequiredString("task"), cancellationToken).ConfigureAwait(false);
                }

                case ManagerTools.Stop:
                {
                    var args = AgentTools.Arguments(call, "agent");
                    var agent = await CheckManagedAsync(run, args.RequiredString("agent"), cancellationToken).ConfigureAwait(false);
                    var stopped = await StopManagedAsync(run, agent).ConfigureAwait(false);
                    return stopped == 0 ? $"agent '{agent}' has no run to stop" : $"stopped {stopped} run(s) of agent '{agent}'";
                }

                case ManagerTools.Restart:
                {
                    var args = AgentTools.Arguments(call, "agent", "task");
                    var agent = await CheckManagedAsync(run, args.RequiredString("agent"), cancellationToken).ConfigureAwait(false);
                    var task = args.OptionalString("task") is { Length: > 0 } given ? given
                        : _lastTasks.GetValueOrDefault(agent) ?? throw new ArgumentException($"there is no earlier task of agent '{agent}' to restart it with; give 'task'");
                    var stopped = await StopManagedAsync(run, agent).ConfigureAwait(false);
                    var started = await StartManagedAsync(run, agent, task, cancellationToken).ConfigureAwait(false);
                    return $"stopped {stopped} run(s); {started}";
                }

                default:
                {
                    var args = AgentTools.Arguments(call, "agent");
                    var agent = await CheckManagedAsync(run, args.RequiredString("agent"), cancellationToken).ConfigureAwait(false);
                    return await UpdateAgentAsync(agent, $"agent {run.Agent} (run {run.Id})", cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (ArgumentException ex)
        {
            return $"error: {ex.Message}; nothing was done";
        }
        catch (RequestRefusedException ex)
        {
            return $"error: {ex.Message}; nothing was done";
        }
    }

    /// <summary>
    /// Reloads an agent's definition from its files and composes its prompt: idempotent. It is <c>rebuilding</c>
    /// meanwhile (recorded, so the supervisor shows it); its runs going on now take the new prompt from their next model
    /// call, and the agent is no longer <c>needs-update</c>.
    /// </summary>
    public async Task<string> UpdateAgentAsync(string agent, string by, CancellationToken cancellationToken)
    {
        var stream = Supervision.LifecycleEventTypes.AgentStream(agent);
        await RecordAsync(stream, Rebuild(Supervision.LifecycleEventTypes.Rebuilding, new(agent, by, null, null, null, Time.GetUtcNow())), cancellationToken).ConfigureAwait(false);
        string? fingerprint = null;
        List<string>? reloaded = null;
        var summary = "the reload was interrupted";
        try
        {
            var definition = await LoadAgentAsync(agent, cancellationToken).ConfigureAwait(false);
            var prompt = await Catalog.ComposePromptAsync(definition, cancellationToken: cancellationToken).ConfigureAwait(false);
            reloaded = [];
            foreach (var run in _agentRuns.Values.Where(r => r.Agent == agent && !r.Ended.IsCompleted))
            {
                run.Reload(prompt.Text);
                reloaded.Add(run.Id);
            }

            summary = $"{definition.Settings.Role.Value.ToString().ToLowerInvariant()}, model {definition.Settings.Model.Value ?? "the default"}, prompt of {prompt.Text.Length.ToString(CultureInfo.InvariantCulture)} characters";
            fingerprint = Supervision.AgentFingerprint.Of(definition.Directory).Value;
        }
        catch (RequestRefusedException ex)
        {
            summary = ex.Message;
        }
        finally
        {
            // Recorded whatever happened, so the agent does not stay rebuilding.
            await RecordAsync(stream, Rebuild(Supervision.LifecycleEventTypes.Rebuilt, new(agent, by, fingerprint, reloaded, summary, Time.GetUtcNow())), CancellationToken.None).ConfigureAwait(false);
        }

        if (fingerprint is null)
        {
            throw new RequestRefusedException(Refusal.Conflict, "Broken agent", summary);
        }

        return $"rebuilt: agent '{agent}' loads ({summary}); " + (reloaded!.Count > 0
            ? $"its run{(reloaded.Count == 1 ? "" : "s")} {string.Join(", ", reloaded)} use{(reloaded.Count == 1 ? "s" : "")} the new definition from the next model call"
            : "its next run uses this definition");

        static Events.EventData Rebuild(string type, Supervision.RebuildData data) =>
            new(type, JsonSerializer.SerializeToUtf8Bytes(data, Supervision.LifecycleEventJsonContext.Default.RebuildData));
    }

    /// <summary>The spawns on the record: each spawned agent's parent and depth.</summary>
    public async Task<Dictionary<string, AgentSpawnedData>> SpawnsAsync(CancellationToken cancellationToken)
    {
        var spawns = new Dictionary<string, AgentSpawnedData>(StringComparer.Ordinal);
        await foreach (var e in Store.ReadStreamAsync(ManagerEventTypes.SpawnStream, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (e.Type == ManagerEventTypes.AgentSpawned && JsonSerializer.Deserialize(e.Data.Span, ManagerEventJsonContext.Default.AgentSpawnedData) is { } spawned)
            {
                spawns[spawned.Agent] = spawned;
            }
        }

        return spawns;
    }

    private async Task<string> StartManagedAsync(AgentRun run, string raw, string task, CancellationToken cancellationToken)
    {
        var agent = await CheckManagedAsync(run, raw, cancellationToken).ConfigureAwait(false);
        var started = await StartRunAsync(agent, new StartRunRequest(task), $"agent {run.Agent} (run {run.Id})", cancellationToken).ConfigureAwait(false);
        _lastTasks[agent] = task;
        return $"started: run {started.Id} of agent '{agent}' in session {started.Session.Id}; it works on its own: use send and recv to talk to it";
    }

    private async Task<int> StopManagedAsync(AgentRun run, string agent)
    {
        var stopped = 0;
        foreach (var target in _agentRuns.Values.Where(r => r.Agent == agent && !r.Ended.IsCompleted).ToList())
        {
            await Pipeline.EngageKillSwitchAsync(KillSwitchScope.Session(target.Session.Id), $"stopped by manager '{run.Agent}'", $"agent {run.Agent}", CancellationToken.None).ConfigureAwait(false);
            await target.Ended.WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            stopped++;
        }

        return stopped;
    }

    /// <summary>The agent a manager may start, stop or reload: one it spawned or one it may message; never itself or the operator.</summary>
    private async Task<string> CheckManagedAsync(AgentRun run, string raw, CancellationToken cancellationToken)
    {
        var definition = await LoadAgentAsync(raw, cancellationToken).ConfigureAwait(false);
        var agent = definition.Name.Value;
        if (agent == run.Agent)
        {
            throw new ArgumentException("a manager cannot start, stop or reload itself");
        }

        var spawns = await SpawnsAsync(cancellationToken).ConfigureAwait(false);
        if (spawns.TryGetValue(agent, out var spawned) && spawned.Parent == run.Agent)
        {
            return agent;
        }

        var reachable = await AllowedRecipientsAsync(run.Agent, cancellationToken).ConfigureAwait(false);
        return reachable.Contains(agent)
            ? agent
            : throw new ArgumentException($"agent '{agent}' is not one you manage (one you spawned or may message)");
    }

    private async Task<string> RequestSpawnAsync(AgentRun run, string rawName, string draft, CancellationToken cancellationToken)
    {
        var session = run.Session;
        if (!AgentName.TryCreate(rawName, out var name, out var nameError))
        {
            throw new ArgumentException($"'{rawName}' is not a valid agent name: {nameError.Message}");
        }

        var manager = await LoadAgentAsync(run.Agent, cancellationToken).ConfigureAwait(false);
        var files = ReadDraft(session.Workspace, draft);
        var refusal = await CheckDraftAsync(run, manager, name, files, cancellationToken).ConfigureAwait(false);
        var spawns = await SpawnsAsync(cancellationToken).ConfigureAwait(false);
        var depth = (spawns.GetValueOrDefault(run.Agent)?.Depth ?? 0) + 1;
        var folder = Catalog.FolderOf(name);
        var exists = Directory.Exists(folder);
        refusal ??= exists && (!spawns.TryGetValue(name.Value, out var earlier) || earlier.Parent != run.Agent)
            ? $"agent '{name}' already exists and was not spawned by you; choose another name"
            : depth > MaxSpawnDepth
                ? $"spawn depth limit: '{run.Agent}' is at depth {depth - 1}, and spawned agents may nest at most {MaxSpawnDepth} deep"
                : !exists && spawns.Values.Count(s => s.Parent == run.Agent && Directory.Exists(Catalog.FolderOf(AgentName.Parse(s.Agent)))) >= MaxChildrenPerManager
                    ? $"children limit: '{run.Agent}' has spawned {MaxChildrenPerManager} agents already, the most a manager may have"
                    : null;
        if (refusal is not null)
        {
            await RecordAsync("session-" + session.Id, new Events.EventData(
                ManagerEventTypes.SpawnRefused,
                JsonSerializer.SerializeToUtf8Bytes(new SpawnRefusedData(name.Value, run.Agent, session.Id, refusal, Time.GetUtcNow()), ManagerEventJsonContext.Default.SpawnRefusedData)), cancellationToken).ConfigureAwait(false);
            return $"refused: {refusal}. Nothing was created";
        }

        var before = exists ? ReadFolder(folder) : new Dictionary<string, string>(StringComparer.Ordinal);
        var diff = UnifiedDiff.Of($"agents/{name}", before, files);
        var proposal = Proposal.Create(session.Principal, ProposalKind.SpawnAgent, session.Workspace, new ProposalArguments
        {
            Path = draft,
            Other = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["agent"] = name.Value,
                ["depth"] = depth.ToString(CultureInfo.InvariantCulture),
                ["diff"] = diff.Length == 0 ? "(no change)" : diff,
            },
        });
        var admission = await AdmitAsync(run, ManagerTools.RequestSpawn, proposal, "nothing was created", cancellationToken).ConfigureAwait(false);
        if (admission.Allowed is not { } admitted)
        {
            return admission.Refusal!;
        }

        var ticketId = admission.TicketId;

        // What is written is what the person approved: the snapshot the diff was made from, not the draft as it is now.
        var clock = Stopwatch.StartNew();
        try
        {
            await WriteAgentFolderAsync(folder, files).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            await Pipeline.CompleteAsync(admitted, new ProposalOutcome(null, "error", clock.Elapsed, ex.Message), new BudgetAmounts(0, clock.Elapsed, 0, 0m), CancellationToken.None).ConfigureAwait(false);
            return $"error: the agent's folder could not be written: {ex.Message}";
        }

        await RecordAsync(ManagerEventTypes.SpawnStream, new Events.EventData(
            ManagerEventTypes.AgentSpawned,
            JsonSerializer.SerializeToUtf8Bytes(
                new AgentSpawnedData(name.Value, run.Agent, depth, session.Id, proposal.Id.ToString(), ticketId, [.. files.Keys.Order(StringComparer.Ordinal)], exists, Time.GetUtcNow()),
                ManagerEventJsonContext.Default.AgentSpawnedData)), CancellationToken.None).ConfigureAwait(false);
        await Pipeline.CompleteAsync(admitted, new ProposalOutcome(0, "spawned", clock.Elapsed, $"agent {name} written to {folder} ({files.Count} files)"), new BudgetAmounts(0, clock.Elapsed, 0, 0m), CancellationToken.None).ConfigureAwait(false);
        return $"spawned: agent '{name}' ({(exists ? "updated" : "created")}, depth {depth}); start it with start";
    }

    /// <summary>Why the draft may not become an agent, or null when it may: it must load, and it may not widen what the manager has.</summary>
    private async Task<string?> CheckDraftAsync(AgentRun run, AgentDefinition manager, AgentName name, Dictionary<string, string> files, CancellationToken cancellationToken)
    {
        if (!files.TryGetValue("AGENTS.md", out var agentsMd))
        {
            return "the draft has no AGENTS.md";
        }

        var parsed = AgentManifestParser.Parse(agentsMd, "AGENTS.md");
        if (parsed.Manifest is not { } manifest || parsed.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error))
        {
            return "the draft's AGENTS.md has errors: " + string.Join("; ", parsed.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()));
        }

        if (manifest.Workspace is not null)
        {
            return "the draft sets 'workspace'; a spawned agent works in its own default workspace";
        }

        var child = AgentSettings.Resolve(manifest, Config.Defaults, AgentOverrides.None);
        var mine = manager.Settings;
        if (child.Role.Value != AgentRole.Worker)
        {
            return $"the draft's role is {child.Role.Value.ToString().ToLowerInvariant()}; a spawned agent is a worker";
        }

        if (child.Template.Value != mine.Template.Value)
        {
            return $"the draft's sandbox template is '{child.Template.Value}'; a spawned agent uses its manager's ('{mine.Template.Value}')";
        }

        if (child.Policies.Value.Except(mine.Policies.Value, StringComparer.Ordinal).ToList() is [_, ..] extraPolicies)
        {
            return $"the draft widens its policies: {string.Join(", ", extraPolicies)} {(extraPolicies.Count == 1 ? "is" : "are")} not among the manager's ({string.Join(", ", mine.Policies.Value)})";
        }

        var reachable = (await AllowedRecipientsAsync(run.Agent, cancellationToken).ConfigureAwait(false)).Append(run.Agent).ToHashSet(StringComparer.Ordinal);
        if (child.AllowedRecipients.Source != SettingSource.Default
            && child.AllowedRecipients.Value.Where(r => !reachable.Contains(r) && r != name.Value).ToList() is [_, ..] extraRecipients)
        {
            return $"the draft widens its allowed_recipients: {string.Join(", ", extraRecipients)} {(extraRecipients.Count == 1 ? "is" : "are")} not among the manager's or the manager itself";
        }

        var usage = _ledger.Usage(BudgetScope.Session(run.Session.Id));
        var (limits, used) = (usage.Limits, usage.Used);
        var over = new List<string>();
        if (limits.Commands is { } commands && child.Commands.Value > Share(commands - used.Commands))
        {
            over.Add(string.Create(CultureInfo.InvariantCulture, $"commands {child.Commands.Value} > {Share(commands - used.Commands)}"));
        }

        if (limits.WallTime is { } wall && child.WallTime.Value > (wall - used.WallTime) * (double)ChildBudgetShare)
        {
            over.Add(string.Create(CultureInfo.InvariantCulture, $"wall_time {child.WallTime.Value} > {(wall - used.WallTime) * (double)ChildBudgetShare}"));
        }

        if (limits.Tokens is { } tokens && child.Tokens.Value > Share(tokens - used.Tokens))
        {
            over.Add(string.Create(CultureInfo.InvariantCulture, $"tokens {child.Tokens.Value} > {Share(tokens - used.Tokens)}"));
        }

        if (limits.Cost is { } cost && child.CostUsd.Value > decimal.Round((cost - used.Cost) * ChildBudgetShare, 4))
        {
            over.Add(string.Create(CultureInfo.InvariantCulture, $"cost_usd {child.CostUsd.Value} > {decimal.Round((cost - used.Cost) * ChildBudgetShare, 4)}"));
        }

        return over.Count == 0
            ? null
            : $"the draft widens its budget: {string.Join(", ", over)} (a spawned agent gets at most {(ChildBudgetShare * 100).ToString("0", CultureInfo.InvariantCulture)}% of what the manager's session has left; set 'budget:' in its AGENTS.md)";

        static long Share(long remaining) => (long)Math.Floor(Math.Max(0, remaining) * ChildBudgetShare);
    }

    /// <summary>The draft's text files, by path relative to the draft; it must be a folder inside the workspace, without links.</summary>
    private static Dictionary<string, string> ReadDraft(string workspace, string draft)
    {
        var root = Path.GetFullPath(Path.Combine(workspace, draft));
        var inside = Path.GetFullPath(workspace).TrimEnd('/') + "/";
        if (!root.StartsWith(inside, StringComparison.Ordinal))
        {
            throw new ArgumentException($"the draft '{draft}' is outside your workspace");
        }

        if (!Directory.Exists(root))
        {
            throw new ArgumentException($"there is no draft folder '{draft}' in your workspace");
        }

        var files = ReadFolder(root);
        return files.Count == 0 ? throw new ArgumentException($"the draft folder '{draft}' is empty") : files;
    }

    /// <summary>The text files of an agent folder or draft, skipping its workspace and its state.</summary>
    private static Dictionary<string, string> ReadFolder(string root)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        var queue = new Queue<string>([root]);
        while (queue.TryDequeue(out var folder))
        {
            foreach (var entry in new DirectoryInfo(folder).EnumerateFileSystemInfos())
            {
                var relative = Path.GetRelativePath(root, entry.FullName).Replace('\\', '/');
                if (relative is "workspace" or ".state")
                {
                    continue;
                }

                if (entry.LinkTarget is not null)
                {
                    throw new ArgumentException($"'{relative}' is a symbolic link; a draft holds plain files only");
                }

                if (entry is DirectoryInfo)
                {
                    queue.Enqueue(entry.FullName);
                    continue;
                }

                if (files.Count >= MaxDraftFiles)
                {
                    throw new ArgumentException($"the folder has more than {MaxDraftFiles} files");
                }

                var text = File.ReadAllText(entry.FullName, Encoding.UTF8);
                files[relative] = text.Length <= MaxDraftFileChars ? text : throw new ArgumentException($"'{relative}' has more than {MaxDraftFileChars} characters");
            }
        }

        return files;
    }

    private static async Task WriteAgentFolderAsync(string folder, Dictionary<string, string> files)
    {
        foreach (var (relative, text) in files)
        {
            var path = Path.Combine(folder, relative);
            OwnerOnly.CreateDirectory(Path.GetDirectoryName(path)!);
            await OwnerOnly.WriteAllBytesAsync(path, new UTF8Encoding(false).GetBytes(text)).ConfigureAwait(false);
        }
    }
}
