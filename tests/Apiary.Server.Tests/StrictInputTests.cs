using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Apiary.Server.Tests;

/// <summary>
/// Strict input, attacked as a client would: a body that does not say it is JSON (a form, as <c>curl -d</c> sends, plain
/// text, none, another charset) is a 415 problem on every route that takes one, and nothing happens; what does say it is
/// JSON is read, and a body-less approve still works.
/// </summary>
public sealed class StrictInputTests : IAsyncLifetime
{
    private TestServer _t = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _t = await TestServer.StartAsync();

    public async ValueTask DisposeAsync() => await _t.DisposeAsync();

    /// <summary>Content types that are not JSON, or JSON in another encoding than UTF-8; "none" sends no Content-Type at all.</summary>
    public static TheoryData<string> NotJson => new()
    {
        "application/x-www-form-urlencoded",
        "text/plain",
        "text/plain; charset=utf-8",
        "text/json",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/json; charset=iso-8859-1",
        "application/json; charset=utf-16",
        "none",
    };

    [Theory]
    [MemberData(nameof(NotJson))]
    public async Task Attack_JsonBodyWithAContentTypeThatIsNotJson_415ProblemOnEveryRoute_NothingDone(string contentType)
    {
        var session = await _t.OpenSessionAsync();
        var pending = await _t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "curl", Args: ["--version"]), wait: false);
        var ticket = pending.Decision.TicketId!;
        var before = await EventCountAsync();

        // Each body would act if it were read: open, create, propose, approve, deny, engage, release, run, send, ask, acknowledge.
        (string Path, string Body)[] routes =
        [
            ("/api/agents", """{"name":"intruder"}"""),
            ("/api/sessions", """{"agent":"coder"}"""),
            ($"/api/sessions/{session.Session.Id}/proposals", """{"kind":"exec","command":"echo","args":["hi"]}"""),
            ($"/api/approvals/{ticket}/approve", """{"for_session":true}"""),
            ($"/api/approvals/{ticket}/deny", """{"reason":"no"}"""),
            ("/api/kill-switches", """{"level":"global","reason":"stop"}"""),
            ("/api/kill-switches/release", """{"level":"global"}"""),
            ("/api/agents/coder/runs", """{"task":"work"}"""),
            ("/api/messages", """{"to":"coder","body":"hi"}"""),
            ("/api/messages/ask", """{"to":"coder","body":"hi?","deadline_seconds":1}"""),
            ("/api/inbox/operator/ack", """{"through":1}"""),
        ];
        foreach (var (path, body) in routes)
        {
            var response = await PostAsync(path, body, contentType);

            Assert.True(response.StatusCode == HttpStatusCode.UnsupportedMediaType, $"{path} with {contentType}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal(415, problem.RootElement.GetProperty("status").GetInt32());
            Assert.Equal("Unsupported media type", problem.RootElement.GetProperty("title").GetString());
            Assert.Contains("Content-Type: application/json", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // Nothing was recorded: no agent, session, decision, answer, kill switch, run or message.
        Assert.Equal(before, await EventCountAsync());
        Assert.False(Directory.Exists(Path.Combine(_t.Home, "agents", "intruder")));
        Assert.Empty(await _t.Http.GetFromJsonAsync("/api/kill-switches", ApiJsonContext.Default.IReadOnlyListKillSwitchDto, Ct) ?? []);
        Assert.Equal("pending_approval", (await _t.GetProposalAsync(pending.Id)).Status);
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("Application/JSON; charset=\"UTF-8\"")]
    [InlineData("application/vnd.apiary+json")]
    public async Task Sessions_JsonContentTypes_Read(string contentType)
    {
        var response = await PostAsync("/api/sessions", """{"agent":"coder"}""", contentType);

        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync(Ct));
    }

    [Theory]
    [InlineData("none")]
    [InlineData("text/plain")]
    public async Task Approve_WithoutABody_StillGrants(string contentType)
    {
        var session = await _t.OpenSessionAsync();
        var pending = await _t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "curl", Args: ["--version"]), wait: false);

        using var empty = new ByteArrayContent([]);
        if (contentType != "none")
        {
            empty.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        var response = await _t.Http.PostAsync($"/api/approvals/{pending.Decision.TicketId}/approve", empty, Ct);

        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal("granted", (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.TicketAnswerDto, Ct))!.State);
    }

    [Fact]
    public async Task CloseSession_WithoutABody_StillCloses()
    {
        var session = await _t.OpenSessionAsync();

        var response = await _t.Http.PostAsync($"/api/sessions/{session.Session.Id}/close", null, Ct);

        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync(Ct));
    }

    private async Task<HttpResponseMessage> PostAsync(string path, string body, string contentType)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        if (contentType != "none")
        {
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        return await _t.Http.PostAsync(path, content, Ct);
    }

    private async Task<int> EventCountAsync() =>
        (await _t.Http.GetFromJsonAsync("/api/events?limit=1000", ApiJsonContext.Default.IReadOnlyListEventDto, Ct))!.Count;
}
