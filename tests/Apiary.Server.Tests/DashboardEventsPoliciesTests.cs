using Apiary.Events;
using Microsoft.Playwright;

namespace Apiary.Server.Tests;

/// <summary>
/// The events and policies pages in a real browser against a real server (real sandboxes, the sample home and its
/// policies): filters narrow the log, pages reach past the newest 100, the hash chain verifies on demand, the active
/// rules are listed, and a candidate policy's dry run shows the recorded decisions it would change.
/// </summary>
[Collection(DashboardBrowser.Collection)]
public sealed class DashboardEventsPoliciesTests() : DashboardTest("apiary-dashboard-events")
{
    /// <summary>A candidate policy whose dry run changes the coder's recorded writes.</summary>
    internal const string DenyCoderWrites = """
        rules:
          - name: deny-coder-writes
            priority: 100
            match: { kind: write_file, agent: coder }
            risk: high
            tier: deny
            message: the coder may not write while the policy is reviewed
        """;

    [Fact]
    public async Task EventsPage_FiltersByAgentKindDecisionAndTime_NarrowTheList()
    {
        await WriteAsCoderAsync();
        await AppendAsync("test.filler", 20);

        var page = await Dashboard.SignedInPageAsync("/events");
        var rows = page.Locator("#events tbody tr[data-position]");
        await Assertions.Expect(rows.Filter(new LocatorFilterOptions { HasText = "test.filler" })).ToHaveCountAsync(20);

        await page.FillAsync("#filter-kind", "proposal.decided");
        await page.ClickAsync("#apply");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows).ToContainTextAsync("allow · coder-writes-workspace");

        await page.FillAsync("#filter-kind", "");
        await page.FillAsync("#filter-agent", "coder");
        await page.ClickAsync("#apply");
        // The kind-only list above also has one decision and no filler, so first wait for the agent filter to render:
        // the coder's session has more events than its one decision.
        await Assertions.Expect(rows.Nth(1)).ToBeVisibleAsync();
        await Assertions.Expect(rows.Filter(new LocatorFilterOptions { HasText = "proposal.decided" })).ToHaveCountAsync(1);
        await Assertions.Expect(rows.Filter(new LocatorFilterOptions { HasText = "test.filler" })).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#page-title")).ToContainTextAsync("matching events, live");

        // Live on the newest page: a new event of the coder shows; one of nobody's does not.
        await AppendAsync("test.filler", 1);
        var before = await rows.CountAsync();
        await WriteAsCoderAsync("src/second.txt");
        await Assertions.Expect(rows.Filter(new LocatorFilterOptions { HasText = "proposal.decided" })).ToHaveCountAsync(2);
        await Assertions.Expect(rows.Filter(new LocatorFilterOptions { HasText = "test.filler" })).ToHaveCountAsync(0);
        Assert.True(await rows.CountAsync() > before);
        await DashboardBrowser.ScreenshotAsync(page, "events-filtered");

        await page.SelectOptionAsync("#filter-decision", "deny");
        await page.ClickAsync("#apply");
        await Assertions.Expect(page.Locator("#no-events")).ToBeVisibleAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(0);

        await page.ClickAsync("#clear");
        await Assertions.Expect(rows.Filter(new LocatorFilterOptions { HasText = "test.filler" })).ToHaveCountAsync(21);
        await page.FillAsync("#filter-from", "2999-01-01T00:00");
        await page.ClickAsync("#apply");
        await Assertions.Expect(page.Locator("#no-events")).ToBeVisibleAsync();
        await page.FillAsync("#filter-from", "2000-01-01T00:00");
        await page.ClickAsync("#apply");
        await Assertions.Expect(rows.Filter(new LocatorFilterOptions { HasText = "test.filler" })).ToHaveCountAsync(21);
    }

    [Fact]
    public async Task EventsPage_WithMoreThan100Events_PagesOlderAndNewer()
    {
        await AppendAsync("test.page", 150);
        var last = await Dashboard.Runtime.Store.LastPositionAsync(Ct);
        var page = await Dashboard.SignedInPageAsync("/events");
        var rows = page.Locator("#events tbody tr[data-position]");
        await Assertions.Expect(rows).ToHaveCountAsync(100);
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-position", Position(last));
        await Assertions.Expect(page.Locator("#newer")).ToBeDisabledAsync();

        await page.ClickAsync("#older");
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-position", Position(last - 100));
        await page.ClickAsync("#newer");
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-position", Position(last));

        // Filtered, the pages hold matching events only: 100, then the oldest 50.
        await page.FillAsync("#filter-kind", "test.page");
        await page.ClickAsync("#apply");
        await Assertions.Expect(rows).ToHaveCountAsync(100);
        await page.ClickAsync("#older");
        await Assertions.Expect(rows).ToHaveCountAsync(50);
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-position", Position(last - 100));
        await Assertions.Expect(rows.Last).ToHaveAttributeAsync("data-position", Position(last - 149));
        await Assertions.Expect(page.Locator("#older")).ToBeDisabledAsync();
        await page.ClickAsync("#newer");
        await Assertions.Expect(rows).ToHaveCountAsync(100);
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-position", Position(last));
        await Assertions.Expect(page.Locator("#newer")).ToBeDisabledAsync();
    }

    [Fact]
    public async Task EventsPage_VerifyingTheHashChain_ShowsItIntactWithTheEventCount()
    {
        await AppendAsync("test.chain", 5);
        var page = await Dashboard.SignedInPageAsync("/events", Dashboard.ReadOnlyToken);
        await Assertions.Expect(page.Locator("#chain-status")).ToContainTextAsync("Not verified");

        var recorded = await Dashboard.Runtime.Store.LastPositionAsync(Ct);
        await page.ClickAsync("#verify");
        await Assertions.Expect(page.Locator("#chain-status")).ToContainTextAsync("Intact");
        var counted = long.Parse((await page.Locator("#chain-status").TextContentAsync())!.Split(' ')[1].Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(counted >= recorded, $"{counted} events verified");
    }

    [Fact]
    public async Task PoliciesPage_ListsTheRules_AndADryRunShowsTheDecisionsACandidateWouldChange()
    {
        await WriteAsCoderAsync();

        // The read-only token may look and may try a candidate: the dry run changes nothing.
        var page = await Dashboard.SignedInPageAsync("/policies", Dashboard.ReadOnlyToken);
        var rule = page.Locator("#rules tr[data-rule=coder-writes-workspace]");
        await Assertions.Expect(rule.Locator(".tier")).ToHaveTextAsync("approve");
        await Assertions.Expect(rule.Locator(".priority")).ToHaveTextAsync("50");
        await Assertions.Expect(rule.Locator(".match")).ToContainTextAsync("kind: write_file, agent: coder");
        await Assertions.Expect(rule.Locator(".message")).ToHaveTextAsync("writing outside src/ and tests/ needs approval");
        await Assertions.Expect(page.Locator("#rules tr[data-rule=deny-rm-root] .tier")).ToHaveTextAsync("deny");
        await Assertions.Expect(page.Locator("#policy-problem")).ToHaveCountAsync(0);
        var events = await Dashboard.Runtime.Store.LastPositionAsync(Ct);

        await page.FillAsync("#candidate", DenyCoderWrites);
        await page.SelectOptionAsync("#candidate-mode", "add");
        await page.ClickAsync("#dry-run");
        await Assertions.Expect(page.Locator("#changed-count")).ToHaveTextAsync("1");
        var change = page.Locator("#changes tbody tr");
        await Assertions.Expect(change).ToHaveCountAsync(1);
        await Assertions.Expect(change.Locator(".command")).ToHaveTextAsync("src/hello.txt");
        await Assertions.Expect(change.Locator(".before")).ToHaveTextAsync("allow (coder-writes-workspace)");
        await Assertions.Expect(change.Locator(".after")).ToContainTextAsync("→ deny (deny-coder-writes)");
        await DashboardBrowser.ScreenshotAsync(page, "policies");

        // In place of policies/, the candidate denies the write by its own rule all the same.
        await page.SelectOptionAsync("#candidate-mode", "replace");
        await page.ClickAsync("#dry-run");
        await Assertions.Expect(change.Locator(".after")).ToContainTextAsync("→ deny (deny-coder-writes)");

        // A candidate with an error is reported, and nothing is replayed.
        await page.FillAsync("#candidate", "rules:\n  - name: broken\n    tier: sometimes\n");
        await page.ClickAsync("#dry-run");
        await Assertions.Expect(page.Locator("#candidate-problems")).ToContainTextAsync("error");
        await Assertions.Expect(page.Locator("#dry-run-summary")).ToHaveCountAsync(0);
        Assert.Equal(events, await Dashboard.Runtime.Store.LastPositionAsync(Ct));
    }

    [Fact]
    public async Task PoliciesPage_ABrokenChange_IsShownOnEveryPageAndKeepsTheRules_AndAValidOneIsListedAndApplied()
    {
        var page = await Dashboard.SignedInPageAsync("/policies");
        await Assertions.Expect(page.Locator("#rules tr[data-rule=coder-writes-workspace]")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#policies-changed")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("[data-config-problem]")).ToHaveCountAsync(0);

        // A change that does not load: the banner appears live, on the page already open, and the rules stay.
        await File.WriteAllTextAsync(Path.Combine(Dashboard.Home, "policies", "zz-broken.yaml"), "rules:\n  - name: broken\n    tier: sometimes\n", Ct);
        await Dashboard.Runtime.WaitForEventAsync(Runtime.LiveConfig.ConfigEventTypes.ReloadFailed, ("part", "policies"));
        await Assertions.Expect(page.Locator("#config-problem-policies")).ToContainTextAsync("zz-broken.yaml:3:");
        await Assertions.Expect(page.Locator("#config-problem-policies")).ToContainTextAsync("stay in force");
        await Assertions.Expect(page.Locator("#policies-changed")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#rules tr[data-rule=coder-writes-workspace]")).ToHaveCountAsync(1);
        await DashboardBrowser.ScreenshotAsync(page, "policies-broken-change");
        var overview = await Dashboard.SignedInPageAsync("/");
        await Assertions.Expect(overview.Locator("#config-problem-policies")).ToBeVisibleAsync();
        await overview.CloseAsync();

        // The server indeed still applies what it loaded: the coder's write is allowed.
        await WriteAsCoderAsync("src/still-allowed.txt");

        // A valid change applies at once: the page lists its rule, the banner goes, and the coder's write is denied.
        File.Delete(Path.Combine(Dashboard.Home, "policies", "zz-broken.yaml"));
        await File.WriteAllTextAsync(Path.Combine(Dashboard.Home, "policies", "zz-review.yaml"), DenyCoderWrites, Ct);
        var version = Apiary.Governance.PolicyLoader.VersionOf(Apiary.Governance.PolicyLoader.ReadDirectory(Path.Combine(Dashboard.Home, "policies"))!);
        await Dashboard.Runtime.WaitForEventAsync(Runtime.LiveConfig.ConfigEventTypes.Reloaded, ("part", "policies"), ("version", version));
        await Assertions.Expect(page.Locator("#rules tr[data-rule=deny-coder-writes]")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("[data-config-problem]")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#policies-changed")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#policy-version")).ToHaveAttributeAsync("title", version);
        var session = await Dashboard.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct);
        var denied = await Dashboard.Client.ProposeAsync(session.Session.Id, new ProposalRequest("write_file", Path: "src/denied.txt", Content: "no\n"), wait: true, cancellationToken: Ct);
        Assert.Equal(("deny", "deny-coder-writes"), (denied.Decision.Decision, denied.Decision.Rule));
        await page.CloseAsync();
    }

    private static string Position(long position) => position.ToString(System.Globalization.CultureInfo.InvariantCulture);

    // A write inside src/ by the coder: allowed by coder-writes-workspace's auto_approve, and run.
    private async Task WriteAsCoderAsync(string path = "src/hello.txt")
    {
        var session = await Dashboard.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct);
        var proposal = await Dashboard.Client.ProposeAsync(session.Session.Id, new ProposalRequest("write_file", Path: path, Content: "hello\n"), wait: true, cancellationToken: Ct);
        Assert.Equal("allow", proposal.Decision.Decision);
    }

    private async Task AppendAsync(string type, int count)
    {
        var events = Enumerable.Range(0, count).Select(i => new EventData(type, System.Text.Encoding.UTF8.GetBytes($"{{\"i\":{i}}}"))).ToList();
        await Dashboard.Runtime.Store.AppendAsync("dashboard-" + type, ExpectedVersion.Any, events, Ct);
    }
}
