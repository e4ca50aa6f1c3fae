using System.Globalization;
using System.Text.Json;

namespace Apiary.Server.Tests;

/// <summary>
/// Per-agent telemetry through the API, in memory, with real sandboxes, the sample policies and a scripted model: the
/// <c>turn.completed</c> event of each turn and <c>GET /api/agents/{name}/stats</c> folded from them.
/// </summary>
public sealed class AgentStatsTests() : InMemoryServerTest("apiary-stats")
{
    [Fact]
    public async Task TurnCompleted_ExecsDenialSendAndAnswer_CarriesEachTurnsFigures()
    {
        await Host.Client.SendMessageAsync(new SendMessageRequest("coder", "waiting for you"), Ct);
        var run = await RunAsync();

        var turns = await TurnEventsAsync(run);

        Assert.Equal([1, 2, 3, 4], turns.Select(t => t.GetProperty("turn").GetInt32()));
        Assert.All(turns, t =>
        {
            Assert.Equal(run.Id, t.GetProperty("run").GetString());
            Assert.Equal("coder", t.GetProperty("agent").GetString());
            Assert.Equal(run.Session, t.GetProperty("session").GetString());
            Assert.Equal(100, t.GetProperty("input_tokens").GetInt64());
            Assert.Equal(10, t.GetProperty("output_tokens").GetInt64());
            Assert.Equal(1, t.GetProperty("inbox_depth").GetInt64());
            Assert.False(t.GetProperty("resumed").GetBoolean());
            Assert.True(t.GetProperty("duration_ms").GetInt64() >= t.GetProperty("model_latency_ms").GetInt64());
        });
        Assert.Equal(1, turns[0].GetProperty("tool_calls").GetProperty("exec").GetInt32());
        Assert.Empty(turns[0].GetProperty("denials").EnumerateObject());
        Assert.Equal(1, turns[1].GetProperty("tool_calls").GetProperty("exec").GetInt32());
        Assert.Equal(1, turns[1].GetProperty("denials").GetProperty("denied").GetInt32());
        Assert.Equal(1, turns[2].GetProperty("tool_calls").GetProperty("send").GetInt32());
        Assert.Equal(1, turns[2].GetProperty("messages_sent").GetInt32());
        Assert.Empty(turns[3].GetProperty("tool_calls").EnumerateObject());
        Assert.Equal(0, turns.Sum(t => t.GetProperty("messages_received").GetInt32()));
        Assert.Equal(0, turns.Sum(t => t.GetProperty("approvals_waited").GetInt32()));
    }

    [Fact]
    public async Task TurnCompleted_RecvTakesTheWaitingMessage_CountsItReceivedAndTheInboxEmpty()
    {
        await Host.Client.SendMessageAsync(new SendMessageRequest("coder", "please report"), Ct);
        Model.CallTool("recv", new Dictionary<string, object?>()).Answer("read it");
        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("read your inbox"), Ct);
        Assert.Equal("finished", (await Host.Client.ReadRunToEndAsync(run.Id))[^1].Status);

        var turns = await TurnEventsAsync(run);

        Assert.Equal(1, turns[0].GetProperty("tool_calls").GetProperty("recv").GetInt32());
        Assert.Equal(1, turns[0].GetProperty("messages_received").GetInt32());
        Assert.Equal([0, 0], turns.Select(t => t.GetProperty("inbox_depth").GetInt64()));
        var stats = await Host.Client.GetAgentStatsAsync("coder", cancellationToken: Ct);
        Assert.Equal((0, 1), (stats.Totals.MessagesSent, stats.Totals.MessagesReceived));
        Assert.Equal(0, stats.InboxDepth);
    }

    [Fact]
    public async Task Stats_OneRun_ReturnsTotalsSpreadAndSeries()
    {
        await Host.Client.SendMessageAsync(new SendMessageRequest("coder", "waiting for you"), Ct);
        var run = await RunAsync();

        var stats = await Host.Client.GetAgentStatsAsync("coder", cancellationToken: Ct);

        Assert.Equal("coder", stats.Agent);
        Assert.Equal((1, 4), (stats.Runs, stats.Turns));
        Assert.Equal(TimeSpan.FromHours(24), stats.Until - stats.Since);
        var totals = stats.Totals;
        Assert.Equal((400L, 40L), (totals.InputTokens, totals.OutputTokens));
        Assert.Equal(3, totals.ToolCalls);
        Assert.Equal(2, totals.ToolCallsByName["exec"]);
        Assert.Equal(1, totals.ToolCallsByName["send"]);
        Assert.Equal(1, totals.Denials);
        Assert.Equal(1, totals.DenialsByKind["denied"]);
        Assert.Equal((1, 0), (totals.MessagesSent, totals.MessagesReceived));
        Assert.Equal((0, 0L), (totals.ApprovalsWaited, totals.ApprovalWaitMs));
        Assert.Equal(1, stats.InboxDepth);
        Assert.False(stats.Truncated);
        Assert.Equal([1, 2, 3, 4], stats.Series.Select(p => p.Turn));
        Assert.All(stats.Series, p => Assert.Equal(run.Id, p.Run));
        Assert.Equal([1, 1, 1, 0], stats.Series.Select(p => p.ToolCalls));
        Assert.Equal([0, 1, 0, 0], stats.Series.Select(p => p.Denials));
        Assert.Equal([0, 0, 1, 0], stats.Series.Select(p => p.MessagesSent));
        Assert.Equal(stats.Series.Max(p => p.DurationMs), stats.DurationMs.Max);
        Assert.InRange(stats.DurationMs.P50, 0, stats.DurationMs.P95);
        Assert.InRange(stats.DurationMs.P95, stats.DurationMs.P50, stats.DurationMs.Max);
        Assert.Equal(stats.Series.Max(p => p.ModelLatencyMs), stats.ModelLatencyMs.Max);
    }

    [Fact]
    public async Task Stats_SinceAnInstant_ExcludesEarlierTurns()
    {
        await RunAsync();
        Model.Exec("echo", "again").Answer("done again");
        var second = await Host.Client.StartRunAsync("coder", new StartRunRequest("once more"), Ct);
        await Host.Client.ReadRunToEndAsync(second.Id);
        var events = await Host.Client.ReadEventsAsync(filter: new Apiary.Client.EventFilter(Stream: "session-" + second.Session), cancellationToken: Ct);
        var started = events.Single(e => e.Type == "run.started").Data.GetProperty("at").GetDateTimeOffset();

        var recent = await Host.Client.GetAgentStatsAsync("coder", started.ToString("O", CultureInfo.InvariantCulture), Ct);
        var all = await Host.Client.GetAgentStatsAsync("coder", "1h", Ct);

        Assert.Equal((1, 2), (recent.Runs, recent.Turns));
        Assert.All(recent.Series, p => Assert.Equal(second.Id, p.Run));
        Assert.Equal(1, recent.Totals.ToolCalls);
        Assert.Equal(started, recent.Since);
        Assert.Equal((2, 6), (all.Runs, all.Turns));
    }

    [Theory]
    [InlineData("yesterday")]
    [InlineData("15")]
    [InlineData("-1h")]
    public async Task Stats_BadSince_400SaysWhatIsAccepted(string since)
    {
        var error = await Assert.ThrowsAsync<ApiaryClientException>(() => Host.Client.GetAgentStatsAsync("coder", since, Ct));

        Assert.Equal(HttpStatusCode.BadRequest, error.Status);
        Assert.Contains("ISO-8601", error.Detail, StringComparison.Ordinal);
        Assert.Contains("24h", error.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_UnknownAgent_404()
    {
        var error = await Assert.ThrowsAsync<ApiaryClientException>(() => Host.Client.GetAgentStatsAsync("nobody", cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.NotFound, error.Status);
    }

    [Fact]
    public async Task Stats_NoTurns_ZerosAndAnEmptySeries()
    {
        var stats = await Host.Client.GetAgentStatsAsync("coder", "15m", Ct);

        Assert.Equal((0, 0), (stats.Runs, stats.Turns));
        Assert.Equal(new SpreadDto(0, 0, 0), stats.DurationMs);
        Assert.Empty(stats.Series);
        Assert.Empty(stats.Totals.ToolCallsByName);
    }

    /// <summary>Agent coder: an allowed exec, a denied one, a send to its manager, and the answer.</summary>
    private async Task<RunDto> RunAsync()
    {
        Model.Exec("echo", "hello")
            .Exec("rm", "-rf", "/")
            .CallTool("send", new Dictionary<string, object?> { ["to"] = "manager", ["body"] = "tests pass" })
            .Answer("reported");
        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("work and report"), Ct);
        await Host.Client.ReadRunToFinishAsync(run.Id);
        return run;
    }

    private async Task<List<JsonElement>> TurnEventsAsync(RunDto run)
    {
        var events = await Host.Client.ReadEventsAsync(filter: new Apiary.Client.EventFilter(Stream: "session-" + run.Session), cancellationToken: Ct);
        return [.. events.Where(e => e.Type == "turn.completed").Select(e => e.Data)];
    }
}
