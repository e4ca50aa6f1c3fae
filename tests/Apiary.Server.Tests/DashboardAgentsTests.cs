using Microsoft.Playwright;

namespace Apiary.Server.Tests;

/// <summary>
/// The dashboard's agent views in a real browser against a real server (the sample home, real sandboxes, a scripted
/// model): the list of agents, and one agent's definition with each setting's source, its composed prompt, its memory
/// and the charts of its turns, which grow while the page is open as runs complete.
/// </summary>
[Collection(DashboardBrowser.Collection)]
public sealed class DashboardAgentsTests() : DashboardTest("apiary-dashboard-agents")
{
    [Fact]
    public async Task Agents_SampleHome_ListsEachAgentWithRoleStateAndModelLinkingToItsPage()
    {
        var page = await Dashboard.SignedInPageAsync("/agents");

        var coder = page.Locator("tr[data-agent=coder]");
        await Assertions.Expect(coder.Locator(".role")).ToHaveTextAsync("worker");
        await Assertions.Expect(coder.Locator(".state")).ToHaveTextAsync("stopped");
        await Assertions.Expect(coder.Locator(".model")).ToHaveTextAsync("local/qwen2.5-coder");
        await Assertions.Expect(page.Locator("tr[data-agent=manager] .role")).ToHaveTextAsync("manager");
        await DashboardBrowser.ScreenshotAsync(page, "agents");

        await coder.Locator("a").ClickAsync();
        await page.WaitForURLAsync(Dashboard.Url + "/agents/coder");
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("coder");
        await page.CloseAsync();
    }

    [Fact]
    public async Task Agent_AfterARun_ShowsDefinitionPromptMemoryAndChartsThatGrowLive()
    {
        await File.WriteAllTextAsync(Path.Combine(Dashboard.Home, "agents", "coder", "MEMORY.md"), "The tests run with 'make check'.\n", Ct);
        await RunAsync("say hello", "hello");

        var page = await Dashboard.SignedInPageAsync("/agents/coder");

        // Definition: the frontmatter as written, and each setting in force with where it came from.
        await Assertions.Expect(page.Locator("tr[data-field=description] td")).ToHaveTextAsync("Writes and tests code in its workspace");
        await Assertions.Expect(page.Locator("tr[data-field=budget] td")).ToHaveTextAsync("commands 200, wall_time 30m, tokens 300000, cost_usd 1.50");
        await Assertions.Expect(page.Locator("tr[data-field=workspace] td")).ToHaveTextAsync("not set");
        await Assertions.Expect(page.Locator("tr[data-setting=model] .value")).ToHaveTextAsync("local/qwen2.5-coder");
        await Assertions.Expect(page.Locator("tr[data-setting=model] .source")).ToHaveTextAsync("frontmatter");
        await Assertions.Expect(page.Locator("tr[data-setting='budget.cost_usd'] .value")).ToHaveTextAsync("$1.50");
        await Assertions.Expect(page.Locator("#state")).ToHaveTextAsync("stopped");

        // The composed prompt, with the files it left out and why; the memory is in it and shown on its own.
        await Assertions.Expect(page.Locator("tr[data-file='MEMORY.md']")).ToHaveAttributeAsync("data-status", "included");
        await Assertions.Expect(page.Locator("tr[data-file='USER.md']")).ToHaveAttributeAsync("data-status", "skipped");
        await Assertions.Expect(page.Locator("tr[data-file='USER.md'] .reason")).Not.ToBeEmptyAsync();
        await Assertions.Expect(page.Locator("#prompt")).ToContainTextAsync("=== MEMORY ===");
        await Assertions.Expect(page.Locator("#prompt")).ToContainTextAsync("make check");
        await Assertions.Expect(page.Locator("#memory")).ToHaveTextAsync("The tests run with 'make check'.\n");

        // The run's two turns (the exec, then the answer) in every chart and the totals.
        await Assertions.Expect(page.Locator("#turns")).ToHaveTextAsync("2");
        await Assertions.Expect(page.Locator("#tool-calls")).ToHaveTextAsync("1 (exec 1)");
        await Assertions.Expect(page.Locator("#tokens")).ToHaveTextAsync("200 / 20");
        foreach (var chart in new[] { "#chart-tokens", "#chart-cost", "#chart-duration", "#chart-tools" })
        {
            await Assertions.Expect(page.Locator(chart)).ToHaveAttributeAsync("data-points", "2");
        }

        await Assertions.Expect(page.Locator("#chart-tokens .rz-line-series .rz-marker")).ToHaveCountAsync(4);

        // The chart library's script is at work in the browser: pointing at a turn shows its tooltip.
        await page.Locator("#chart-tokens .rz-series-0 .rz-marker").Last.HoverAsync();
        await Assertions.Expect(page.Locator(".chart-tooltip")).ToContainTextAsync("input 100");
        await Assertions.Expect(page.Locator(".chart-tooltip")).ToContainTextAsync("turn 2");
        await DashboardBrowser.ScreenshotAsync(page, "agent");

        // Another run completes while the page is open: its turns join the charts without a reload.
        await RunAsync("once more", "again");
        await Assertions.Expect(page.Locator("#chart-tokens")).ToHaveAttributeAsync("data-points", "4");
        await Assertions.Expect(page.Locator("#runs")).ToHaveTextAsync("2");
        await Assertions.Expect(page.Locator("#chart-tools .rz-line-series .rz-marker")).ToHaveCountAsync(8);

        // A narrower window still holds them: they all ended within the hour.
        await page.SelectOptionAsync("#window", "1h");
        await Assertions.Expect(page.Locator("#chart-duration")).ToHaveAttributeAsync("data-points", "4");
        await page.CloseAsync();
    }

    [Fact]
    public async Task Agent_FromThePage_StartsARunMessagesTheAgentAndStopsTheRun()
    {
        // The run's first model call waits until the run is stopped.
        Dashboard.Model.Block();
        var page = await Dashboard.SignedInPageAsync("/agents/coder");
        await Assertions.Expect(page.Locator("#no-runs")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#run-start")).ToBeDisabledAsync();

        await page.FillAsync("#run-task", "fix the build");
        await page.ClickAsync("#run-start");
        await Assertions.Expect(page.Locator("#notice")).ToContainTextAsync("started with");
        var row = page.Locator("#runs-now tr[data-run]");
        await Assertions.Expect(row).ToHaveCountAsync(1);
        await Dashboard.Model.Blocked.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var runId = (await row.GetAttributeAsync("data-run"))!;
        var run = await Dashboard.Client.GetRunAsync(runId, Ct);
        Assert.Equal(("coder", "running"), (run.Agent, run.Status));
        await Assertions.Expect(row.Locator("a")).ToHaveAttributeAsync("href", "/sessions/" + run.Session);

        // A message from the operator lands in the agent's inbox.
        await page.FillAsync("#message-body", "the build is red on main");
        await page.FillAsync("#message-thread", "build");
        await page.ClickAsync("#message-send");
        await Assertions.Expect(page.Locator("#notice")).ToContainTextAsync("Sent to coder");
        var inbox = await Dashboard.Client.ReadInboxAsync("coder", cancellationToken: Ct);
        var message = Assert.Single(inbox.Messages);
        Assert.Equal(("operator", "build", "the build is red on main"), (message.From, message.Thread, message.Body));
        await DashboardBrowser.ScreenshotAsync(page, "agent-steer");

        // Stop: the run's session kill switch ends it, and the page's list empties without a reload.
        await row.Locator("button.stop").ClickAsync();
        await Assertions.Expect(row).ToHaveCountAsync(0);
        Assert.Equal("killed", (await Dashboard.Client.GetRunAsync(runId, Ct)).Status);
        await page.CloseAsync();
    }

    [Fact]
    public async Task Agent_ReadOnly_CannotStartMessageOrStop()
    {
        var page = await Dashboard.SignedInPageAsync("/agents/coder", Dashboard.ReadOnlyToken);

        await Assertions.Expect(page.Locator("#read-only")).ToBeVisibleAsync();
        await page.FillAsync("#run-task", "anything");
        await page.FillAsync("#message-body", "anything");
        await Assertions.Expect(page.Locator("#run-start")).ToBeDisabledAsync();
        await Assertions.Expect(page.Locator("#message-send")).ToBeDisabledAsync();

        // A form submitted anyway (the button enabled by hand) changes nothing.
        await page.EvalOnSelectorAsync("#run-start", "b => b.disabled = false");
        await page.ClickAsync("#run-start");
        await Assertions.Expect(page.Locator("#notice")).ToContainTextAsync("read-only");
        Assert.Empty(Dashboard.Runtime.Runs.AgentRuns);
        await page.CloseAsync();
    }

    [Fact]
    public async Task Agent_Unknown_SaysSo()
    {
        var page = await Dashboard.SignedInPageAsync("/agents/nobody");

        await Assertions.Expect(page.Locator("#unknown")).ToContainTextAsync("no agent 'nobody'");
        await page.CloseAsync();
    }

    /// <summary>Runs agent coder to its end: one exec, then an answer.</summary>
    private async Task RunAsync(string task, string word)
    {
        Dashboard.Model.Exec("echo", word).Answer("done: " + word);
        var run = await Dashboard.Client.StartRunAsync("coder", new StartRunRequest(task), Ct);
        await Dashboard.Client.ReadRunToFinishAsync(run.Id);
    }
}
