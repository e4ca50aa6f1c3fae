using System.Text.RegularExpressions;

namespace Apiary.Server.Tests;

/// <summary>
/// The dashboard's sign-in, attacked over HTTP: pages and the circuit's hub without a sign-in, a sign-in form posted
/// without its antiforgery token, an agent's session token, a wrong token, and a return address that leads elsewhere.
/// </summary>
public sealed partial class DashboardAuthTests() : InMemoryServerTest("apiary-dashboard-auth")
{
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 21, 9, 0, 0, TimeSpan.Zero));

    public override async ValueTask InitializeAsync() => await StartAsync(rejectionClock: _clock);

    [Theory]
    [InlineData("/")]
    [InlineData("/approvals")]
    [InlineData("/sessions")]
    [InlineData("/policies")]
    public async Task APage_WithoutASignIn_RedirectsToTheSignInPage(string path)
    {
        using var response = await Host.Http.GetAsync(path, Ct);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/signin?return_url=" + Uri.EscapeDataString(path), response.Headers.Location!.PathAndQuery);
    }

    [Fact]
    public async Task TheCircuitHub_WithoutASignIn_IsRefused()
    {
        using var response = await Host.Http.PostAsync("/_blazor/negotiate?negotiateVersion=1", null, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task ASignInPostedWithoutItsAntiforgeryToken_IsRefused_EvenWithTheOperatorToken()
    {
        using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = Host.Server.OperatorToken, ["return_url"] = "/" });
        using var response = await Host.Http.PostAsync("/auth/signin", form, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False(response.Headers.Contains("Set-Cookie") && response.Headers.GetValues("Set-Cookie").Any(c => c.StartsWith("apiary.dashboard=", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task ASessionToken_AndAWrongToken_DoNotSignIn_AndAreRecorded()
    {
        var session = await Host.Client.OpenSessionAsync(new Apiary.Contracts.OpenSessionRequest("coder"), Ct);

        using var asAgent = await SignInAsync(session.Token, "/");
        Assert.Equal("/signin?error=session&return_url=%2F", asAgent.Headers.Location!.OriginalString);
        Assert.DoesNotContain(Cookies(asAgent), c => c.StartsWith("apiary.dashboard=", StringComparison.Ordinal));

        using var wrong = await SignInAsync("not-a-token", "/");
        Assert.Equal("/signin?error=unknown&return_url=%2F", wrong.Headers.Location!.OriginalString);
        Assert.DoesNotContain(Cookies(wrong), c => c.StartsWith("apiary.dashboard=", StringComparison.Ordinal));

        // The first refusal is recorded at once; the second, from the same address, is counted into a summary a minute on.
        _clock.Advance(AuthRejections.Interval);
        await Host.Runtime.WaitForEventAsync(e => e.Type == ServerEventTypes.AuthRejected && LogWaiter.Field(e, "since") is not null, "the summary of the refusals");
        var rejected = await Host.Runtime.EventsAsync(e => e.Type == ServerEventTypes.AuthRejected && LogWaiter.Field(e, "path") == "/auth/signin");
        Assert.Equal(["a session token cannot sign in to the dashboard", "unknown token"], rejected.Select(e => LogWaiter.Field(e, "reason")));
        Assert.Equal(["1", "1"], rejected.Select(e => LogWaiter.Field(e, "count")));
        Assert.DoesNotContain(rejected, e => System.Text.Encoding.UTF8.GetString(e.Data.Span).Contains(session.Token, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("//evil.example/x")]
    [InlineData("https://evil.example/")]
    [InlineData("/\\evil.example")]
    public async Task ASignIn_NeverRedirectsOutsideTheDashboard(string returnUrl)
    {
        using var response = await SignInAsync(Host.Server.OperatorToken, returnUrl);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/", response.Headers.Location!.OriginalString);
        Assert.Contains(Cookies(response), c => c.StartsWith("apiary.dashboard=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ASignOutPostedWithoutThePagesAntiforgeryToken_DoesNotSignOut()
    {
        var cookies = await SignedInCookiesAsync();

        // A form on another site: no token at all, or one the attacker fetched for itself from the sign-in page.
        using var attackersPage = await Host.Http.GetAsync("/signin", Ct);
        var attackersToken = AntiforgeryField().Match(await attackersPage.Content.ReadAsStringAsync(Ct)).Groups["value"].Value;
        foreach (var fields in new[] { new Dictionary<string, string>(), new Dictionary<string, string> { ["__RequestVerificationToken"] = attackersToken } })
        {
            using var response = await PostWithCookiesAsync("/auth/signout", fields, cookies, origin: "https://evil.example");

            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.DoesNotContain(Cookies(response), c => c.StartsWith("apiary.dashboard=", StringComparison.Ordinal));
        }

        // Still signed in.
        using var page = await GetWithCookiesAsync("/approvals", cookies);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }

    [Fact]
    public async Task TheSignOutButtonsForm_SignsOut()
    {
        var cookies = await SignedInCookiesAsync();
        using var page = await GetWithCookiesAsync("/", cookies);
        var token = AntiforgeryField().Match(await page.Content.ReadAsStringAsync(Ct)).Groups["value"].Value;
        Assert.NotEmpty(token);
        Keep(cookies, page);

        using var response = await PostWithCookiesAsync("/auth/signout", new Dictionary<string, string> { ["__RequestVerificationToken"] = token }, cookies);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/signin", response.Headers.Location!.OriginalString);
        Assert.Contains(Cookies(response), c => c.StartsWith("apiary.dashboard=;", StringComparison.Ordinal));
    }

    /// <summary>The cookies of a browser signed in with the operator token: the antiforgery cookie and the sign-in cookie.</summary>
    private async Task<Dictionary<string, string>> SignedInCookiesAsync()
    {
        var cookies = new Dictionary<string, string>(StringComparer.Ordinal);
        using var signedIn = await SignInAsync(Host.Server.OperatorToken, "/", cookies);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Keep(cookies, signedIn);
        Assert.Contains("apiary.dashboard", cookies.Keys);
        return cookies;
    }

    private async Task<HttpResponseMessage> GetWithCookiesAsync(string path, Dictionary<string, string> cookies)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        AddCookies(request, cookies);
        return await Host.Http.SendAsync(request, Ct);
    }

    private async Task<HttpResponseMessage> PostWithCookiesAsync(string path, Dictionary<string, string> fields, Dictionary<string, string> cookies, string? origin = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(fields) };
        AddCookies(request, cookies);
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        return await Host.Http.SendAsync(request, Ct);
    }

    private static void AddCookies(HttpRequestMessage request, Dictionary<string, string> cookies)
    {
        if (cookies.Count > 0)
        {
            request.Headers.Add("Cookie", string.Join("; ", cookies.Select(c => $"{c.Key}={c.Value}")));
        }
    }

    // What a browser keeps of an answer's Set-Cookie headers (enough for these tests: no paths, no expiry).
    private static void Keep(Dictionary<string, string> cookies, HttpResponseMessage response)
    {
        foreach (var cookie in Cookies(response).Select(c => c.Split(';')[0]))
        {
            var equals = cookie.IndexOf('=', StringComparison.Ordinal);
            cookies[cookie[..equals]] = cookie[(equals + 1)..];
        }
    }

    /// <summary>Signs in as a browser would: the form's antiforgery token and cookie from the sign-in page, then the post.</summary>
    private async Task<HttpResponseMessage> SignInAsync(string token, string returnUrl, Dictionary<string, string>? cookies = null)
    {
        cookies ??= new Dictionary<string, string>(StringComparer.Ordinal);
        using var page = await GetWithCookiesAsync("/signin", cookies);
        Keep(cookies, page);
        var antiforgery = AntiforgeryField().Match(await page.Content.ReadAsStringAsync(Ct)).Groups["value"].Value;
        Assert.NotEmpty(antiforgery);
        return await PostWithCookiesAsync(
            "/auth/signin", new Dictionary<string, string> { ["__RequestVerificationToken"] = antiforgery, ["token"] = token, ["return_url"] = returnUrl }, cookies);
    }

    private static IEnumerable<string> Cookies(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Set-Cookie", out var cookies) ? cookies : [];

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"(?<value>[^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
