using Apiary.Home;

namespace Apiary.Server.Tests;

/// <summary>
/// A durable approval is durable: a proposal waiting for a person when a real <c>apiary up</c> is killed with SIGKILL
/// waits again after a restart, runs its exact proposal once when approved (recorded), and answering its ticket again
/// is 409, as for every ticket that is no longer open.
/// </summary>
public sealed class CrashRecoveryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PendingProposal_ServerKilledThenRestarted_ApprovedRunsItOnce_AndASecondAnswerIs409()
    {
        using var root = new TempDirectory("apiary-crash");
        var home = new ApiaryHome(root["home"], root.Path);
        string proposal, ticket;
        await using (var first = await UpProcess.StartAsync(home, root.Path, Ct))
        {
            var opened = await ReadAsync(await first.Http.PostAsJsonAsync("/api/sessions", new OpenSessionRequest("coder"), ApiJsonContext.Default.OpenSessionRequest, Ct), ApiJsonContext.Default.OpenSessionResponse);
            var pending = await ReadAsync(
                await first.Http.PostAsJsonAsync($"/api/sessions/{opened.Session.Id}/proposals", new ProposalRequest("exec", Command: "curl", Args: ["--version"]), ApiJsonContext.Default.ProposalRequest, Ct),
                ApiJsonContext.Default.ProposalDto);
            Assert.Equal("pending_approval", pending.Status);
            (proposal, ticket) = (pending.Id, pending.Decision.TicketId!);
            await first.KillAsync(Ct);
        }

        await using var second = await UpProcess.StartAsync(home, root.Path, Ct);
        var approved = await second.Http.PostAsync($"/api/approvals/{ticket}/approve", null, Ct);
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal("granted", (await ReadAsync(approved, ApiJsonContext.Default.TicketAnswerDto)).State);

        // Followed to its end through the proposal's own stream, as a client waits for any command.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        using (var stream = await second.Http.GetStreamAsync($"/api/proposals/{proposal}/output", limit.Token))
        {
            await stream.CopyToAsync(Stream.Null, limit.Token);
        }

        var done = (await second.Http.GetFromJsonAsync($"/api/proposals/{proposal}", ApiJsonContext.Default.ProposalDto, Ct))!;
        Assert.Equal("completed", done.Status);

        Assert.Equal(0, done.Result!.ExitCode);
        Assert.Contains("curl", done.Result.Stdout, StringComparison.Ordinal);
        var again = await second.Http.PostAsync($"/api/approvals/{ticket}/approve", null, Ct);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("no longer open", await again.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var denied = await second.Http.PostAsJsonAsync($"/api/approvals/{ticket}/deny", new DenyRequest("too late"), ApiJsonContext.Default.DenyRequest, Ct);
        Assert.Equal(HttpStatusCode.Conflict, denied.StatusCode);

        var events = await second.Http.GetFromJsonAsync($"/api/events?stream=session-{done.Session}&limit=1000", ApiJsonContext.Default.IReadOnlyListEventDto, Ct);
        Assert.Single(events!, e => e.Type == "proposal.completed" && e.Data.GetProperty("proposal_id").GetString() == proposal);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
        return (await response.Content.ReadFromJsonAsync(info, Ct))!;
    }
}
