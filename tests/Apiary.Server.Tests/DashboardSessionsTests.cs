using Microsoft.Playwright;

namespace Apiary.Server.Tests;

/// <summary>
/// The sessions view in a real browser against a real server (real sandboxes, the sample home and policies): a
/// command's output live as it streams, stdout and stderr told apart; a denied proposal's rule and reason; and the
/// messages to the session's agent. Screenshots go to <c>screenshots/</c> beside the test binary.
/// </summary>
[Collection(DashboardBrowser.Collection)]
public sealed class DashboardSessionsTests() : DashboardTest("apiary-dashboard-sessions")
{
    // The sample policies let the coder run 'make' (coder-runs-tests) once a person approves it, and no shell, so the
    // script is a Makefile's recipe (which make runs with /bin/sh in the sandbox): a line on each stream, a pause, then
    // one more line. The session's approval is given first, so the command under test runs at once.
    private const string Makefile = "all:\n\t@echo out\n\t@echo err >&2\n\t@sleep 1\n\t@echo later\n";

    [Fact]
    public async Task SessionPage_StreamsACommandsOutputLive_StdoutAndStderrApart()
    {
        var session = (await Dashboard.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct)).Session.Id;
        var written = await Dashboard.Client.ProposeAsync(session, new ProposalRequest("write_file", Path: "src/Makefile", Content: Makefile), wait: true, cancellationToken: Ct);
        Assert.Equal("completed", written.Status);
        await Dashboard.ApproveForSessionAsync(session, new ProposalRequest("exec", Command: "make", Args: ["--version"]), Ct);

        // The page is open before the command starts: everything it shows of the output came live.
        var page = await Dashboard.SignedInPageAsync("/sessions/" + session);
        await Assertions.Expect(page.Locator("h1")).ToContainTextAsync("of coder");
        var running = await Dashboard.Client.ProposeAsync(session, new ProposalRequest("exec", Command: "make", Args: ["-s", "-f", "src/Makefile"]), wait: false, cancellationToken: Ct);
        Assert.Equal("running", running.Status);

        var output = page.Locator($"article.output[data-proposal='{running.Id}']");
        var stdout = output.Locator(".seg[data-stream=stdout] .text");
        var stderr = output.Locator(".seg[data-stream=stderr] .text");
        await Assertions.Expect(stdout.Filter(new() { HasTextString = "out" })).ToHaveCountAsync(1, new() { Timeout = 5000 });
        await Assertions.Expect(stderr.Filter(new() { HasTextString = "err" })).ToHaveCountAsync(1, new() { Timeout = 5000 });
        await Assertions.Expect(output.Locator(".seg[data-stream=stderr] .stream-label")).ToHaveTextAsync("stderr");
        Assert.DoesNotContain("err", string.Concat(await stdout.AllTextContentsAsync()), StringComparison.Ordinal);
        Assert.DoesNotContain("out", string.Concat(await stderr.AllTextContentsAsync()), StringComparison.Ordinal);

        // A second later the command writes again, and the page shows it without a reload.
        await Assertions.Expect(stdout.Filter(new() { HasTextString = "later" })).ToHaveCountAsync(1, new() { Timeout = 10000 });
        var row = page.Locator($"#proposals tr[data-proposal='{running.Id}']");
        await Assertions.Expect(row.Locator(".status")).ToHaveTextAsync("completed", new() { Timeout = 10000 });
        await Assertions.Expect(row.Locator(".rule")).ToHaveTextAsync("coder-runs-tests");
        await Assertions.Expect(row.Locator(".result")).ToContainTextAsync("exit code 0");
        await Assertions.Expect(output.Locator(".status")).ToHaveTextAsync("completed");
        await DashboardBrowser.ScreenshotAsync(page, "session");
    }

    [Fact]
    public async Task SessionPage_ShowsADenialsRuleAndReason_AndTheMessagesToItsAgent_Live()
    {
        var session = (await Dashboard.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct)).Session.Id;
        var list = await Dashboard.SignedInPageAsync("/sessions");
        var listed = list.Locator($"#sessions tr[data-session='{session}']");
        await Assertions.Expect(listed).ToContainTextAsync("coder");
        await Assertions.Expect(listed).ToContainTextAsync("open");
        await Assertions.Expect(listed.Locator(".proposals")).ToHaveTextAsync("0");
        await listed.Locator("a").ClickAsync();
        await list.WaitForURLAsync(Dashboard.Url + "/sessions/" + session);
        var page = list;
        await Assertions.Expect(page.Locator("#no-proposals")).ToBeVisibleAsync();

        var denied = await Dashboard.Client.ProposeAsync(session, new ProposalRequest("exec", Command: "rm", Args: ["-rf", "/"]), cancellationToken: Ct);
        Assert.Equal("denied", denied.Status);
        var row = page.Locator($"#proposals tr[data-proposal='{denied.Id}']");
        await Assertions.Expect(row.Locator(".what")).ToHaveTextAsync("rm -rf /");
        await Assertions.Expect(row.Locator(".decision")).ToHaveTextAsync("deny");
        await Assertions.Expect(row.Locator(".rule")).ToHaveTextAsync("deny-rm-root");
        await Assertions.Expect(row.Locator(".reason")).ToHaveTextAsync("deleting the root or home folder is never allowed");
        await Assertions.Expect(row.Locator(".explanation")).ToContainTextAsync("policy");
        await Assertions.Expect(row.Locator(".status")).ToHaveTextAsync("denied");
        await Assertions.Expect(page.Locator($"article.output[data-proposal='{denied.Id}']")).ToHaveCountAsync(0);

        var sent = await Dashboard.Client.SendMessageAsync(new SendMessageRequest("coder", "run the tests before you push"), Ct);
        var message = page.Locator($"#messages tr[data-message='{sent.Message!.Id}']");
        await Assertions.Expect(message.Locator(".from")).ToHaveTextAsync("operator");
        await Assertions.Expect(message.Locator(".to")).ToHaveTextAsync("coder");
        await Assertions.Expect(message.Locator(".dir")).ToHaveTextAsync("in");
        await Assertions.Expect(message.Locator(".body")).ToContainTextAsync("run the tests before you push");
        await DashboardBrowser.ScreenshotAsync(page, "session-denied");

        await list.GotoAsync(Dashboard.Url + "/sessions");
        await Assertions.Expect(list.Locator($"#sessions tr[data-session='{session}'] .proposals")).ToHaveTextAsync("1");
        await DashboardBrowser.ScreenshotAsync(list, "sessions");
    }
}
