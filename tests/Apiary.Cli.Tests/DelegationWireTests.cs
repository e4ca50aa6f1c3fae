using System.Text.Json;
using Apiary.Client;
using Apiary.Contracts;
using Apiary.Testing;

namespace Apiary.Cli.Tests;

/// <summary>
/// A manager delegating to a worker it asked to spawn, end to end as an operator sees it: <c>apiary run manager</c>, two
/// OpenAI-compatible endpoints in <c>models.yaml</c> (one for the manager, one for the worker, each a scripted model
/// server spoken to through the official SDK over HTTP), the spawn approved with <c>apiary approvals approve</c>, and the
/// worker's report coming back to the manager as a message.
/// </summary>
public sealed class DelegationWireTests : IAsyncLifetime
{
    private readonly CliRunner _cli = new();
    private ScriptedModelServer _boss = null!;
    private ScriptedModelServer _workers = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _boss = await ScriptedModelServer.StartAsync(Ct);
        _workers = await ScriptedModelServer.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _cli.DisposeAsync();
        await _boss.DisposeAsync();
        await _workers.DisposeAsync();
    }

    [Fact]
    public async Task Manager_SpawnsAWorker_StartsIt_AndGetsItsReport()
    {
        await _cli.InitAsync();
        await File.WriteAllTextAsync(Path.Combine(_cli.HomeRoot, "models.yaml"), $$"""
            default: local/qwen2.5-coder
            endpoints:
              boss:  { provider: openai, base_url: "{{_boss.OpenAIBaseUri}}" }
              local: { provider: openai, base_url: "{{_workers.OpenAIBaseUri}}" }
            """, Ct);
        const string draft = """
            ---
            description: Counts things for the manager
            role: worker
            model: local/qwen2.5-coder
            allowed_recipients: [manager, operator]
            budget:
              commands: 10
              wall_time: 30m
              tokens: 100000
              cost_usd: 1.00
            ---
            # How the counter works

            Count what you are asked to and send the number to the manager.
            """;
        var reported = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _boss
            .EnqueueToolCalls(
                new ScriptedToolCall("write_file", Json(new { path = "drafts/counter/AGENTS.md", content = draft })),
                new ScriptedToolCall("write_file", Json(new { path = "drafts/counter/SOUL.md", content = "You count carefully.\n" })))
            .EnqueueToolCalls(new ScriptedToolCall("request_spawn", Json(new { name = "counter", from_draft = "drafts/counter" })))
            .EnqueueToolCalls(new ScriptedToolCall("start", Json(new { agent = "counter", task = "count to three and tell the manager" })))
            .Enqueue(ScriptedReply.WithToolCalls(new ScriptedToolCall("recv", Json(new { wait_seconds = 60 }))) with { Gate = reported.Task })
            .EnqueueText("the counter counted to 3");
        _workers
            .EnqueueToolCalls(new ScriptedToolCall("exec", """{"command":"echo","args":["1","2","3"]}"""))
            .EnqueueToolCalls(new ScriptedToolCall("send", Json(new { to = "manager", body = "counted: 1 2 3", thread = "count" })))
            .EnqueueText("told the manager");
        var server = await _cli.StartServerAsync();
        using var http = new HttpClient { BaseAddress = new Uri(server.Server.Url) };
        using var client = new ApiaryClient(http, server.Server.OperatorToken);

        // The operator's side: approve what waits (the spawn, and the draft's writes if a policy asks), and let the
        // manager read its inbox once the worker has ended.
        var tickets = new List<TicketDto>();
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var operatorSide = Task.Run(async () =>
        {
            await foreach (var e in client.FollowEventsAsync(cancellationToken: watching.Token))
            {
                if (e.Type == "approval.requested")
                {
                    var ticket = (await client.ListApprovalsAsync(watching.Token)).Single(t => t.Ticket == e.Data.GetProperty("ticket_id").GetString());
                    tickets.Add(ticket);
                    var approved = await _cli.RunAsync("approvals", "approve", ticket.Ticket);
                    Assert.True(approved.ExitCode == 0, approved.ToString());
                }
                else if (e.Type == "run.ended" && e.Data.GetProperty("agent").GetString() == "counter")
                {
                    Assert.Equal("finished", e.Data.GetProperty("status").GetString());
                    reported.TrySetResult();
                    return;
                }
            }
        }, Ct);

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        using var progress = new StringWriter();
        var result = await _cli.RunWithErrorAsync(progress, "", limit.Token, "run", "manager", "get the numbers one to three counted", "--model", "boss/planner");
        Assert.True(result.ExitCode == 0, result + "\n" + progress);
        await operatorSide.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await watching.CancelAsync();

        Assert.Equal("the counter counted to 3\n", result.Out);

        // The spawn was approved by a person looking at the diff of the exact files.
        var spawn = Assert.Single(tickets, t => t.Kind == "spawn_agent");
        Assert.Contains("+++ b/agents/counter/AGENTS.md", spawn.Diff, StringComparison.Ordinal);
        Assert.Contains("+You count carefully.", spawn.Diff, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_cli.AgentDirectory("counter"), "SOUL.md")));

        // The worker ran on its own endpoint with its own prompt, and its exec was governed in its own session.
        Assert.Equal(3, _workers.Requests.Count);
        Assert.Contains("How the counter works", _workers.Requests[0].System, StringComparison.Ordinal);
        Assert.Equal("count to three and tell the manager", _workers.Requests[0].Messages[^1].Text);
        Assert.Contains("1 2 3", _workers.Requests[1].Messages.SelectMany(m => m.ToolResults).Single().Content, StringComparison.Ordinal);

        // The manager read the worker's report, from the worker as an agent, after the supervisor's note of the spawn.
        var inbox = _boss.Requests[^1].Messages.SelectMany(m => m.ToolResults).Last().Content;
        Assert.Contains("from apiary (system) on thread lifecycle-counter:\nspawned: agent 'counter' was created from your draft", inbox, StringComparison.Ordinal);
        Assert.Contains("from counter (agent) on thread count:\ncounted: 1 2 3", inbox, StringComparison.Ordinal);
        Assert.True(inbox.IndexOf("spawned:", StringComparison.Ordinal) < inbox.IndexOf("counted:", StringComparison.Ordinal));
    }

    private static string Json(object value) => JsonSerializer.Serialize(value);
}
