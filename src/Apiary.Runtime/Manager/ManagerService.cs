using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Apiary.Agents;
using Apiary.Configuration;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.IO;

namespace Apiary.Runtime.Manager;

/// <summary>
/// What a manager does to other agents: spawning one from a draft (checked so it cannot widen what the manager has,
/// then a <c>spawn_agent</c> proposal a person approves with the diff), and starting, stopping, restarting and
/// reloading agents, each a proposal of its kind (<c>start_agent</c>, <c>stop_agent</c>, <c>restart_agent</c>,
/// <c>update_agent</c>) through the one executor. That only a manager may, and only for agents it manages, is decided
/// there: by the built-in rule <c>manager-role</c> and the <c>managed-agent</c> evaluator.
/// </summary>
internal sealed class ManagerService(RuntimeContext context, GovernedExecutor executor, RunService runs, AgentRelations relations)
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

    /// <summary>The spawns on the record: each spawned agent's parent and depth.</summary>
    public Task<Dictionary<string, AgentSpawnedData>> SpawnsAsync(CancellationToken cancellationToken) => relations.SpawnsAsync(cancellationToken);

    /// <summary>The managers of <paramref name="agent"/> (see <see cref="AgentRelations.ManagersOfAsync"/>).</summary>
    public Task<IReadOnlyList<string>> ManagersOfAsync(string agent, CancellationToken cancellationToken) => relations.ManagersOfAsync(agent, cancellationToken);

    /// <summary>
    /// Reloads an agent's definition from its files and composes its prompt: idempotent. It is <c>rebuilding</c>
    /// meanwhile (recorded, so the supervisor shows it); its runs going on now take the new prompt from their next model
    /// call, and the agent is no longer <c>needs-update</c>.
    /// </summary>
    public async Task<string> UpdateAgentAsync(string agent, string by, CancellationToken cancellationToken)
    {
        var stream = Supervision.LifecycleEventTypes.AgentStream(agent);
        await context.RecordAsync(stream, Rebuild(Supervision.LifecycleEventTypes.Rebuilding, new(agent, by, null, null, null, context.Time.GetUtcNow())), cancellationToken).ConfigureAwait(false);
        string? fingerprint = null;
        List<string>? reloaded = null;
        var summary = "the reload was interrupted";
        try
        {
            var definition = await context.LoadAgentAsync(agent, cancellationToken).ConfigureAwait(false);
            var prompt = await context.Catalog.ComposePromptAsync(definition, cancellationToken: cancellationToken).ConfigureAwait(false);
            reloaded = [];
            foreach (var run in runs.AgentRuns.Where(r => r.Agent == agent && !r.Ended.IsCompleted))
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
            await context.RecordAsync(stream, Rebuild(Supervision.LifecycleEventTypes.Rebuilt, new(agent, by, fingerprint, reloaded, summary, context.Time.GetUtcNow())), CancellationToken.None).ConfigureAwait(false);
        }

        if (fingerprint is null)
        {
            throw new RequestRefusedException(Refusal.Conflict, "Broken agent", summary);
        }

        return $"rebuilt: agent '{agent}' loads ({summary}); " + (reloaded!.Count > 0
            ? $"its run{(reloaded.Count == 1 ? "" : "s")} {string.Join(", ", reloaded)} use{(reloaded.Count == 1 ? "s" : "")} the new definition from the next model call"
            : "its next run uses this definition");

        static Events.EventData Rebuild(string type, Supervision.RebuildData data) =>
            new(type, JsonSerializer.SerializeToUtf8Bytes(data, RuntimeJsonContext.Default.RebuildData));
    }

    /// <summary>Starts <paramref name="agent"/> on <paramref name="task"/> for <paramref name="call"/>'s manager, as a <c>start_agent</c> proposal.</summary>
    public Task<string> StartAsync(ToolCall call, string agent, string task, CancellationToken cancellationToken) =>
        GovernAsync(call, ProposalKind.StartAgent, agent, task, "started", ct => StartManagedAsync(call.Run, agent, task, ct), cancellationToken);

    /// <summary>Stops every run of <paramref name="agent"/>, as a <c>stop_agent</c> proposal: the kill switch of each run's session is engaged.</summary>
    public Task<string> StopAsync(ToolCall call, string agent, CancellationToken cancellationToken) =>
        GovernAsync(call, ProposalKind.StopAgent, agent, null, "stopped", async _ =>
        {
            var stopped = await StopManagedAsync(call.Run, agent).ConfigureAwait(false);
            return stopped == 0 ? $"agent '{agent}' has no run to stop" : $"stopped {stopped} run(s) of agent '{agent}'";
        }, cancellationToken);

    /// <summary>Stops <paramref name="agent"/>'s runs and starts it again, as a <c>restart_agent</c> proposal.</summary>
    public Task<string> RestartAsync(ToolCall call, string agent, string? task, CancellationToken cancellationToken)
    {
        var again = task is { Length: > 0 } given ? given
            : _lastTasks.GetValueOrDefault(agent) ?? throw new ArgumentException($"there is no earlier task of agent '{agent}' to restart it with; give 'task'");
        return GovernAsync(call, ProposalKind.RestartAgent, agent, again, "restarted", async ct =>
        {
            var stopped = await StopManagedAsync(call.Run, agent).ConfigureAwait(false);
            var started = await StartManagedAsync(call.Run, agent, again, ct).ConfigureAwait(false);
            return $"stopped {stopped} run(s); {started}";
        }, cancellationToken);
    }

    /// <summary>Reloads <paramref name="agent"/>'s definition for <paramref name="call"/>'s manager, as an <c>update_agent</c> proposal.</summary>
    public Task<string> UpdateAsync(ToolCall call, string agent, CancellationToken cancellationToken) =>
        GovernAsync(call, ProposalKind.UpdateAgent, agent, null, "rebuilt", ct => UpdateAgentAsync(agent, $"agent {call.Run.Agent} (run {call.Run.Id})", ct), cancellationToken);

    /// <summary>
    /// Spawns agent <paramref name="rawName"/> from the draft folder <paramref name="draft"/> of the manager's
    /// workspace: the draft must load and may not widen what the manager has; the <c>spawn_agent</c> proposal carries
    /// the diff of the agent's files, and what is written is the snapshot the diff was made from.
    /// </summary>
    public async Task<string> RequestSpawnAsync(ToolCall call, string rawName, string draft, CancellationToken cancellationToken)
    {
        var run = call.Run;
        var session = run.Session;
        if (!AgentName.TryCreate(rawName, out var name, out var nameError))
        {
            throw new ArgumentException($"'{rawName}' is not a valid agent name: {nameError.Message}");
        }

        if (session.Principal.Role != AgentRole.Manager)
        {
            // Governance refuses it (rule manager-role) before anything of the draft is read; the refusal is on the record.
            var asked = Proposal.Create(session.Principal, ProposalKind.SpawnAgent, session.Workspace, new ProposalArguments
            {
                Path = draft,
                Other = new Dictionary<string, string>(StringComparer.Ordinal) { ["agent"] = name.Value },
            });
            var (_, refused) = await RunProposals.GovernAsync(executor, call, asked, (_, _, _) => throw new InvalidOperationException("a worker's spawn is never allowed"), "nothing was created", cancellationToken).ConfigureAwait(false);
            return refused ?? "error: the spawn was not refused; nothing was created";
        }

        var manager = await context.LoadAgentAsync(run.Agent, cancellationToken).ConfigureAwait(false);
        var files = ReadDraft(session.Workspace, draft);
        var refusal = await CheckDraftAsync(run, manager, name, files, cancellationToken).ConfigureAwait(false);
        var spawns = await relations.SpawnsAsync(cancellationToken).ConfigureAwait(false);
        var depth = (spawns.GetValueOrDefault(run.Agent)?.Depth ?? 0) + 1;
        var folder = context.Catalog.FolderOf(name);
        var exists = Directory.Exists(folder);
        refusal ??= exists && (!spawns.TryGetValue(name.Value, out var earlier) || earlier.Parent != run.Agent)
            ? $"agent '{name}' already exists and was not spawned by you; choose another name"
            : depth > MaxSpawnDepth
                ? $"spawn depth limit: '{run.Agent}' is at depth {depth - 1}, and spawned agents may nest at most {MaxSpawnDepth} deep"
                : !exists && spawns.Values.Count(s => s.Parent == run.Agent && Directory.Exists(context.Catalog.FolderOf(AgentName.Parse(s.Agent)))) >= MaxChildrenPerManager
                    ? $"children limit: '{run.Agent}' has spawned {MaxChildrenPerManager} agents already, the most a manager may have"
                    : null;
        if (refusal is not null)
        {
            await context.RecordAsync("session-" + session.Id, new Events.EventData(
                ManagerEventTypes.SpawnRefused,
                JsonSerializer.SerializeToUtf8Bytes(new SpawnRefusedData(name.Value, run.Agent, session.Id, refusal, context.Time.GetUtcNow()), RuntimeJsonContext.Default.SpawnRefusedData)), cancellationToken).ConfigureAwait(false);
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
        var (governed, refused2) = await RunProposals.GovernAsync(executor, call, proposal, async (spawning, _, _) =>
        {
            // What is written is what the person approved: the snapshot the diff was made from, not the draft as it is now.
            var clock = Stopwatch.StartNew();
            await WriteAgentFolderAsync(folder, files).ConfigureAwait(false);
            await context.RecordAsync(ManagerEventTypes.SpawnStream, new Events.EventData(
                ManagerEventTypes.AgentSpawned,
                JsonSerializer.SerializeToUtf8Bytes(
                    new AgentSpawnedData(name.Value, run.Agent, depth, session.Id, proposal.Id.ToString(), spawning.Decision.TicketId, [.. files.Keys.Order(StringComparer.Ordinal)], exists, context.Time.GetUtcNow()),
                    RuntimeJsonContext.Default.AgentSpawnedData)), CancellationToken.None).ConfigureAwait(false);
            return new ProposalWorkResult(new ResultDto(0, "spawned", clock.ElapsedMilliseconds, Content: $"agent {name} written to {folder} ({files.Count} files)"), new BudgetAmounts(0, clock.Elapsed, 0, 0m));
        }, "nothing was created", cancellationToken).ConfigureAwait(false);
        return refused2
            ?? (governed.Result?.Error is { } error ? $"error: the agent's folder could not be written: {error}"
            : $"spawned: agent '{name}' ({(exists ? "updated" : "created")}, depth {depth}); start it with start");
    }

    /// <summary>
    /// Governs one of the manager's actions on <paramref name="agent"/> as a proposal of <paramref name="kind"/> of
    /// the run's session and, once allowed, does <paramref name="work"/>; what the model is told, whatever happened.
    /// </summary>
    private async Task<string> GovernAsync(ToolCall call, ProposalKind kind, string agent, string? task, string done, Func<CancellationToken, Task<string>> work, CancellationToken cancellationToken)
    {
        var session = call.Run.Session;
        var other = new Dictionary<string, string>(StringComparer.Ordinal) { ["agent"] = agent };
        if (task is not null)
        {
            other["task"] = task;
        }

        var proposal = Proposal.Create(session.Principal, kind, session.Workspace, new ProposalArguments { Other = other });
        var (governed, refusal) = await RunProposals.GovernAsync(executor, call, proposal, async (_, _, ct) =>
        {
            var clock = Stopwatch.StartNew();
            var text = await work(ct).ConfigureAwait(false);
            return new ProposalWorkResult(new ResultDto(0, done, clock.ElapsedMilliseconds, Content: text), new BudgetAmounts(0, clock.Elapsed, 0, 0m));
        }, "nothing was done", cancellationToken).ConfigureAwait(false);
        return refusal ?? (governed.Result is { Error: { } error } ? $"error: {error}; nothing was done" : governed.Result?.Content ?? "");
    }

    private async Task<string> StartManagedAsync(AgentRun run, string agent, string task, CancellationToken cancellationToken)
    {
        var started = await runs.StartRunAsync(agent, new StartRunRequest(task), $"agent {run.Agent} (run {run.Id})", cancellationToken).ConfigureAwait(false);
        _lastTasks[agent] = task;
        return $"started: run {started.Id} of agent '{agent}' in session {started.Session.Id}; it works on its own: use send and recv to talk to it";
    }

    private async Task<int> StopManagedAsync(AgentRun run, string agent)
    {
        var stopped = 0;
        foreach (var target in runs.AgentRuns.Where(r => r.Agent == agent && !r.Ended.IsCompleted).ToList())
        {
            await context.Pipeline.EngageKillSwitchAsync(KillSwitchScope.Session(target.Session.Id), $"stopped by manager '{run.Agent}'", $"agent {run.Agent}", CancellationToken.None).ConfigureAwait(false);
            await target.Ended.WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            stopped++;
        }

        return stopped;
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

        var child = AgentSettings.Resolve(manifest, context.Config.Defaults, AgentOverrides.None);
        var mine = manager.Settings;
        if (child.Role.Value != AgentRole.Worker)
        {
            return $"the draft's role is {child.Role.Value.ToString().ToLowerInvariant()}; a spawned agent is a worker";
        }

        if (child.Template.Value != mine.Template.Value)
        {
            return $"the draft's sandbox template is '{child.Template.Value}'; a spawned agent uses its manager's ('{mine.Template.Value}')";
        }

        var reachable = (await relations.AllowedRecipientsAsync(run.Agent, cancellationToken).ConfigureAwait(false) ?? new HashSet<string>()).Append(run.Agent).ToHashSet(StringComparer.Ordinal);
        if (child.AllowedRecipients.Source != SettingSource.Default
            && child.AllowedRecipients.Value.Where(r => !reachable.Contains(r) && r != name.Value).ToList() is [_, ..] extraRecipients)
        {
            return $"the draft widens its allowed_recipients: {string.Join(", ", extraRecipients)} {(extraRecipients.Count == 1 ? "is" : "are")} not among the manager's or the manager itself";
        }

        var usage = context.Ledger.Usage(BudgetScope.Session(run.Session.Id));
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
