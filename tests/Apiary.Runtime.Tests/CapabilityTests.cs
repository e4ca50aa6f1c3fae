using Apiary.Runtime.Messaging;
using Apiary.Runtime.Supervision;

namespace Apiary.Runtime.Tests;

/// <summary>
/// Messaging, the manager's tools, memory, model calls and supervision at the runtime's seam: the sample home and its
/// policies, real sandboxes and SQLite, a scripted model, and no HTTP. Each refusal is asserted where it is made (the
/// governance pipeline) and as what the model is told.
/// </summary>
public sealed class CapabilityTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Messaging_ToARecipientOutsideTheAllowList_RefusedByTheControlPlaneCheck_NothingDelivered()
    {
        await using var home = await RuntimeHome.OpenAsync();
        var coder = await home.RunOfAsync("coder");

        var refused = await home.Runtime.Messaging.SendAsync(MessageSender.Of(coder.Session), new SendMessageRequest("coder", "to myself"), Ct);
        var sent = await home.Runtime.Messaging.SendAsync(MessageSender.Of(coder.Session), new SendMessageRequest("manager", "done"), Ct);

        Assert.Equal((SendOutcome.NotAllowed, "allowed_recipients"), (refused.Status, refused.Rule));
        Assert.Contains("'coder' is not one of them", refused.Reason, StringComparison.Ordinal);
        Assert.Empty((await home.Runtime.Messaging.Broker.ReadAsync("coder", null, TimeSpan.Zero, 10, Ct)).Messages);
        Assert.Equal(SendOutcome.Sent, sent.Status);
        Assert.Equal("done", Assert.Single((await home.Runtime.Messaging.Broker.ReadAsync("manager", null, TimeSpan.Zero, 10, Ct)).Messages).Body);
        Assert.Equal([("send_message", "deny", ControlPlaneChecks.AllowedRecipientsName), ("send_message", "allow", "coder-messages")], await home.DecisionsAsync());
    }

    [Fact]
    public async Task Manager_AWorkerCallingStart_RefusedByTheManagerRoleRule_NoRunStarted()
    {
        await using var home = await RuntimeHome.OpenAsync();
        var coder = await home.RunOfAsync("coder");

        var told = await home.CallAsync(coder, "start", ("agent", "manager"), ("task", "work for me"));

        Assert.StartsWith("not allowed: start is a manager's tool and agent 'coder' is a worker", told, StringComparison.Ordinal);
        Assert.Empty(home.Runtime.Runs.AgentRuns);
        Assert.Equal([("start_agent", "deny", Governance.PolicyEngine.ManagerRoleRule)], await home.DecisionsAsync());
    }

    [Fact]
    public async Task Manager_StoppingAnAgentItDoesNotManage_RefusedByTheManagedAgentCheck()
    {
        await using var home = await RuntimeHome.OpenAsync();
        var stranger = Path.Combine(home.Runtime.Home.AgentsDirectory, "stranger");
        Directory.CreateDirectory(stranger);
        await File.WriteAllTextAsync(Path.Combine(stranger, "AGENTS.md"), "---\nrole: worker\n---\n# stranger\n", Ct);
        var manager = await home.RunOfAsync("manager");

        var told = await home.CallAsync(manager, "stop", ("agent", "stranger"));
        var mine = await home.CallAsync(manager, "stop", ("agent", "coder"));

        Assert.Contains("agent 'stranger' is not one 'manager' manages", told, StringComparison.Ordinal);
        Assert.EndsWith("Nothing was done", told, StringComparison.Ordinal);
        Assert.Equal("agent 'coder' has no run to stop", mine);
        Assert.Equal([("stop_agent", "deny", ControlPlaneChecks.ManagedAgentName), ("stop_agent", "allow", Governance.Policy.ControlPlaneRule)], await home.DecisionsAsync());
    }

    [Fact]
    public async Task Memory_Remember_AppendsToTheAgentsMemoryAsAGovernedWriteOfMemoryMd()
    {
        await using var home = await RuntimeHome.OpenAsync("""
            rules:
              - name: coder-remembers
                priority: 60
                match: { kind: write_file, agent: coder, path: MEMORY.md }
                risk: low
                tier: allow
            """);
        var coder = await home.RunOfAsync("coder");

        var told = await home.CallAsync(coder, "remember", ("text", "the tests run with make check"));

        Assert.StartsWith("remembered: appended to your MEMORY.md", told, StringComparison.Ordinal);
        Assert.Matches(@"^- \[\d{4}-\d{2}-\d{2}\] the tests run with make check\n$", await File.ReadAllTextAsync(Path.Combine(home.Runtime.Home.AgentsDirectory, "coder", "MEMORY.md"), Ct));
        Assert.Equal([("write_file", "allow", "coder-remembers")], await home.DecisionsAsync());
    }

    [Fact]
    public async Task ModelCall_TheBudgetCannotCoverIt_RefusedAtTheBudgetStage_TheRunEndsBudgetExhausted()
    {
        await using var home = await RuntimeHome.OpenAsync();
        var agentsMd = Path.Combine(home.Runtime.Home.AgentsDirectory, "coder", "AGENTS.md");
        await File.WriteAllTextAsync(agentsMd, (await File.ReadAllTextAsync(agentsMd, Ct)).Replace("tokens: 300000", "tokens: 10", StringComparison.Ordinal), Ct);
        home.Model.Answer("never asked");

        var run = await home.Runtime.Runs.StartRunAsync("coder", new StartRunRequest("anything"), "operator", Ct);
        await run.Ended.WaitAsync(TimeSpan.FromSeconds(60), Ct);

        Assert.Equal("budget_exhausted", run.ToDto().Status);
        Assert.StartsWith("the budget cannot cover model call 1", run.ToDto().Error, StringComparison.Ordinal);
        Assert.Empty(home.Model.Calls);
        Assert.Contains(await home.DecisionsAsync(), d => d.Kind == "model_call" && d.Decision == "deny");
    }

    [Fact]
    public async Task Supervision_ARunThatFinishes_TheAgentIsShownRunningThenStopped()
    {
        await using var home = await RuntimeHome.OpenAsync();
        home.Model.Answer("done");

        var run = await home.Runtime.Runs.StartRunAsync("coder", new StartRunRequest("say done"), "operator", Ct);
        await run.Ended.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        var states = new List<string>();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        using var feed = home.Runtime.Feed.Subscribe(1, 1024);
        await foreach (var e in feed.ReadAllAsync(deadline.Token))
        {
            if (e.Type == "agent.state_changed" && e.Stream == LifecycleEventTypes.AgentStream("coder"))
            {
                using var data = System.Text.Json.JsonDocument.Parse(e.Data);
                states.Add(data.RootElement.GetProperty("to").GetString()!);
                if (states[^1] == LifecycleState.Stopped)
                {
                    break;
                }
            }
        }

        Assert.Contains(LifecycleState.Running, states);
        Assert.Equal(LifecycleState.Stopped, states[^1]);
        Assert.Equal(LifecycleState.Stopped, home.Runtime.Supervisor.StateOf("coder"));
    }
}
