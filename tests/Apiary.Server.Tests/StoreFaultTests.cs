using Apiary.Home;
using Microsoft.Playwright;

namespace Apiary.Server.Tests;

/// <summary>
/// A real <c>apiary up</c> whose event store meets a write fault (a full disk; an index made immutable, which SQLite
/// would be killed for with SIGBUS) denies every proposal while it lasts, says why on <c>/readyz</c> (503) and in its
/// log, heals by itself when the fault clears, and stops cleanly with exit 0, during a fault too. The dashboard shows
/// the fault on every page while it lasts.
/// </summary>
public sealed class StoreFaultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task DiskFull_ProposalsDeniedAndReadyz503WithTheReason_FreedHealsAlone_ThenStopsWithExit0()
    {
        Assert.SkipUnless(FaultyDisk.Available, "mounting a small file system takes root");
        using var user = new TempDirectory("apiary-fault");
        using var disk = new FaultyDisk(megabytes: 24);
        var home = new ApiaryHome(disk["home"], user.Path);
        await using var server = await UpProcess.StartAsync(home, user.Path, Ct);
        var session = await OpenAsync(server);
        Assert.Equal("completed", (await EchoAsync(server, session)).Status);

        disk.Fill();

        // The log may have room left in pages it already has; proposing soon reaches the end of it.
        ProposalDto? denied = null;
        for (var i = 0; i < 200 && denied is null; i++)
        {
            var proposal = await EchoAsync(server, session);
            denied = proposal.Status == "denied" ? proposal : null;
        }

        Assert.NotNull(denied);
        Assert.Contains("could not be recorded", denied.Decision.Reason, StringComparison.Ordinal);
        var (status, store) = await ReadyAsync(server);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.False(store.Ready);
        Assert.Contains("cannot write", store.Detail, StringComparison.Ordinal);
        Assert.Contains("full", store.Detail, StringComparison.Ordinal);

        // The store tries a write of its own every 2 seconds while a fault lasts: no append is needed to heal, and the
        // server says when it writes again.
        disk.Free();
        await server.WaitForErrorLineAsync("writes again", Ct);
        Assert.Equal(HttpStatusCode.OK, (await ReadyAsync(server)).Status);
        Assert.Equal("completed", (await EchoAsync(server, session)).Status);

        Assert.Equal(0, await server.StopAsync(Ct));
        var error = await server.Error;
        Assert.Contains("cannot write", error, StringComparison.Ordinal);
        Assert.Contains("writes again", error, StringComparison.Ordinal);
        Assert.Contains("apiary: stopped", await server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IndexImmutable_NoSignal_ProposalsDeniedWithTheReason_AndAStopDuringTheFaultIsExit0()
    {
        Assert.SkipUnless(FaultyDisk.Available, "chattr +i takes root");
        using var root = new TempDirectory("apiary-fault");
        var home = new ApiaryHome(root["home"], root.Path);
        await using var server = await UpProcess.StartAsync(home, root.Path, Ct);
        var session = await OpenAsync(server);
        Assert.Equal("completed", (await EchoAsync(server, session)).Status);

        using (FaultyDisk.Freeze(Path.Combine(home.Root, "events.db-shm")))
        {
            // Before the guard, this killed the server with SIGBUS.
            var denied = await EchoAsync(server, session);
            Assert.Equal("denied", denied.Status);
            Assert.Contains("immutable", denied.Decision.Reason, StringComparison.Ordinal);
            var (status, store) = await ReadyAsync(server);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Contains("immutable", store.Detail, StringComparison.Ordinal);

            Assert.Equal(0, await server.StopAsync(Ct));
        }

        Assert.Contains("apiary: stopped", await server.Output, StringComparison.Ordinal);
    }

    private static async Task<string> OpenAsync(UpProcess server)
    {
        using var response = await server.Http.PostAsJsonAsync("/api/sessions", new OpenSessionRequest("coder"), ApiJsonContext.Default.OpenSessionRequest, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.OpenSessionResponse, Ct))!.Session.Id;
    }

    private static async Task<ProposalDto> EchoAsync(UpProcess server, string session)
    {
        using var response = await server.Http.PostAsJsonAsync($"/api/sessions/{session}/proposals?wait=true", new ProposalRequest("exec", Command: "echo", Args: ["hello"]), ApiJsonContext.Default.ProposalRequest, Ct);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ProposalDto, Ct))!;
    }

    private static async Task<(HttpStatusCode Status, ReadinessCheckDto Store)> ReadyAsync(UpProcess server)
    {
        using var response = await server.Http.GetAsync("/readyz", Ct);
        var readiness = (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ReadinessDto, Ct))!;
        return (response.StatusCode, readiness.Checks.Single(c => c.Name == "store"));
    }
}

/// <summary>The dashboard says, on every page and live, that the event store cannot write, and stops saying it when it can.</summary>
[Collection(DashboardBrowser.Collection)]
public sealed class DashboardStoreFaultTests() : DashboardTest("apiary-dashboard-fault")
{
    [Fact]
    public async Task IndexImmutable_TheBannerShowsTheFault_AndGoesWhenTheStoreWritesAgain()
    {
        Assert.SkipUnless(FaultyDisk.Available, "chattr +i takes root");
        var page = await Dashboard.SignedInPageAsync("/approvals");
        await page.Locator("#live").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached, Timeout = 15000 });
        await Assertions.Expect(page.Locator("#store-fault")).ToHaveCountAsync(0);
        var session = await Dashboard.Client.OpenSessionAsync("coder", Ct);

        using (FaultyDisk.Freeze(Path.Combine(Dashboard.Home, "events.db-shm")))
        {
            var denied = await Dashboard.Client.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "echo", Args: ["hello"]), cancellationToken: Ct);
            Assert.Equal("denied", denied.Status);
            await Assertions.Expect(page.Locator("#store-fault")).ToContainTextAsync("cannot write");
            await Assertions.Expect(page.Locator("#store-fault")).ToContainTextAsync("immutable");
            await DashboardBrowser.ScreenshotAsync(page, "store-fault");
        }

        await Assertions.Expect(page.Locator("#store-fault")).ToHaveCountAsync(0, new LocatorAssertionsToHaveCountOptions { Timeout = 30000 });
    }
}
