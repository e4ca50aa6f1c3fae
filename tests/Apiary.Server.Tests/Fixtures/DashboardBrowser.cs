using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Apiary.Server.Tests;

/// <summary>
/// What every dashboard browser test needs: a real server on a loopback port (real sandboxes, the sample home and
/// policies, a scripted model), an API client with the operator token, and Debian's chromium driven by Playwright
/// (no browser download). Pages refuse to load anything from outside Apiary. Dispose it at the end of the test class.
/// </summary>
internal sealed class DashboardBrowser : IAsyncDisposable
{
    public const string Chromium = "/usr/bin/chromium";

    /// <summary>
    /// The collection of the browser test classes: they run one class at a time, not beside each other (each has a
    /// server and a chromium of its own; several at once on a small machine measure the machine, not the dashboard).
    /// </summary>
    public const string Collection = "dashboard browser";

    private readonly TempDirectory _root;
    private readonly HttpClient _http;
    private readonly IPlaywright _playwright;

    // Requests any page made outside Apiary, checked when the fixture is disposed (not in Playwright's event handler,
    // whose thread must never throw).
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _elsewhere = new();

    // Requests to Apiary that failed (a missing asset, such as a font a stylesheet names), checked the same way.
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _failed = new();

    private DashboardBrowser(TempDirectory root, ApiaryServer server, HttpClient http, ApiaryClient client, IPlaywright playwright, IBrowser browser, ScriptedChatClient model)
    {
        _root = root;
        Server = server;
        _http = http;
        Client = client;
        _playwright = playwright;
        Browser = browser;
        Model = model;
    }

    public ApiaryServer Server { get; }

    public ApiaryClient Client { get; }

    public IBrowser Browser { get; }

    /// <summary>The model every agent run calls.</summary>
    public ScriptedChatClient Model { get; }

    public ApiaryRuntime Runtime => Server.App.Services.GetRequiredService<ApiaryRuntime>();

    public string Url => Server.Url;

    public string Home => _root["home"];

    public string ReadOnlyToken => File.ReadAllText(Path.Combine(Home, "keys", "readonly.token")).Trim();

    /// <summary>Where screenshots go: <c>screenshots/</c> beside the test binary (kept as test artifacts).</summary>
    public static string Screenshots => Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "screenshots")).FullName;

    /// <summary>
    /// Proposes <paramref name="request"/>, which the sample policies send to approval (building runs the agent's own
    /// code), approves it for the session as an operator would, and waits for it to end: later proposals of the same
    /// session under the same rule then run at once.
    /// </summary>
    public async Task<ProposalDto> ApproveForSessionAsync(string session, ProposalRequest request, CancellationToken cancellationToken)
    {
        var pending = await Client.ProposeAsync(session, request, cancellationToken: cancellationToken);
        Assert.Equal("pending_approval", pending.Status);
        await Client.ApproveAsync(pending.Decision.TicketId!, forSession: true, cancellationToken);
        return await Client.WaitForProposalEndAsync(pending.Id);
    }

    public static async Task<DashboardBrowser> StartAsync(string name, CancellationToken cancellationToken)
    {
        Assert.True(File.Exists(Chromium), $"the browser tests drive Debian's chromium at {Chromium}: apt-get install chromium (.ci/run does)");
        var root = new TempDirectory(name);
        var model = new ScriptedChatClient();
        var server = await ApiaryServer.StartAsync(
            new ServerOptions { Home = root["home"], Urls = "http://127.0.0.1:0", UserHome = root.Path, LoggerFactory = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, Models = new ScriptedModelCatalog(model) },
            cancellationToken);
        var http = new HttpClient { BaseAddress = new Uri(server.Url) };
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true });
        return new DashboardBrowser(root, server, http, new ApiaryClient(http, server.OperatorToken), playwright, browser, model);
    }

    /// <summary>
    /// A new page at laptop width; a request it makes outside Apiary, or one that fails, fails the test when the fixture is
    /// disposed.
    /// </summary>
    public async Task<IPage> NewPageAsync()
    {
        var page = await Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        page.Request += (_, request) =>
        {
            if (!request.Url.StartsWith(Url, StringComparison.Ordinal) && !request.Url.StartsWith("data:", StringComparison.Ordinal))
            {
                _elsewhere.Enqueue(request.Url);
            }
        };
        page.Response += (_, response) =>
        {
            if (response.Status >= 400)
            {
                _failed.Enqueue($"{response.Status} {response.Url}");
            }
        };
        page.RequestFailed += (_, request) =>
        {
            // An aborted request is the page moving on (a navigation, a closed page), not a failure of Apiary's.
            if (request.Failure != "net::ERR_ABORTED")
            {
                _failed.Enqueue($"{request.Failure} {request.Url}");
            }
        };
        return page;
    }

    /// <summary>A page signed in with <paramref name="token"/> (the operator's by default) at <paramref name="path"/>, live over its circuit.</summary>
    public async Task<IPage> SignedInPageAsync(string path, string? token = null)
    {
        var page = await NewPageAsync();
        await page.GotoAsync(Url + "/signin?return_url=" + Uri.EscapeDataString(path));
        await page.FillAsync("#token", token ?? Server.OperatorToken);
        await page.ClickAsync("#signin");
        await page.WaitForURLAsync(Url + path);

        // Interactive once the circuit is up (the layout then renders #live): the buttons work from then on.
        await page.Locator("#live").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached, Timeout = 15000 });
        return page;
    }

    public static Task ScreenshotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, name + ".png"), FullPage = true });

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright.Dispose();
        Client.Dispose();
        _http.Dispose();
        await Server.DisposeAsync();
        _root.Dispose();
        Assert.Empty(_elsewhere);
        Assert.Empty(_failed);
    }
}
