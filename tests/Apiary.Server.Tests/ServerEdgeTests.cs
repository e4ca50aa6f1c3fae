using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace Apiary.Server.Tests;

/// <summary>
/// The server's edge attacked over a real loopback socket: a request for another host (DNS rebinding), what an anonymous
/// caller learns, and a flood of refused tokens.
/// </summary>
public sealed class ServerEdgeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly (string Method, string Path)[] EveryKindOfRoute =
    [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/openapi/v1.json"),
        ("GET", "/api/agents"),
        ("POST", "/api/sessions"),
        ("POST", "/api/kill-switches"),
        ("GET", "/api/events/stream"),
        ("GET", "/"),
        ("GET", "/signin"),
        ("POST", "/auth/signin"),
        ("POST", "/auth/signout"),
        ("POST", "/_blazor/negotiate?negotiateVersion=1"),
        ("GET", "/_framework/blazor.web.js"),
        ("GET", "/no/such/route"),
    ];

    [Fact]
    public async Task EveryRoute_WithAForeignHost_IsRefusedAndRecordsNothing()
    {
        await using var t = await TestServer.StartAsync();
        var runtime = t.Runtime;
        var port = new Uri(t.Server.Url).Port;
        var before = await runtime.EventsAsync(_ => true);
        string[] hosts =
        [
            "evil.example",
            $"evil.example:{port}",
            $"127.0.0.1.evil.example:{port}",
            $"localhost.evil.example:{port}",
            $"localhost:{port + 1}",
            $"127.0.0.1:{port + 1}",
            "localhost",
            "0.0.0.0:" + port,
            "[::ffff:127.0.0.1]:" + port,
        ];

        foreach (var host in hosts)
        {
            foreach (var (method, path) in EveryKindOfRoute)
            {
                // Even with the operator token, and a body that would otherwise engage the global kill switch.
                using var http = t.Client(t.Server.OperatorToken);
                using var request = new HttpRequestMessage(new HttpMethod(method), path)
                {
                    Content = method == "POST" ? new StringContent("""{"agent":"coder","level":"global","reason":"rebound"}""", Encoding.UTF8, "application/json") : null,
                };
                request.Headers.Host = host;

                using var response = await http.SendAsync(request, Ct);

                var body = await response.Content.ReadAsStringAsync(Ct);
                Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"Host {host}, {method} {path}: {(int)response.StatusCode} {body}");
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                Assert.Contains("Unknown host", body, StringComparison.Ordinal);
                Assert.DoesNotContain(t.Home, body, StringComparison.Ordinal);
                Assert.False(response.Headers.Contains("Set-Cookie"), $"Host {host}, {method} {path} set a cookie");
            }
        }

        Assert.Equal(before.Count, (await runtime.EventsAsync(_ => true)).Count);
        Assert.Empty(runtime.Sessions.All);
    }

    [Fact]
    public async Task TheServersOwnNames_WithItsPort_AreServed()
    {
        await using var t = await TestServer.StartAsync();
        var port = new Uri(t.Server.Url).Port.ToString(CultureInfo.InvariantCulture);

        foreach (var host in new[] { "127.0.0.1:" + port, "localhost:" + port, "LocalHost:" + port, "[::1]:" + port })
        {
            using var http = t.Client(null);
            using var request = new HttpRequestMessage(HttpMethod.Get, "/healthz");
            request.Headers.Host = host;

            using var response = await http.SendAsync(request, Ct);

            Assert.True(response.StatusCode == HttpStatusCode.OK, $"Host {host}: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task HostsTheHomeAndTheCommandLineAllow_AreServed_AndNoOthers()
    {
        using var root = new TempDirectory("apiary-edge-hosts");
        root.Write("home/apiary.yaml", "server:\n  allowed_hosts: [apiary.example.org]\n");
        await using var server = await ApiaryServer.StartAsync(
            new ServerOptions { Home = root["home"], Urls = "http://127.0.0.1:0", UserHome = root.Path, AllowedHosts = ["10.1.2.3:8443"] }, Ct);
        var port = new Uri(server.Url).Port.ToString(CultureInfo.InvariantCulture);
        using var http = new HttpClient { BaseAddress = new Uri(server.Url) };

        foreach (var (host, served) in new[]
        {
            ("apiary.example.org", true), ("apiary.example.org:" + port, true), ("10.1.2.3:8443", true),
            ("apiary.example.org:8443", false), ("10.1.2.3:" + port, false), ("10.1.2.3", false), ("evil.example:" + port, false),
        })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/healthz");
            request.Headers.Host = host;

            using var response = await http.SendAsync(request, Ct);

            Assert.True((response.StatusCode == HttpStatusCode.OK) == served, $"Host {host}: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task AnonymousAnswers_NameNothingOfTheHome_WhileATokenGetsTheDetails()
    {
        await using var t = await TestServer.StartAsync();
        string[] secrets = [Path.GetDirectoryName(t.Home)!, "events.db", "bubblewrap", typeof(ApiaryServer).Assembly.GetName().Version!.ToString(3)];
        using var anonymous = t.Client(null);

        foreach (var path in new[] { "/healthz", "/readyz", "/openapi/v1.json", "/signin", "/", "/api/agents", "/no/such/route" })
        {
            using var response = await anonymous.GetAsync(path, Ct);
            var answer = response.Headers + "\n" + response.Content.Headers + "\n" + await response.Content.ReadAsStringAsync(Ct);
            foreach (var secret in secrets)
            {
                Assert.False(answer.Contains(secret, StringComparison.Ordinal), $"GET {path} without a token names '{secret}':\n{answer}");
            }
        }

        var ready = await anonymous.GetFromJsonAsync("/readyz", ApiJsonContext.Default.ReadinessDto, Ct);
        Assert.True(ready!.Ready);
        Assert.Equal(["store", "policies", "config", "sandbox"], ready.Checks.Select(c => c.Name));
        Assert.All(ready.Checks, c => Assert.Equal("ok", c.Detail));

        // With a token (the CLI sends the operator's), the details are there.
        var detailed = await t.Http.GetFromJsonAsync("/readyz", ApiJsonContext.Default.ReadinessDto, Ct);
        Assert.Equal(Path.Combine(t.Home, "events.db"), detailed!.Checks.Single(c => c.Name == "store").Detail);
        Assert.Equal("bubblewrap", detailed.Checks.Single(c => c.Name == "sandbox").Detail);

        // A token the server does not know is refused, not taken for no token.
        using var wrong = t.Client("not-a-token");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/readyz", Ct)).StatusCode);
    }

    [Theory]
    [InlineData("GET", "/API/agents")]
    [InlineData("GET", "/Api/Agents")]
    [InlineData("GET", "/api/AGENTS/coder")]
    [InlineData("GET", "/%61pi/agents")]
    [InlineData("GET", "/api//agents")]
    [InlineData("GET", "//api/agents")]
    [InlineData("GET", "/api/agents/")]
    [InlineData("GET", "/api/./agents")]
    [InlineData("GET", "/x/../api/agents")]
    [InlineData("POST", "/API/kill-switches")]
    [InlineData("POST", "/API/SESSIONS")]
    public async Task ApiRoutes_SpelledAnotherWay_StillNeedAToken(string method, string path)
    {
        await using var t = await TestServer.StartAsync();
        using var anonymous = t.Client(null);
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(t.Server.Url + path))
        {
            Content = method == "POST" ? new StringContent("""{"agent":"coder","level":"global","reason":"case"}""", Encoding.UTF8, "application/json") : null,
        };

        using var response = await anonymous.SendAsync(request, Ct);

        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.NotFound, $"{method} {path}: {(int)response.StatusCode} {body}");
        Assert.DoesNotContain(t.Home, body, StringComparison.Ordinal);
        Assert.Empty(t.Runtime.Sessions.All);
        Assert.Empty(await t.Http.GetFromJsonAsync("/api/kill-switches", ApiJsonContext.Default.IReadOnlyListKillSwitchDto, Ct) ?? []);
    }

    [Fact]
    public async Task AThousandRefusedRequests_AppendAHandfulOfEvents_WithTheirCountAndNoToken()
    {
        using var root = new TempDirectory("apiary-edge-flood");
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 21, 9, 0, 0, TimeSpan.Zero));
        await using var server = await ApiaryServer.StartAsync(
            new ServerOptions { Home = root["home"], Urls = "http://127.0.0.1:0", UserHome = root.Path, RejectionClock = clock }, Ct);
        var runtime = server.App.Services.GetRequiredService<ApiaryRuntime>();
        const string Wrong = "wrong-token-that-must-never-be-recorded";
        using var http = new HttpClient { BaseAddress = new Uri(server.Url) };
        string[] paths = ["/api/agents", "/api/sessions", "/api/events/stream", "/readyz"];

        for (var i = 0; i < 1000; i++)
        {
            var path = paths[i % paths.Length];
            using var request = new HttpRequestMessage(path == "/api/sessions" ? HttpMethod.Post : HttpMethod.Get, path);
            if (i % 3 == 0 || path == "/readyz")
            {
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Wrong);
            }

            using var response = await http.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var rejected = await runtime.EventsAsync(e => e.Type == ServerEventTypes.AuthRejected);
        Assert.Equal("1", LogWaiter.Field(Assert.Single(rejected), "count"));

        // A minute on, one summary counts the rest, with the paths it saw.
        clock.Advance(AuthRejections.Interval);
        var summary = await runtime.WaitForEventAsync(e => e.Type == ServerEventTypes.AuthRejected && LogWaiter.Field(e, "count") != "1", "the summary of the refusals");
        Assert.Equal("999", LogWaiter.Field(summary, "count"));
        Assert.Equal("127.0.0.1", LogWaiter.Field(summary, "remote"));
        var seen = LogWaiter.Field(summary, "paths")!;
        foreach (var request in new[] { "GET /api/agents", "POST /api/sessions", "GET /api/events/stream", "GET /readyz" })
        {
            Assert.Contains(request, seen, StringComparison.Ordinal);
        }

        var all = await runtime.EventsAsync(_ => true);
        Assert.Equal(2, all.Count(e => e.Type == ServerEventTypes.AuthRejected));
        Assert.DoesNotContain(all, e => Encoding.UTF8.GetString(e.Data.Span).Contains(Wrong, StringComparison.Ordinal));
    }
}
