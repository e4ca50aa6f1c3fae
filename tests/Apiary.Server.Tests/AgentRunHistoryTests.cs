using System.Net;

namespace Apiary.Server.Tests;

/// <summary>
/// <c>GET /api/agents/{name}/runs</c>: an agent's runs read from the event log, newest first, each with its outcome
/// (status, reason, started and ended, turns, task), including runs of an earlier server on the same home.
/// </summary>
public sealed class AgentRunHistoryTests() : InMemoryServerTest("apiary-run-history")
{
    [Fact]
    public async Task ListAgentRuns_FinishedAndFailedRuns_NewestFirstWithTheirOutcome()
    {
        Model.Exec("echo", "hello").Answer("said hello").Fail();
        var first = await Host.Client.StartRunAsync("coder", new StartRunRequest("say hello"), Ct);
        Assert.Equal("finished", (await Host.Client.LastStepOfRunAsync(first.Id)).Status);
        var second = await Host.Client.StartRunAsync("coder", new StartRunRequest("count the files"), Ct);
        Assert.Equal("failed", (await Host.Client.LastStepOfRunAsync(second.Id)).Status);

        var runs = await Host.Client.ListAgentRunsAsync("coder", cancellationToken: Ct);

        Assert.Equal([second.Id, first.Id], runs.Select(r => r.Id));
        var failed = runs[0];
        Assert.Equal(
            (second.Session, "failed", "model call 1 failed: the endpoint answered 503 Service Unavailable", 1, "count the files", "operator"),
            (failed.Session, failed.Status, failed.Reason, failed.Turns, failed.Task, failed.By));
        Assert.NotNull(failed.EndedAt);
        Assert.True(failed.EndedAt >= failed.StartedAt);
        var finished = runs[1];
        Assert.Equal(("finished", null, 2, "say hello", "scripted/qwen2.5-coder"), (finished.Status, finished.Reason, finished.Turns, finished.Task, finished.Model));
        Assert.Empty(await Host.Client.ListAgentRunsAsync("manager", cancellationToken: Ct));
    }

    [Fact]
    public async Task ListAgentRuns_AfterARestartOfTheServer_StillListsTheEarlierServersRuns_UpToTheLimit()
    {
        Model.Answer("one").Answer("two");
        var first = await Host.Client.StartRunAsync("coder", new StartRunRequest("first"), Ct);
        await Host.Client.LastStepOfRunAsync(first.Id);
        var second = await Host.Client.StartRunAsync("coder", new StartRunRequest("second"), Ct);
        await Host.Client.LastStepOfRunAsync(second.Id);
        await StopAsync();
        await StartAsync();

        var runs = await Host.Client.ListAgentRunsAsync("coder", limit: 1, cancellationToken: Ct);

        var only = Assert.Single(runs);
        Assert.Equal((second.Id, "finished", "second"), (only.Id, only.Status, only.Task));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("501")]
    [InlineData("ten")]
    public async Task ListAgentRuns_BadLimit_400SaysWhatIsAccepted(string limit)
    {
        using var http = InMemoryServer.HttpClientOf(Host.Server, Host.Server.OperatorToken);
        using var response = await http.GetAsync($"api/agents/coder/runs?limit={limit}", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("from 1 to 500", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListAgentRuns_UnknownAgent_404()
    {
        var error = await Assert.ThrowsAsync<ApiaryClientException>(() => Host.Client.ListAgentRunsAsync("nobody", cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.NotFound, error.Status);
    }
}
