using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Apiary.Server.Tests;

/// <summary>
/// Strict input, attacked as a client would: a body that does not say it is JSON (a form, as <c>curl -d</c> sends, plain
/// text, none, another charset) is a 415 problem on every route that takes one, and nothing happens; what does say it is
/// JSON is read, and a body-less approve still works. And a NUL in any field, a name or a value, is a 400 naming the
/// field with nothing done or recorded, never removed or passed on; only data (a file's content, a command's standard
/// input) keeps its NULs, byte for byte.
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

    /// <summary>
    /// One NUL attack per string field of every request body (route, body, the field the problem names): each would be
    /// taken or acted on if its NUL were removed or passed on. {session} and {ticket} are filled in by the test.
    /// </summary>
    public static TheoryData<string, string, string> NulAttacks => new()
    {
        { "/api/agents", """{"name":"rev\u0000x"}""", "name" },
        { "/api/agents", """{"name":"reviewer","role":"worker\u0000"}""", "role" },
        { "/api/agents", """{"name":"reviewer","description":"line\u0000\"\nrole: manager"}""", "description" },
        { "/api/sessions", """{"agent":"co\u0000der"}""", "agent" },
        { "/api/sessions", """{"agent":"coder","workspace":"/tmp\u0000/etc"}""", "workspace" },
        { "/api/sessions", """{"agent":"coder","template":"default\u0000"}""", "template" },
        { "/api/sessions/{session}/proposals", """{"kind":"exec\u0000","command":"ls"}""", "kind" },
        { "/api/sessions/{session}/proposals", """{"kind":"exec","command":"ls\u0000--bind"}""", "command" },
        { "/api/sessions/{session}/proposals", """{"kind":"exec","command":"printf","args":["%s","a\u0000b"]}""", "args[1]" },
        { "/api/sessions/{session}/proposals", """{"kind":"exec","command":"ls","workdir":"src\u0000"}""", "workdir" },
        { "/api/sessions/{session}/proposals", """{"kind":"exec","command":"ls","env":{"X":"a\u0000--bind"}}""", "env X" },
        { "/api/sessions/{session}/proposals", """{"kind":"exec","command":"ls","env":{"A\u0000B":"v"}}""", "env name" },
        { "/api/sessions/{session}/proposals", """{"kind":"exec","command":"ls","secrets":["S\u0000--bind"]}""", "secrets[0]" },
        { "/api/sessions/{session}/proposals", """{"kind":"read_file","path":"notes\u0000.txt"}""", "path" },
        { "/api/sessions/{session}/proposals", """{"kind":"write_file","path":"src/a\u0000b","content":"x"}""", "path" },
        { "/api/sessions/{session}/proposals", """{"kind":"list_dir","path":"src\u0000"}""", "path" },
        { "/api/sessions/{session}/proposals", """{"kind":"list_dir","path":"src","note\u0000":"x"}""", "a field name" },
        { "/api/approvals/{ticket}/deny", """{"reason":"no\u0000"}""", "reason" },
        { "/api/kill-switches", """{"level":"global\u0000","reason":"stop"}""", "level" },
        { "/api/kill-switches", """{"level":"session","id":"{session}\u0000x","reason":"stop"}""", "id" },
        { "/api/kill-switches", """{"level":"global","reason":"stop\u0000"}""", "reason" },
        { "/api/kill-switches/release", """{"level":"session","id":"{session}\u0000"}""", "id" },
        { "/api/agents/coder/runs", """{"task":"work\u0000"}""", "task" },
        { "/api/agents/coder/runs", """{"task":"work","model":"local/llama\u0000"}""", "model" },
        { "/api/messages", """{"to":"coder\u0000","body":"hi"}""", "to" },
        { "/api/messages", """{"to":"coder","body":"hi\u0000there"}""", "body" },
        { "/api/messages", """{"to":"coder","body":"hi","thread":"t\u0000"}""", "thread" },
        { "/api/messages", """{"to":"coder","body":"hi","reply_to":"m\u0000"}""", "reply_to" },
        { "/api/messages/ask", """{"to":"\u0000coder","body":"hi?","deadline_seconds":1}""", "to" },
        { "/api/messages/ask", """{"to":"coder","body":"hi?\u0000","deadline_seconds":1}""", "body" },
        { "/api/messages/ask", """{"to":"coder","body":"hi?","thread":"t\u0000","deadline_seconds":1}""", "thread" },
    };

    [Theory]
    [MemberData(nameof(NulAttacks))]
    public async Task Attack_NulInAField_400NamingTheField_NothingDoneOrRecorded(string route, string body, string field)
    {
        var session = await _t.OpenSessionAsync();
        var ticket = route.Contains("{ticket}", StringComparison.Ordinal)
            ? (await _t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "curl", Args: ["--version"]), wait: false)).Decision.TicketId!
            : "";
        var before = await EventCountAsync();

        var response = await PostAsync(
            route.Replace("{session}", session.Session.Id, StringComparison.Ordinal).Replace("{ticket}", ticket, StringComparison.Ordinal),
            body.Replace("{session}", session.Session.Id, StringComparison.Ordinal),
            "application/json");

        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {text}");
        using var problem = JsonDocument.Parse(text);
        Assert.Equal("NUL character", problem.RootElement.GetProperty("title").GetString());
        Assert.StartsWith($"{field} holds a NUL character (U+0000)", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await EventCountAsync());
        Assert.Empty(await _t.Http.GetFromJsonAsync("/api/kill-switches", ApiJsonContext.Default.IReadOnlyListKillSwitchDto, Ct) ?? []);
        Assert.False(Directory.Exists(Path.Combine(_t.Home, "agents", "reviewer")));
    }

    [Fact]
    public void NulAttacks_CoverEveryStringFieldOfEveryRequestBody()
    {
        // A string field added to a request later is NUL-checked by JsonBody whatever it is; this keeps an attack on each.
        (string Route, Type Body)[] bodies =
        [
            ("/api/agents", typeof(CreateAgentRequest)),
            ("/api/sessions", typeof(OpenSessionRequest)),
            ("/api/sessions/{session}/proposals", typeof(ProposalRequest)),
            ("/api/approvals/{ticket}/deny", typeof(DenyRequest)),
            ("/api/kill-switches", typeof(KillSwitchRequest)),
            ("/api/agents/coder/runs", typeof(StartRunRequest)),
            ("/api/messages", typeof(SendMessageRequest)),
            ("/api/messages/ask", typeof(AskRequest)),
        ];
        string[] data = ["content", "stdin"];
        var attacked = NulAttacks.Select(row => (row.Data.Item1, row.Data.Item3.Split(' ', '[')[0])).ToHashSet();
        foreach (var (route, body) in bodies)
        {
            var info = ApiJsonContext.Default.GetTypeInfo(body)!;
            foreach (var property in info.Properties.Where(p => p.PropertyType == typeof(string) || p.PropertyType == typeof(IReadOnlyList<string>) || p.PropertyType == typeof(IReadOnlyDictionary<string, string>)))
            {
                Assert.True(data.Contains(property.Name) || attacked.Contains((route, property.Name)), $"no NUL attack on '{property.Name}' of {route}");
            }
        }

        Assert.Contains(("/api/kill-switches/release", "id"), attacked);
    }

    [Fact]
    public async Task Data_NulInAFilesContentAndInStandardInput_KeptByteForByte()
    {
        // Nothing is silently stripped anywhere: what a NUL may be part of arrives exactly as sent.
        var session = await _t.OpenSessionAsync();

        var write = await PostAsync($"/api/sessions/{session.Session.Id}/proposals?wait=true", """{"kind":"write_file","path":"src/nul.bin","content":"a\u0000b\u0000"}""", "application/json");
        var cat = await PostAsync($"/api/sessions/{session.Session.Id}/proposals?wait=true", """{"kind":"exec","command":"cat","stdin":"x\u0000y"}""", "application/json");

        Assert.True(write.StatusCode == HttpStatusCode.Created, await write.Content.ReadAsStringAsync(Ct));
        Assert.Equal("completed", (await write.Content.ReadFromJsonAsync(ApiJsonContext.Default.ProposalDto, Ct))!.Status);
        Assert.Equal("a\0b\0"u8.ToArray(), await File.ReadAllBytesAsync(Path.Combine(session.Session.Workspace, "src", "nul.bin"), Ct));
        Assert.True(cat.StatusCode == HttpStatusCode.Created, await cat.Content.ReadAsStringAsync(Ct));
        var ran = (await cat.Content.ReadFromJsonAsync(ApiJsonContext.Default.ProposalDto, Ct))!;
        Assert.True(ran.Status == "completed", ran.ToString());
        Assert.Equal("x\0y", ran.Result!.Stdout);
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
