using System.Reflection;
using Apiary.Runtime.Manager;
using Apiary.Runtime.Memory;
using Apiary.Runtime.Messaging;

namespace Apiary.Runtime.Tests;

/// <summary>
/// Every side effect is a proposal through the one governed executor: each tool of the registry and each entry point of
/// the runtime is listed here, and each one that changes anything is called and must have passed the executor (its
/// count of governed proposals grows, and the log records the decision of a proposal of the expected kind). A tool or
/// an entry point added without a row here fails the test until someone says how it is governed.
/// </summary>
public sealed class OneExecutorTests : IAsyncLifetime
{
    /// <summary>Lets every kind through, so what is tested is that each call is a proposal, not what the samples decide.</summary>
    private const string AllowEverything = """
        rules:
          - name: test-allows-everything
            priority: 5000
            match:
              kind: [exec, read_file, write_file, list_dir, send_message, spawn_agent, model_call, start_agent, stop_agent, restart_agent, update_agent]
            risk: low
            tier: allow
        """;

    /// <summary>The kind of proposal each registered tool makes; null for a tool that only reads (recv reads and acknowledges the run's own inbox).</summary>
    private static readonly Dictionary<string, string?> ToolKinds = new(StringComparer.Ordinal)
    {
        ["exec"] = "exec",
        ["read_file"] = "read_file",
        ["write_file"] = "write_file",
        ["list_dir"] = "list_dir",
        ["send"] = "send_message",
        ["recv"] = null,
        ["ask"] = "send_message",
        ["answer"] = "send_message",
        ["request_spawn"] = "spawn_agent",
        ["start"] = "start_agent",
        ["stop"] = "stop_agent",
        ["restart"] = "restart_agent",
        ["update"] = "update_agent",
        ["remember"] = "write_file",
    };

    /// <summary>
    /// Every public method of the runtime's capabilities, and how what it does is governed. <c>governed</c>: it submits
    /// proposals to the executor (proven below, or by the tool it serves); <c>reads</c>: it changes nothing;
    /// <c>operator</c>: the operator's own action through the API, authenticated by the operator token and recorded as an
    /// event (the operator answers approvals; its runs' model and tool calls are proposals); <c>lifecycle</c>: the
    /// runtime starting, stopping or resuming what was already decided.
    /// </summary>
    private static readonly Dictionary<string, string> EntryPoints = new(StringComparer.Ordinal)
    {
        ["ApiaryRuntime.OpenAsync"] = "lifecycle",
        ["ApiaryRuntime.DisposeAsync"] = "lifecycle",
        ["ApiaryRuntime.StopWorkAsync"] = "lifecycle",
        ["ApiaryRuntime.RecordAsync"] = "lifecycle: the runtime's own events (server.started, auth.rejected)",
        ["ApiaryRuntime.FindProposalAsync"] = "reads",
        ["ApiaryRuntime.FindRecordedProposalAsync"] = "reads",
        ["ApiaryRuntime.LoadAgentAsync"] = "reads",
        ["ApiaryRuntime.SessionUsage"] = "reads",
        ["ApiaryRuntime.OpenSessionAsync"] = "operator: a session is a sandbox over a workspace; everything in it is a proposal",
        ["ApiaryRuntime.SubmitAsync"] = "governed",
        ["ApiaryRuntime.CallToolAsync"] = "governed: through the tool it calls",
        ["SessionHost.DescribeAsync"] = "reads",
        ["SessionHost.Find"] = "reads",
        ["SessionHost.OpenAsync"] = "operator: as OpenSessionAsync",
        ["SessionHost.CloseAsync"] = "operator: closing stops what runs in it",
        ["SessionHost.RecordOrphansAsync"] = "lifecycle: records what a dead process left open, at start",
        ["SessionHost.DisposeAsync"] = "lifecycle",
        ["GovernedExecutor.FindRun"] = "reads",
        ["GovernedExecutor.SubmitAsync"] = "governed",
        ["GovernedExecutor.GovernAsync"] = "governed: the executor's one loop",
        ["GovernedExecutor.AttachPending"] = "lifecycle: waits again for a ticket already decided pending",
        ["RunService.FindAgentRun"] = "reads",
        ["RunService.StartRunAsync"] = "operator: starting a run; its every model call and tool call is a proposal (proven below)",
        ["RunService.DispatchAsync"] = "governed: through the tool it calls",
        ["RunService.CallWorkspaceToolAsync"] = "governed: the workspace tools",
        ["RunService.RestartRunAsync"] = "lifecycle: the supervisor restarting a crashed run, whose calls are proposals",
        ["RunService.ResumeRunsAsync"] = "lifecycle",
        ["MessageService.SenderOf"] = "reads",
        ["MessageService.CheckInboxAccess"] = "reads",
        ["MessageService.AllowedRecipientsAsync"] = "reads",
        ["MessageService.SendAsync"] = "governed: an agent's send (the operator's own send is an operator action)",
        ["MessageService.AskAsync"] = "governed: as SendAsync",
        ["ManagerService.SpawnsAsync"] = "reads",
        ["ManagerService.ManagersOfAsync"] = "reads",
        ["ManagerService.UpdateAgentAsync"] = "operator: reloading a definition from its files (an agent's update is UpdateAsync)",
        ["ManagerService.StartAsync"] = "governed: the start tool",
        ["ManagerService.StopAsync"] = "governed: the stop tool",
        ["ManagerService.RestartAsync"] = "governed: the restart tool",
        ["ManagerService.UpdateAsync"] = "governed: the update tool",
        ["ManagerService.RequestSpawnAsync"] = "governed: the request_spawn tool",
        ["MemoryService.RememberAsync"] = "governed: the remember tool",
        ["ToolRegistry.Register"] = "lifecycle: composing the runtime",
        ["ToolRegistry.Find"] = "reads",
    };

    private RuntimeHome _home = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ApiaryRuntime Runtime => _home.Runtime;

    public async ValueTask InitializeAsync() => _home = await RuntimeHome.OpenAsync(AllowEverything);

    public async ValueTask DisposeAsync() => await _home.DisposeAsync();

    [Fact]
    public void EveryToolAndEveryEntryPoint_IsListedWithHowItIsGoverned()
    {
        Assert.Equal(ToolKinds.Keys.Order(StringComparer.Ordinal), Runtime.Tools.All.Select(t => t.Descriptor.Name).Order(StringComparer.Ordinal));
        Assert.All(Runtime.Tools.All.Where(t => ToolKinds[t.Descriptor.Name] is null), t => Assert.True(t.Descriptor.ReadOnly, $"{t.Descriptor.Name} makes no proposal, so it must only read"));

        Type[] capabilities = [typeof(ApiaryRuntime), typeof(SessionHost), typeof(GovernedExecutor), typeof(RunService), typeof(MessageService), typeof(ManagerService), typeof(MemoryService), typeof(ToolRegistry)];
        var methods = capabilities
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .Where(m => !m.IsSpecialName)
                .Select(m => $"{t.Name}.{m.Name}"))
            .Distinct()
            .Order(StringComparer.Ordinal);
        Assert.Equal(EntryPoints.Keys.Order(StringComparer.Ordinal), methods);
    }

    [Fact]
    public async Task EveryToolThatChangesAnything_IsAProposalThroughTheExecutor()
    {
        AgentDrafts.WriteHelper(Runtime.Home.Root, "drafts/helper", "tokens: 1000\n  wall_time: 10m");
        var manager = await _home.RunOfAsync("manager");
        var question = await Runtime.Messaging.SendAsync(MessageSender.Operator, new SendMessageRequest("manager", "ready?"), Ct);
        _home.Model.Answer("started").Answer("restarted");

        (string Tool, (string, object?)[] Arguments)[] calls =
        [
            ("exec", [("command", "true")]),
            ("write_file", [("path", "notes.txt"), ("content", "x")]),
            ("read_file", [("path", "notes.txt")]),
            ("list_dir", [("path", ".")]),
            ("send", [("to", "operator"), ("body", "hello")]),
            ("recv", []),
            ("ask", [("to", "operator"), ("question", "which?"), ("deadline_seconds", 1)]),
            ("answer", [("message_id", question.Message!.Id), ("body", "yes")]),
            ("request_spawn", [("name", "helper"), ("from_draft", "drafts/helper")]),
            ("start", [("agent", "coder"), ("task", "count")]),
            ("stop", [("agent", "coder")]),
            ("restart", [("agent", "coder"), ("task", "count again")]),
            ("update", [("agent", "coder")]),
            ("remember", [("text", "the tests run with make check")]),
        ];
        Assert.Equal(ToolKinds.Keys.Order(StringComparer.Ordinal), calls.Select(c => c.Tool).Order(StringComparer.Ordinal));

        foreach (var (tool, arguments) in calls)
        {
            var governedBefore = Runtime.Executor.Governed;
            var decidedBefore = (await _home.DecisionsAsync()).Count;
            var told = await _home.CallAsync(manager, tool, arguments);
            var decided = (await _home.DecisionsAsync()).Skip(decidedBefore).ToList();
            if (ToolKinds[tool] is { } kind)
            {
                Assert.True(Runtime.Executor.Governed > governedBefore, $"{tool} did not pass the executor: {told}");
                Assert.Contains(decided, d => d.Kind == kind && d.Decision == "allow");
            }
            else
            {
                Assert.DoesNotContain(decided, d => d.Kind != "model_call");
            }
        }
    }

    [Fact]
    public async Task EntryPointsThatChangeAnything_PassTheExecutor()
    {
        var coder = await _home.RunOfAsync("coder");
        _home.Model.Answer("done");

        var governed = Runtime.Executor.Governed;
        var submitted = await Runtime.SubmitAsync(coder.Session, new ProposalRequest("list_dir", Path: "."), Ct);
        Assert.Equal(governed + 1, Runtime.Executor.Governed);
        Assert.Equal("completed", submitted.ToDto().Status);

        var sent = await Runtime.Messaging.SendAsync(MessageSender.Of(coder.Session), new SendMessageRequest("manager", "report"), Ct);
        Assert.Equal(SendOutcome.Sent, sent.Status);
        Assert.Equal(governed + 2, Runtime.Executor.Governed);

        // A run started by the operator: its model call is a model_call proposal of its session, reserved and completed.
        var run = await Runtime.Runs.StartRunAsync("coder", new StartRunRequest("say done"), "operator", Ct);
        await run.Ended.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.Equal(("finished", "done"), (run.ToDto().Status, run.ToDto().Answer));
        Assert.Contains(await _home.DecisionsAsync(), d => d.Kind == "model_call" && d.Decision == "allow" && d.DecidedBy == "test-allows-everything");
    }
}
