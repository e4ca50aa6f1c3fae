using Apiary.Events;
using Microsoft.Playwright;

namespace Apiary.Server.Tests;

/// <summary>
/// The dashboard in a real browser: Debian's chromium driven by Playwright against a real server on a loopback port
/// (real sandboxes, the sample home and policies). Sign-in, an approval answered from the page while the client that
/// proposed it waits, a denial's reason, the kill switch stopping a running command, a read-only user who cannot
/// approve, new events showing live in order, and the overview of 200 agents and 10,000 events. Screenshots of each
/// view go to <c>screenshots/</c> beside the test binary. These tests check behaviour only, with Playwright's default
/// timeouts; how soon things show is measured by <c>dashboard-load</c> in <c>benchmarks/Apiary.Benchmarks</c>.
/// </summary>
[Collection(DashboardBrowser.Collection)]
public sealed class DashboardBrowserTests() : DashboardTest("apiary-dashboard")
{
    private ApiaryRuntime Runtime => Dashboard.Runtime;

    [Fact]
    public async Task SignIn_RefusesAWrongToken_ThenShowsTheOverviewOfTheAgents()
    {
        var page = await Dashboard.NewPageAsync();
        await page.GotoAsync(Dashboard.Server.Url + "/approvals");
        Assert.StartsWith(Dashboard.Server.Url + "/signin?return_url=%2Fapprovals", page.Url, StringComparison.Ordinal);

        await page.FillAsync("#token", "not-a-token");
        await page.ClickAsync("#signin");
        await Assertions.Expect(page.Locator("#signin-error")).ToContainTextAsync("not one of this home's");
        await DashboardBrowser.ScreenshotAsync(page, "signin");

        await page.FillAsync("#token", Dashboard.Server.OperatorToken);
        await page.ClickAsync("#signin");
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Approvals");

        // Live first: a click while Blazor's script starts the page's circuit can be lost (the page stays where it was).
        await page.Locator("#live").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached, Timeout = 15000 });
        await page.ClickAsync("text=Overview");
        await Assertions.Expect(page.Locator("tr[data-agent=coder] .state")).ToHaveTextAsync("stopped");
        await Assertions.Expect(page.Locator("tr[data-agent=manager]")).ToContainTextAsync("manager");
        await Assertions.Expect(page.Locator("#sandbox")).ToHaveTextAsync("bubblewrap");
        await Assertions.Expect(page.Locator("#sandbox-checks")).ToContainTextAsync(" ok");
        await Assertions.Expect(page.Locator("#who")).ToHaveTextAsync("operator");
        await DashboardBrowser.ScreenshotAsync(page, "overview");
    }

    [Fact]
    public async Task TheSignOutButton_SignsOut_ThenThePagesAskForASignInAgain()
    {
        var page = await Dashboard.SignedInPageAsync("/approvals");

        // The layout's form carries the page's antiforgery token, which the server requires of a sign-out.
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign out" }).ClickAsync();
        await page.WaitForURLAsync(Dashboard.Url + "/signin");

        await page.GotoAsync(Dashboard.Url + "/approvals");
        Assert.StartsWith(Dashboard.Url + "/signin?return_url=%2Fapprovals", page.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AProposalNeedingApproval_ApprovedFromThePage_CompletesForTheWaitingClient()
    {
        var page = await Dashboard.SignedInPageAsync("/approvals");
        await Assertions.Expect(page.Locator("#no-tickets")).ToBeVisibleAsync();
        var session = await Dashboard.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct);

        // The coder's writes outside src/ and tests/ need approval: the client waits, as 'apiary exec' would.
        var waiting = Dashboard.Client.ProposeAsync(session.Session.Id, new ProposalRequest("write_file", Path: "Makefile", Content: "all:\n\ttrue\n"), wait: true, cancellationToken: Ct);
        var ticket = page.Locator(".ticket");
        await Assertions.Expect(ticket).ToHaveCountAsync(1);
        await Assertions.Expect(ticket.Locator(".command")).ToHaveTextAsync("write_file Makefile");
        await Assertions.Expect(ticket.Locator(".rule")).ToHaveTextAsync("coder-writes-workspace");
        await DashboardBrowser.ScreenshotAsync(page, "approvals");
        Assert.False(waiting.IsCompleted);

        await ticket.Locator("button.approve").ClickAsync();
        var done = await waiting.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal("completed", done.Status);
        Assert.Equal("all:\n\ttrue\n", await File.ReadAllTextAsync(Path.Combine(Dashboard.Home, "agents", "coder", "workspace", "Makefile"), Ct));
        await Assertions.Expect(page.Locator("#no-tickets")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#notice")).ToContainTextAsync("granted");
    }

    [Fact]
    public async Task ADenialFromThePage_ReachesTheWaitingClientWithItsReason()
    {
        var page = await Dashboard.SignedInPageAsync("/approvals");
        var session = await Dashboard.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct);
        var waiting = Dashboard.Client.ProposeAsync(session.Session.Id, new ProposalRequest("write_file", Path: "notes.txt", Content: "x"), wait: true, cancellationToken: Ct);
        var ticket = page.Locator(".ticket");
        await Assertions.Expect(ticket.Locator("button.deny")).ToBeDisabledAsync();

        await ticket.Locator("input.reason").FillAsync("notes belong in the wiki");
        await ticket.Locator("button.deny").ClickAsync();

        var done = await waiting.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal("denied", done.Status);
        Assert.Contains("notes belong in the wiki", done.Decision.Reason, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("#notice")).ToContainTextAsync("denied: notes belong in the wiki");
    }

    [Fact]
    public async Task TheKeyboardAlone_SkipsToTheContent_AndApprovesATicket()
    {
        var page = await Dashboard.SignedInPageAsync("/approvals");
        var session = await Dashboard.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct);
        var waiting = Dashboard.Client.ProposeAsync(session.Session.Id, new ProposalRequest("write_file", Path: "CHANGELOG", Content: "x"), wait: true, cancellationToken: Ct);
        await Assertions.Expect(page.Locator(".ticket")).ToHaveCountAsync(1);

        // From the top of the page, the first Tab stop is the skip link.
        await page.EvaluateAsync("() => { document.body.setAttribute('tabindex', '-1'); document.body.focus(); document.body.removeAttribute('tabindex'); }");
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("Skip to content", await page.EvaluateAsync<string>("() => document.activeElement.textContent"));

        // Tab until the ticket's "Approve once" button has the focus, then Enter.
        for (var i = 0; i < 30 && await page.EvaluateAsync<string>("() => document.activeElement.className") != "approve"; i++)
        {
            await page.Keyboard.PressAsync("Tab");
        }

        Assert.Equal("Approve once", await page.EvaluateAsync<string>("() => document.activeElement.textContent"));
        await page.Keyboard.PressAsync("Enter");
        Assert.Equal("completed", (await waiting.WaitAsync(TimeSpan.FromSeconds(30), Ct)).Status);

        // Every input of the page has a label.
        Assert.Equal(0, await page.EvaluateAsync<int>("() => [...document.querySelectorAll('input:not([type=hidden])')].filter(i => !(i.labels && i.labels.length) && !i.getAttribute('aria-label')).length"));
    }

    [Fact]
    public async Task TheReadOnlyToken_SeesTheQueue_ButCannotApprove()
    {
        var session = await Dashboard.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct);
        var waiting = Dashboard.Client.ProposeAsync(session.Session.Id, new ProposalRequest("write_file", Path: "README", Content: "x"), wait: true, cancellationToken: Ct);
        var page = await Dashboard.SignedInPageAsync("/approvals", Dashboard.ReadOnlyToken);

        var ticket = page.Locator(".ticket");
        await Assertions.Expect(ticket).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#read-only")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#who")).ToHaveTextAsync("read-only");
        await Assertions.Expect(ticket.Locator("button.approve")).ToBeDisabledAsync();
        await Assertions.Expect(ticket.Locator("button.approve-session")).ToBeDisabledAsync();

        // Even a click the page would not allow is refused by the server: the button is made clickable and pressed.
        await ticket.Locator("button.approve").EvaluateAsync("b => b.disabled = false");
        await ticket.Locator("button.approve").ClickAsync();
        await Assertions.Expect(page.Locator("#notice")).ToContainTextAsync("read-only token: nothing was changed");
        Assert.Single(await Dashboard.Client.ListApprovalsAsync(Ct));
        Assert.False(waiting.IsCompleted);
        await DashboardBrowser.ScreenshotAsync(page, "approvals-read-only");
    }

    [Fact]
    public async Task TheKillSwitch_EngagedFromTheOverview_StopsARunningCommand()
    {
        var page = await Dashboard.SignedInPageAsync("/");
        var session = await Dashboard.Client.OpenSessionAsync(new OpenSessionRequest("operator"), Ct);
        var running = await Dashboard.Client.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "sleep", Args: ["60"]), wait: false, cancellationToken: Ct);
        Assert.Equal("running", running.Status);

        await page.ClickAsync("#kill-engage");
        await Assertions.Expect(page.Locator("#kill-confirm-text")).ToBeVisibleAsync();
        await page.FillAsync("#kill-reason", "stop everything");
        await page.ClickAsync("#kill-confirm");
        await Assertions.Expect(page.Locator("#kill-state")).ToContainTextAsync("Engaged by operator");

        var ended = await Dashboard.Client.WaitForProposalEndAsync(running.Id);
        Assert.Equal(("completed", "cancelled"), (ended.Status, ended.Result?.Reason));
        Assert.True(ended.Result!.DurationMs < 30_000);
        await DashboardBrowser.ScreenshotAsync(page, "kill-switch");

        await page.ClickAsync("#kill-release");
        await Assertions.Expect(page.Locator("#kill-state")).ToContainTextAsync("Released");
        Assert.Empty(Runtime.Pipeline.EngagedKillSwitches);
    }

    [Fact]
    public async Task TheEventsPage_100EventsAppendedWhileItIsOpen_ShowsThemAllLiveInOrder()
    {
        var page = await Dashboard.SignedInPageAsync("/events");

        // Only this test's events, so that nothing else the server records (an audit checkpoint) takes a row of the page.
        await page.FillAsync("#filter-kind", "test.tick");
        await page.ClickAsync("#apply");
        await Assertions.Expect(page.Locator("#no-events")).ToBeVisibleAsync();

        // A mark on this document: a reload would make a new one without it.
        await page.EvaluateAsync("() => { window.__beforeTheEvents = true; }");

        var appended = new List<long>();
        for (var i = 0; i < 100; i++)
        {
            var result = await Runtime.RecordAsync("dashboard-live", new EventData("test.tick", System.Text.Encoding.UTF8.GetBytes($"{{\"i\":{i}}}")), Ct);
            appended.Add(result.LastPosition);
        }

        // Newest first: the page shows every one of them, in the reverse of the order they were appended.
        var rows = page.Locator("#events tbody tr[data-position]");
        await Assertions.Expect(rows).ToHaveCountAsync(100);
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-position", appended[^1].ToString(System.Globalization.CultureInfo.InvariantCulture));
        var shown = await page.EvaluateAsync<long[]>("() => [...document.querySelectorAll('#events tbody tr[data-position]')].map(r => Number(r.dataset.position))");
        Assert.Equal(appended.AsEnumerable().Reverse(), shown);
        await Assertions.Expect(page.Locator("#page-title")).ToHaveTextAsync("The newest 100 matching events, live");
        Assert.True(await page.EvaluateAsync<bool>("() => window.__beforeTheEvents === true"), "the page was reloaded; new events should arrive live");
        await DashboardBrowser.ScreenshotAsync(page, "events");
    }

    [Fact]
    public async Task TheOverview_With200AgentsAnd10000Events_ShowsEveryAgentAndGoesLive()
    {
        var agents = Path.Combine(Dashboard.Home, "agents");
        for (var i = 1; i <= 198; i++)
        {
            var folder = Directory.CreateDirectory(Path.Combine(agents, $"worker-{i:D3}")).FullName;
            await File.WriteAllTextAsync(Path.Combine(folder, "AGENTS.md"), $"---\ndescription: Worker {i}\nrole: worker\n---\n# Worker {i}\n", Ct);
            await File.WriteAllTextAsync(Path.Combine(folder, "SOUL.md"), "You work.\n", Ct);
        }

        for (var batch = 0; batch < 100; batch++)
        {
            var events = Enumerable.Range(0, 100).Select(i => new EventData("test.filler", System.Text.Encoding.UTF8.GetBytes($"{{\"i\":{(batch * 100) + i}}}"))).ToList();
            await Runtime.Store.AppendAsync("dashboard-load", ExpectedVersion.Any, events, Ct);
        }

        Assert.True(await Runtime.Store.LastPositionAsync(Ct) >= 10_000);
        var page = await Dashboard.SignedInPageAsync("/approvals");
        await page.GotoAsync(Dashboard.Url + "/");
        await Assertions.Expect(page.Locator("#agents tbody tr")).ToHaveCountAsync(200);
        await Assertions.Expect(page.Locator("tr[data-agent=worker-001]")).ToContainTextAsync("worker-001");
        await Assertions.Expect(page.Locator("tr[data-agent=worker-198]")).ToContainTextAsync("worker-198");
        await Assertions.Expect(page.Locator("tr[data-agent=coder]")).ToContainTextAsync("coder");
        await page.Locator("#live").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached });
    }
}
