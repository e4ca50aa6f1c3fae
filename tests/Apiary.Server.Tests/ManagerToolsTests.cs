using System.Text.Json;
using System.Text.RegularExpressions;
using Apiary.Models;
using Apiary.Runtime.Manager;

namespace Apiary.Server.Tests;

/// <summary>
/// The manager's tools through the API, in memory, with real sandboxes, the sample home and policies, and scripted
/// models (one for the manager, one for the agents it spawns): a spawn a person approves with the diff, a child that
/// tries to widen what its manager has, the depth bound, and a worker that tries to spawn.
/// </summary>
public sealed partial class ManagerToolsTests() : InMemoryServerTest("apiary-manager")
{
    private const string ChildModel = "scripted/child";

    private readonly ScriptedChatClient _manager = new();
    private readonly ScriptedChatClient _child = new();

    public override async ValueTask InitializeAsync() => await StartAsync(new RoutedModelCatalog(_manager, _child));

    [Fact]
    public async Task RequestSpawn_Approved_DiffInTicketThenChildListedAndStartedByTheManager()
    {
        WriteDraft("drafts/helper", "tokens: 100000\n  cost_usd: 1.00");
        _manager
            .CallTool("request_spawn", new Dictionary<string, object?> { ["name"] = "helper", ["from_draft"] = "drafts/helper" })
            .CallTool("start", new Dictionary<string, object?> { ["agent"] = "helper", ["task"] = "say hello" })
            .Answer("delegated to helper");
        _child.Answer("hello from helper");

        var run = await Host.Client.StartRunAsync("manager", new StartRunRequest("get a helper to say hello"), Ct);
        var steps = new List<RunProgressDto>();
        TicketDto? ticket = null;
        await foreach (var step in Host.Client.StreamRunProgressAsync(run.Id, Ct))
        {
            steps.Add(step);
            if (step is { Type: "decision", Decision: "pending", Tool: "request_spawn" })
            {
                ticket = Assert.Single(await Host.Client.ListApprovalsAsync(Ct));
                Assert.Equal("granted", (await Host.Client.ApproveAsync(ticket.Ticket, cancellationToken: Ct)).State);
            }
        }

        Assert.True(steps[^1].Status == "finished", string.Join("\n", steps));
        Assert.NotNull(ticket);
        Assert.Equal(("spawn_agent", "manager-spawns-with-approval"), (ticket.Kind, ticket.Rule));
        Assert.Contains("spawn_agent helper from drafts/helper", ticket.CommandLine, StringComparison.Ordinal);
        Assert.Contains("--- /dev/null\n+++ b/agents/helper/AGENTS.md\n", ticket.Diff, StringComparison.Ordinal);
        Assert.Contains("+model: " + ChildModel + "\n", ticket.Diff, StringComparison.Ordinal);
        Assert.Contains("+++ b/agents/helper/SOUL.md\n", ticket.Diff, StringComparison.Ordinal);

        // apiary explain shows the same diff among the proposal's inputs.
        var explained = await Host.Client.ExplainAsync(ticket.Proposal, Ct);
        Assert.Equal(ticket.Diff, explained.GetProperty("inputs").GetProperty("other").GetProperty("diff").GetString());

        var told = _manager.ToolResults();
        Assert.StartsWith("spawned: agent 'helper' (created, depth 1)", told[0], StringComparison.Ordinal);
        Assert.Contains(await Host.Client.ListAgentsAsync(Ct), a => a.Name == "helper" && a.Role == "worker" && a.Status == "ok" && a.Model == ChildModel);
        Assert.Equal("You help.\n", await File.ReadAllTextAsync(Path.Combine(HomePath, "agents", "helper", "SOUL.md"), Ct));

        var childRun = StartedRun().Match(told[1]);
        Assert.True(childRun.Success, told[1]);
        var childSteps = await Host.Client.ReadRunToEndAsync(childRun.Groups["id"].Value);
        Assert.Equal(("finished", "hello from helper"), (childSteps[^1].Status, childSteps[^1].Answer));
        var final = await Host.Client.GetRunAsync(childRun.Groups["id"].Value, Ct);
        Assert.Equal(("helper", "finished"), (final.Agent, final.Status));

        var spawned = Assert.Single((await Runtime.Manager.SpawnsAsync(Ct)).Values);
        Assert.Equal(("helper", "manager", 1, ticket.Ticket), (spawned.Agent, spawned.Parent, spawned.Depth, spawned.Ticket));
    }

    [Fact]
    public async Task RequestSpawn_DraftWidensBudget_RefusedWithTheReasonAndNothingCreated()
    {
        WriteDraft("drafts/wide-budget", "tokens: 900000");
        _manager
            .CallTool("request_spawn", new Dictionary<string, object?> { ["name"] = "wide-budget", ["from_draft"] = "drafts/wide-budget" })
            .Answer("could not spawn");

        var run = await Host.Client.StartRunAsync("manager", new StartRunRequest("spawn a helper"), Ct);
        var steps = await Host.Client.ReadRunToEndAsync(run.Id);

        Assert.Equal("finished", steps[^1].Status);
        var told = _manager.ToolResults();
        Assert.StartsWith("refused: the draft widens its budget: tokens 900000 > ", told[0], StringComparison.Ordinal);
        Assert.Contains("at most 50%", told[0], StringComparison.Ordinal);
        Assert.Empty(await Host.Client.ListApprovalsAsync(Ct));
        Assert.DoesNotContain(await Host.Client.ListAgentsAsync(Ct), a => a.Name.StartsWith("wide-", StringComparison.Ordinal));
        Assert.Empty(await Runtime.Manager.SpawnsAsync(Ct));
    }

    [Fact]
    public async Task RequestSpawn_ManagerAtTheDepthLimit_Refused()
    {
        // The manager itself was spawned at the deepest level allowed: its child would nest one level too deep.
        await Runtime.RecordAsync(ManagerEventTypes.SpawnStream, new Events.EventData(
            ManagerEventTypes.AgentSpawned,
            JsonSerializer.SerializeToUtf8Bytes(
                new AgentSpawnedData("manager", "lead", Apiary.Runtime.Manager.ManagerService.MaxSpawnDepth, "s", "p", null, ["AGENTS.md"], false, DateTimeOffset.UtcNow),
                RuntimeJsonContext.Default.AgentSpawnedData)), Ct);
        WriteDraft("drafts/deep", "tokens: 1000");
        _manager
            .CallTool("request_spawn", new Dictionary<string, object?> { ["name"] = "deep", ["from_draft"] = "drafts/deep" })
            .Answer("too deep");

        var run = await Host.Client.StartRunAsync("manager", new StartRunRequest("spawn"), Ct);
        var steps = await Host.Client.ReadRunToEndAsync(run.Id);

        Assert.Equal("finished", steps[^1].Status);
        Assert.StartsWith($"refused: spawn depth limit: 'manager' is at depth {Apiary.Runtime.Manager.ManagerService.MaxSpawnDepth}", Assert.Single(_manager.ToolResults()), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(HomePath, "agents", "deep")));
    }

    [Fact]
    public async Task RequestSpawn_CalledByAWorker_ToldItMayNot()
    {
        Directory.CreateDirectory(Path.Combine(HomePath, "agents", "coder", "workspace", "drafts", "mine"));
        File.WriteAllText(Path.Combine(HomePath, "agents", "coder", "workspace", "drafts", "mine", "AGENTS.md"), "---\nrole: worker\n---\n# mine\n");
        _manager
            .CallTool("request_spawn", new Dictionary<string, object?> { ["name"] = "mine", ["from_draft"] = "drafts/mine" })
            .CallTool("start", new Dictionary<string, object?> { ["agent"] = "manager", ["task"] = "work for me" })
            .Answer("I may not");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("spawn a helper"), Ct);
        var steps = await Host.Client.ReadRunToEndAsync(run.Id);

        Assert.Equal("finished", steps[^1].Status);
        var told = _manager.ToolResults();
        Assert.StartsWith("not allowed: request_spawn is a manager's tool and agent 'coder' is a worker", told[0], StringComparison.Ordinal);
        Assert.StartsWith("not allowed: start is a manager's tool", told[1], StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(HomePath, "agents", "mine")));
        Assert.Empty(await Host.Client.ListApprovalsAsync(Ct));
    }

    [Fact]
    public async Task Update_CalledTwice_ReloadsEachTimeAndStopEndsAManagedRun()
    {
        _manager
            .CallTool("update", new Dictionary<string, object?> { ["agent"] = "coder" })
            .CallTool("update", new Dictionary<string, object?> { ["agent"] = "coder" })
            .CallTool("stop", new Dictionary<string, object?> { ["agent"] = "coder" })
            .Answer("reloaded");

        var run = await Host.Client.StartRunAsync("manager", new StartRunRequest("reload the coder"), Ct);
        var steps = await Host.Client.ReadRunToEndAsync(run.Id);

        Assert.Equal("finished", steps[^1].Status);
        var told = _manager.ToolResults();
        Assert.StartsWith("rebuilt: agent 'coder' loads (worker", told[0], StringComparison.Ordinal);
        Assert.Equal(told[0], told[1]);
        Assert.Equal("agent 'coder' has no run to stop", told[2]);
        var rebuilds = await Runtime.EventsAsync(e => e.Stream == "lifecycle-coder" && e.Type.StartsWith("agent.rebuil", StringComparison.Ordinal));
        Assert.Equal(["agent.rebuilding", "agent.rebuilt", "agent.rebuilding", "agent.rebuilt"], rebuilds.Select(e => e.Type));
        Assert.All(rebuilds, e => Assert.Equal($"agent manager (run {run.Id})", LogWaiter.Field(e, "by")));
        await Runtime.WaitForEventAsync(
            e => e.Position > rebuilds[^1].Position && e.Type == Apiary.Runtime.Supervision.LifecycleEventTypes.StateChanged && LogWaiter.Field(e, "to") == "stopped" && LogWaiter.Field(e, "agent") == "coder",
            "coder stopped after its second rebuild");
    }

    private void WriteDraft(string draft, string budget) =>
        AgentDrafts.WriteHelper(HomePath, draft, budget, ChildModel);

    [GeneratedRegex("^started: run (?<id>[0-9a-f]{32}) of agent 'helper'")]
    private static partial Regex StartedRun();

    /// <summary>Two scripted models: the spawned agents' (<see cref="ChildModel"/>) and everyone else's.</summary>
    private sealed class RoutedModelCatalog(ScriptedChatClient manager, ScriptedChatClient child) : IModelCatalog
    {
        public ModelBinding Resolve(string? modelReference) => modelReference == ChildModel
            ? new ModelBinding("scripted", "child", child, null)
            : new ModelBinding("scripted", "test", manager, null);
    }
}
