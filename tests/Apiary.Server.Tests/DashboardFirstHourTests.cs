using Microsoft.Playwright;

namespace Apiary.Server.Tests;

/// <summary>
/// What an operator needs in the first hour, in a real browser against a real server (real sandboxes, the sample home):
/// an agent's past runs with their outcome and the reason its last run failed (and that it is not restarted), live; the
/// sessions list with each session's task or first command, state and age, filtered by agent and state; and an event
/// row opened to its full record.
/// </summary>
[Collection(DashboardBrowser.Collection)]
public sealed class DashboardFirstHourTests() : DashboardTest("apiary-dashboard-first-hour")
{
    [Fact]
    public async Task AgentPage_ListsPastRunsWithTheirOutcome_AndTheLastFailuresReason_Live()
    {
        var page = await Dashboard.SignedInPageAsync("/agents/coder");
        await Assertions.Expect(page.Locator("#no-past-runs")).ToBeVisibleAsync();

        Dashboard.Model.Answer("all done").Fail();
        var finished = await Dashboard.Client.StartRunAsync("coder", new StartRunRequest("tidy the notes"), Ct);
        await Dashboard.Client.ReadRunToFinishAsync(finished.Id);
        var failed = await Dashboard.Client.StartRunAsync("coder", new StartRunRequest("count the files"), Ct);
        await Dashboard.Client.ReadRunToEndAsync(failed.Id);

        var rows = page.Locator("#runs-past tbody tr");
        await Assertions.Expect(rows).ToHaveCountAsync(2, new() { Timeout = 10000 });
        var first = page.Locator($"#runs-past tr[data-run='{failed.Id}']");
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-run", failed.Id);
        await Assertions.Expect(first.Locator(".status")).ToHaveTextAsync("failed");
        await Assertions.Expect(first.Locator(".reason")).ToHaveTextAsync("model call 1 failed: the endpoint answered 503 Service Unavailable");
        await Assertions.Expect(first.Locator(".task")).ToHaveTextAsync("count the files");
        await Assertions.Expect(first.Locator(".ended")).Not.ToBeEmptyAsync();
        var second = page.Locator($"#runs-past tr[data-run='{finished.Id}']");
        await Assertions.Expect(second.Locator(".status")).ToHaveTextAsync("finished");
        await Assertions.Expect(second.Locator(".turns")).ToHaveTextAsync("1");
        await Assertions.Expect(second.Locator(".task")).ToHaveTextAsync("tidy the notes");

        var failure = page.Locator("#last-failure");
        await Assertions.Expect(failure.Locator(".status")).ToHaveTextAsync("failed");
        await Assertions.Expect(failure.Locator(".reason")).ToHaveTextAsync("model call 1 failed: the endpoint answered 503 Service Unavailable");
        await Assertions.Expect(failure.Locator(".restart")).ToHaveTextAsync("not restarted: the run ended on its own");
        await Assertions.Expect(page.Locator("#state")).ToHaveTextAsync("stopped");
        await DashboardBrowser.ScreenshotAsync(page, "agent-runs");
    }

    [Fact]
    public async Task SessionsPage_ShowsEachSessionsTaskOrFirstCommandStateAndAge_FilteredByAgentAndState()
    {
        Dashboard.Model.Answer("done");
        var run = await Dashboard.Client.StartRunAsync("coder", new StartRunRequest("write the release notes"), Ct);
        await Dashboard.Client.ReadRunToFinishAsync(run.Id);
        var open = (await Dashboard.Client.OpenSessionAsync(new OpenSessionRequest("manager"), Ct)).Session.Id;
        Assert.Equal("completed", (await Dashboard.Client.ProposeAsync(open, new ProposalRequest("exec", Command: "echo", Args: ["hello world"]), wait: true, cancellationToken: Ct)).Status);

        var page = await Dashboard.SignedInPageAsync("/sessions");
        var ran = page.Locator($"#sessions tr[data-session='{run.Session}']");
        await Assertions.Expect(ran.Locator(".what")).ToHaveTextAsync("write the release notes");
        await Assertions.Expect(ran.Locator(".status")).ToHaveTextAsync("closed");
        await Assertions.Expect(ran.Locator(".agent")).ToHaveTextAsync("coder");
        await Assertions.Expect(ran.Locator(".age")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d+[smhd]$"));
        var manual = page.Locator($"#sessions tr[data-session='{open}']");
        await Assertions.Expect(manual.Locator(".what")).ToHaveTextAsync("$ echo 'hello world'");
        await Assertions.Expect(manual.Locator(".status")).ToHaveTextAsync("open");

        var rows = page.Locator("#sessions tbody tr");
        await page.SelectOptionAsync("#filter-agent", "manager");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-session", open);
        await page.SelectOptionAsync("#filter-state", "closed");
        await Assertions.Expect(page.Locator("#no-sessions")).ToHaveTextAsync("No session matches these filters.");
        await page.SelectOptionAsync("#filter-agent", "");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-session", run.Session);

        // Live under the filter: the open session closes, and it joins the closed ones.
        await Dashboard.Client.CloseSessionAsync(open, Ct);
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        await DashboardBrowser.ScreenshotAsync(page, "sessions-filtered");

        // The filters can be given in the address.
        await page.GotoAsync(Dashboard.Url + "/sessions?agent=coder&state=closed");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#filter-agent")).ToHaveValueAsync("coder");
    }

    [Fact]
    public async Task EventsPage_OpeningARow_ShowsTheEventsFullRecord_WithItsDataAndHashes()
    {
        var session = (await Dashboard.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct)).Session.Id;
        var page = await Dashboard.SignedInPageAsync("/events");
        var row = page.Locator("#events tbody tr[data-position]", new() { Has = page.Locator("td", new() { HasTextString = "session.opened" }) }).First;
        await Assertions.Expect(row).ToBeVisibleAsync();
        var position = await row.GetAttributeAsync("data-position");
        var button = row.Locator("button.expand");
        await Assertions.Expect(button).ToHaveAttributeAsync("aria-expanded", "false");

        await button.ClickAsync();

        var record = page.Locator($"#events tr.record[data-record='{position}'] pre");
        await Assertions.Expect(record).ToBeVisibleAsync();
        await Assertions.Expect(button).ToHaveAttributeAsync("aria-expanded", "true");
        var text = await record.TextContentAsync();
        using var json = System.Text.Json.JsonDocument.Parse(text!);
        var root = json.RootElement;
        Assert.Equal(long.Parse(position!, System.Globalization.CultureInfo.InvariantCulture), root.GetProperty("position").GetInt64());
        Assert.Equal(("session-" + session, "session.opened", "coder"), (root.GetProperty("stream").GetString(), root.GetProperty("type").GetString(), root.GetProperty("data").GetProperty("agent").GetString()));
        Assert.Matches("^[0-9a-f]{64}$", root.GetProperty("hash").GetString()!);
        Assert.Matches("^[0-9a-f]{64}$", root.GetProperty("previous_hash").GetString()!);
        Assert.Contains("\n  \"data\": {\n", text, StringComparison.Ordinal);
        await DashboardBrowser.ScreenshotAsync(page, "event-record");

        await button.ClickAsync();
        await Assertions.Expect(page.Locator($"#events tr.record[data-record='{position}']")).ToHaveCountAsync(0);
    }
}
