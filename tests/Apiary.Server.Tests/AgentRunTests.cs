using System.Net.Http.Headers;
using Apiary.Agents;
using Microsoft.Extensions.AI;

namespace Apiary.Server.Tests;

/// <summary>
/// The turn loop through the API, in memory, with real sandboxes, the sample policies and a scripted model: tool calls
/// governed (allowed, denied, steered, pending then approved), budgets, the kill switch, the turn cap, and the events.
/// </summary>
public sealed class AgentRunTests() : InMemoryServerTest("apiary-runs")
{
    [Fact]
    public async Task Run_SendTool_DeliversToTheManagerAsTheAgentNeverAsUser()
    {
        Model.CallTool("send", new Dictionary<string, object?> { ["to"] = "manager", ["body"] = "tests pass" }).Answer("reported");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("report to your manager"), Ct);
        var steps = await Host.Client.ReadRunToEndAsync(run.Id);

        Assert.True(steps[^1].Status == "finished", string.Join("\n", steps));
        var inbox = await Host.Client.ReadInboxAsync("manager", cancellationToken: Ct);
        var message = Assert.Single(inbox.Messages);
        Assert.Equal("coder", message.From);
        Assert.Equal("agent", message.Role);
        Assert.Equal("tests pass", message.Body);
    }

    [Fact]
    public async Task Run_AllowedToolCallThenAnswer_FinishesWithTheAnswer()
    {
        Model.Exec("echo", "hello from the sandbox").Answer("the sandbox said hello");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("say hello"), Ct);
        var steps = await Host.Client.ReadRunToEndAsync(run.Id);

        Assert.Equal("running", run.Status);
        var end = steps[^1];
        Assert.True(end.Status == "finished", string.Join("\n", steps));
        Assert.Equal("the sandbox said hello", end.Answer);
        Assert.Equal(["model_call", "tool_call", "decision", "tool_result", "model_call", "answer", "end"], steps.Select(s => s.Type));
        Assert.Contains(steps, s => s.Type == "decision" && s.Decision == "allow" && s.Rule == "allow-inspection");
        Assert.Contains("hello from the sandbox", Assert.Single(Model.ToolResults()), StringComparison.Ordinal);
        var first = Model.Calls[0];
        Assert.Equal(ChatRole.System, first[0].Role);
        Assert.Contains(PromptComposer.SectionMarker("SOUL.md"), first[0].Text, StringComparison.Ordinal);
        Assert.Equal("say hello", first[1].Text);
        var final = await Host.Client.GetRunAsync(run.Id, Ct);
        Assert.Equal(("finished", "the sandbox said hello", 2), (final.Status, final.Answer, final.Turns));
        Assert.Equal("closed", (await Host.Client.GetSessionAsync(run.Session, Ct)).State);
    }

    [Fact]
    public async Task Run_DeniedToolCall_ModelIsToldTheRuleAndReasonAndAnswers()
    {
        Model.Exec("rm", "-rf", "/").Answer("I may not delete the root folder");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("clean up"), Ct);
        var steps = await Host.Client.ReadRunToEndAsync(run.Id);

        Assert.Equal("finished", steps[^1].Status);
        Assert.Contains(steps, s => s.Type == "decision" && s.Decision == "deny" && s.Rule == "deny-rm-root");
        var told = Assert.Single(Model.ToolResults());
        Assert.Contains("denied by rule 'deny-rm-root'", told, StringComparison.Ordinal);
        Assert.Contains("never allowed", told, StringComparison.Ordinal);
        Assert.Contains("did not run", told, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_SteeredToolCall_ModelIsToldWhatToDoInstead()
    {
        Model.Exec("sudo", "ls").Answer("ran it without sudo");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("list"), Ct);
        var steps = await Host.Client.ReadRunToEndAsync(run.Id);

        Assert.Equal("finished", steps[^1].Status);
        var told = Assert.Single(Model.ToolResults());
        Assert.Contains("steered by rule 'steer-sudo'", told, StringComparison.Ordinal);
        Assert.Contains("run the command without sudo", told, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_PendingApproval_WaitsThenResumesOnceApproved()
    {
        Model.CallTool("write_file", new Dictionary<string, object?> { ["path"] = "NOTES.md", ["content"] = "approved note" }).Answer("wrote the note");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("write a note"), Ct);
        var steps = new List<RunProgressDto>();
        string? ticket = null;
        await foreach (var step in Host.Client.StreamRunProgressAsync(run.Id, Ct))
        {
            steps.Add(step);
            if (step is { Type: "decision", Decision: "pending" })
            {
                ticket = step.TicketId;
                Assert.Equal("waiting_approval", (await Host.Client.GetRunAsync(run.Id, Ct)).Status);
                Assert.Equal("granted", (await Host.Client.ApproveAsync(ticket!, cancellationToken: Ct)).State);
            }
        }

        Assert.NotNull(ticket);
        Assert.Equal("finished", steps[^1].Status);
        Assert.Contains(steps, s => s is { Type: "decision", Decision: "allow" } && s.TicketId == ticket);
        Assert.Equal("written", Assert.Single(Model.ToolResults()));
        Assert.Equal("approved note", await File.ReadAllTextAsync(Path.Combine(HomePath, "agents", "coder", "workspace", "NOTES.md"), Ct));
    }

    [Fact]
    public async Task Run_BudgetExhaustedMidRun_StopsBeforeTheNextModelCall()
    {
        // The coder's session budget is 300000 tokens: the first call uses nearly all of it.
        Model.CallTool("exec", new Dictionary<string, object?> { ["command"] = "echo", ["args"] = new List<string> { "x" } }, inputTokens: 299_000, outputTokens: 500)
            .Answer("never reached");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("spend"), Ct);
        var steps = await Host.Client.ReadRunToEndAsync(run.Id);

        var end = steps[^1];
        Assert.Equal("budget_exhausted", end.Status);
        Assert.Contains("tokens", end.Error, StringComparison.Ordinal);
        Assert.Single(Model.Calls);
        Assert.Contains(steps, s => s.Type == "tool_result");
    }

    [Fact]
    public async Task Run_KillSwitchMidRun_EndsKilled()
    {
        Model.Exec("echo", "one").Block();

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("work forever"), Ct);
        await Model.Blocked.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        await Host.Client.EngageKillSwitchAsync(new KillSwitchRequest("session", run.Session, "runaway agent"), Ct);
        var steps = await Host.Client.ReadRunToEndAsync(run.Id);

        var end = steps[^1];
        Assert.Equal("killed", end.Status);
        Assert.Contains("runaway agent", end.Error, StringComparison.Ordinal);
        Assert.Equal("killed", (await Host.Client.GetRunAsync(run.Id, Ct)).Status);
    }

    [Fact]
    public async Task Run_TurnCap_FailsWithTurnCap()
    {
        Model.Exec("echo", "1").Exec("echo", "2").Exec("echo", "3");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("loop", MaxTurns: 2), Ct);
        var steps = await Host.Client.ReadRunToEndAsync(run.Id);

        var end = steps[^1];
        Assert.Equal("failed", end.Status);
        Assert.Contains("turn cap", end.Error, StringComparison.Ordinal);
        Assert.Equal(2, Model.Calls.Count);
    }

    [Fact]
    public async Task Run_Finished_RecordsEveryStepAndConsumesBootstrap()
    {
        Model.Exec("echo", "hi").Answer("done");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("record it"), Ct);
        await Host.Client.ReadRunToEndAsync(run.Id);

        var events = await Host.Client.ReadEventsAsync(filter: new Apiary.Client.EventFilter(Stream: "session-" + run.Session), cancellationToken: Ct);
        var types = events.Select(e => e.Type).ToList();
        Assert.Equal("run.started", types[1]);
        Assert.Equal(2, types.Count(t => t == "model.called"));
        Assert.Contains("tool.called", types);
        Assert.Contains("agent.bootstrap_consumed", types);
        Assert.Contains("run.ended", types);
        var model = events.First(e => e.Type == "model.called");
        Assert.True(model.HasBody);
        Assert.Equal("scripted/qwen2.5-coder", model.Data.GetProperty("model").GetString());
        Assert.Equal(100, model.Data.GetProperty("input_tokens").GetInt64());
        Assert.Equal(10, model.Data.GetProperty("output_tokens").GetInt64());
        Assert.True(model.Data.TryGetProperty("duration_ms", out _));
        Assert.Equal("finished", events.Single(e => e.Type == "run.ended").Data.GetProperty("status").GetString());
        var coder = await Host.Client.GetAgentAsync("coder", Ct);
        Assert.True(coder.Bootstrap!.Consumed);
        Assert.Equal(run.Session, coder.Bootstrap.SessionId);
    }

    [Fact]
    public async Task Run_UnknownAgent_404()
    {
        var error = await Assert.ThrowsAsync<ApiaryClientException>(() => Host.Client.StartRunAsync("nobody", new StartRunRequest("x"), Ct));

        Assert.Equal(HttpStatusCode.NotFound, error.Status);
    }

    [Fact]
    public async Task Run_SessionToken_Forbidden()
    {
        var opened = await Host.Client.OpenSessionAsync("coder", Ct);
        using var http = InMemoryServer.HttpClientOf(Host.Server, opened.Token);

        var response = await http.PostAsJsonAsync("/api/agents/coder/runs", new StartRunRequest("x"), ApiJsonContext.Default.StartRunRequest, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}

/// <summary>A server without any model configured refuses runs and says what to configure.</summary>
public sealed class AgentRunWithoutModelsTests : IAsyncLifetime
{
    private readonly TempDirectory _root = new("apiary-runs-nomodel");
    private InMemoryServer _host = null!;

    public async ValueTask InitializeAsync() => _host = await InMemoryServer.StartAsync(_root);

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        _root.Dispose();
    }

    [Fact]
    public async Task Run_NoModelsConfigured_409SaysWhatToConfigure()
    {
        using var http = InMemoryServer.HttpClientOf(_host.Server);
        using var client = new ApiaryClient(http, _host.Server.OperatorToken);

        var error = await Assert.ThrowsAsync<ApiaryClientException>(() => client.StartRunAsync("coder", new StartRunRequest("x"), TestContext.Current.CancellationToken));

        Assert.Equal(HttpStatusCode.Conflict, error.Status);
        Assert.StartsWith("no models are configured: ", error.Detail, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(_root["home"], "models.yaml"), error.Detail, StringComparison.Ordinal);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _host.Server.OperatorToken);
        Assert.Empty((await http.GetFromJsonAsync("/api/sessions", ApiJsonContext.Default.IReadOnlyListSessionDto, TestContext.Current.CancellationToken))!);
    }
}
