using Apiary.Client;

namespace Apiary.Server.Tests;

/// <summary>
/// Finished work leaves memory: a proposal that ended is kept only among the few most recent (for late readers), then
/// read from the log, by the same routes (its state, its output, its explanation); a closed session leaves the list and
/// memory and is read from the log too, and nothing more can be proposed in it.
/// </summary>
public sealed class BoundedMemoryTests() : InMemoryServerTest("apiary-bounded")
{
    [Fact]
    public async Task ManyFinishedProposals_OnlyTheMostRecentStayInMemory_AndTheOldestIsStillServedFromTheLog()
    {
        // The operator's session: no budget runs out among so many commands.
        var client = Host.Client;
        var session = (await client.OpenSessionAsync("operator", Ct)).Session.Id;
        var first = await client.ProposeAsync(session, new ProposalRequest("exec", Command: "echo", Args: ["the first"]), wait: true, Ct);
        Assert.Equal("completed", first.Status);

        // More than the recent ones kept, eight at a time.
        var next = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= FinishedRuns.MaxRuns + 20)
            {
                Assert.Equal("completed", (await client.ProposeAsync(session, new ProposalRequest("exec", Command: "true"), wait: true, Ct)).Status);
            }
        }));

        // A run leaves the live set before its end is announced, so every answer above came after it left.
        Assert.Empty(Runtime.Executor.Runs);
        Assert.Null(Runtime.Executor.FindRun(first.Id));
        Assert.Empty(Runtime.Sessions.Find(session)!.Proposals);

        var read = await client.GetProposalAsync(first.Id, Ct);
        Assert.Equal((first.Id, first.Session, first.Agent, "exec", "completed"), (read.Id, read.Session, read.Agent, read.Kind, read.Status));
        Assert.Equal(first.Decision with { TicketId = null }, read.Decision with { TicketId = null });
        Assert.Equal(0, read.Result!.ExitCode);
        Assert.Equal("the first\n", read.Result.Stdout);

        var output = await client.StreamOutputAsync(first.Id, Ct).ToListAsync(Ct);
        Assert.Equal("the first\n", string.Concat(output.OfType<ProposalOutputText>().Select(o => o.Text)));
        Assert.Equal(0, Assert.IsType<ProposalOutputCompleted>(output[^1]).Result.ExitCode);

        var explained = await client.ExplainAsync(first.Id, Ct);
        Assert.Equal(first.Id, explained.GetProperty("proposal_id").GetString());

        await Assert.ThrowsAsync<ApiaryClientException>(() => client.GetProposalAsync(Guid.NewGuid().ToString("N"), Ct));
    }

    [Fact]
    public async Task AClosedSession_LeavesTheListAndMemory_IsReadFromTheLog_AndRefusesProposals()
    {
        var client = Host.Client;
        var session = (await client.OpenSessionAsync("coder", Ct)).Session.Id;
        var ran = await client.ProposeAsync(session, new ProposalRequest("exec", Command: "echo", Args: ["hi"]), wait: true, Ct);
        await client.CloseSessionAsync(session, Ct);

        Assert.Null(Runtime.Sessions.Find(session));
        Assert.DoesNotContain(Runtime.Sessions.All, s => s.Id == session);
        using var http = InMemoryServer.HttpClientOf(Host.Server, Host.Server.OperatorToken);
        var listed = (await http.GetFromJsonAsync("/api/sessions", ApiJsonContext.Default.IReadOnlyListSessionDto, Ct))!;
        Assert.DoesNotContain(listed, s => s.Id == session);

        var read = await client.GetSessionAsync(session, Ct);
        Assert.Equal(("coder", "closed"), (read.Agent, read.State));
        Assert.NotNull(read.ClosedAt);

        // Closing again answers how it stands; proposing in it is a conflict, not an unknown session.
        using var closed = await http.PostAsync($"/api/sessions/{session}/close", null, Ct);
        Assert.Equal(HttpStatusCode.OK, closed.StatusCode);
        using var refused = await http.PostAsJsonAsync($"/api/sessions/{session}/proposals", new ProposalRequest("exec", Command: "true"), ApiJsonContext.Default.ProposalRequest, Ct);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("closed", await refused.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        Assert.Equal("completed", (await client.GetProposalAsync(ran.Id, Ct)).Status);
    }

    [Fact]
    public async Task ManyEndedAgentRuns_OnlyTheMostRecentStayInMemory_AndEveryOneIsStillListedFromTheLog()
    {
        var count = RunService.KeptEndedRuns + 6;
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            Model.Answer($"answer {i}");
            var run = await Host.Client.StartRunAsync("coder", new StartRunRequest($"task {i}"), Ct);
            await Host.Client.ReadRunToEndAsync(run.Id);
            ids.Add(run.Id);
        }

        // Older runs leave memory before a run's end is streamed, so the last end read above came after they left.
        Assert.Equal(RunService.KeptEndedRuns, Runtime.Runs.AgentRuns.Count());
        Assert.Null(Runtime.Runs.FindAgentRun(ids[0]));
        Assert.NotNull(Runtime.Runs.FindAgentRun(ids[^1]));

        var history = await Host.Client.ListAgentRunsAsync("coder", count, Ct);
        Assert.Contains(history, r => r.Id == ids[0] && r.Status == "finished");
    }
}
