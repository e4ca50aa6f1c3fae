using System.Text;
using System.Text.Json;
using Apiary.Events;
using Microsoft.Extensions.DependencyInjection;

namespace Apiary.Server.Tests;

public sealed class ServerApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Auth_EachTokenKindOnEachEndpointKind_GetsItsStatus()
    {
        await using var t = await TestServer.StartAsync();
        var own = await t.OpenSessionAsync();
        var other = await t.OpenSessionAsync();
        var readOnly = await File.ReadAllTextAsync(Path.Combine(t.Home, "keys/readonly.token"), Ct);
        var tokens = new Dictionary<string, string?>
        {
            ["none"] = null,
            ["wrong"] = "not-a-token",
            ["readonly"] = readOnly.Trim(),
            ["session"] = own.Token,
            ["operator"] = t.Server.OperatorToken,
        };
        var echo = """{"kind":"exec","command":"echo","args":["x"]}""";
        var release = """{"level":"global"}""";
        var table = new (string Token, HttpMethod Method, string Path, string? Body, HttpStatusCode Expected)[]
        {
            ("none", HttpMethod.Get, "/api/agents", null, HttpStatusCode.Unauthorized),
            ("wrong", HttpMethod.Get, "/api/agents", null, HttpStatusCode.Unauthorized),
            ("readonly", HttpMethod.Get, "/api/agents", null, HttpStatusCode.OK),
            ("session", HttpMethod.Get, "/api/agents", null, HttpStatusCode.OK),
            ("operator", HttpMethod.Get, "/api/agents", null, HttpStatusCode.OK),
            ("none", HttpMethod.Post, $"/api/sessions/{own.Session.Id}/proposals", echo, HttpStatusCode.Unauthorized),
            ("readonly", HttpMethod.Post, $"/api/sessions/{own.Session.Id}/proposals", echo, HttpStatusCode.Forbidden),
            ("session", HttpMethod.Post, $"/api/sessions/{own.Session.Id}/proposals", echo, HttpStatusCode.Created),
            ("session", HttpMethod.Post, $"/api/sessions/{other.Session.Id}/proposals", echo, HttpStatusCode.Forbidden),
            ("operator", HttpMethod.Post, $"/api/sessions/{own.Session.Id}/proposals", echo, HttpStatusCode.Created),
            ("readonly", HttpMethod.Post, "/api/kill-switches/release", release, HttpStatusCode.Forbidden),
            ("session", HttpMethod.Post, "/api/kill-switches/release", release, HttpStatusCode.Forbidden),
            ("operator", HttpMethod.Post, "/api/kill-switches/release", release, HttpStatusCode.NotFound),
            ("session", HttpMethod.Post, "/api/sessions", """{"agent":"coder"}""", HttpStatusCode.Forbidden),
            ("readonly", HttpMethod.Post, $"/api/sessions/{other.Session.Id}/close", null, HttpStatusCode.Forbidden),
            ("session", HttpMethod.Post, $"/api/sessions/{other.Session.Id}/close", null, HttpStatusCode.Forbidden),
            ("none", HttpMethod.Get, "/readyz", null, HttpStatusCode.OK),
        };
        foreach (var (token, method, path, body, expected) in table)
        {
            using var client = t.Client(tokens[token]);
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await client.SendAsync(request, Ct);
            Assert.True(expected == response.StatusCode, $"{token} {method} {path}: expected {expected}, got {response.StatusCode}");
        }

        // Rejections are recorded, without the token: the first at once, the next ones from the same address counted into
        // a summary a minute later (ServerEdgeTests).
        var events = await t.Http.GetFromJsonAsync("/api/events?stream=server", ApiJsonContext.Default.IReadOnlyListEventDto, Ct);
        var rejected = events!.Where(e => e.Type == "auth.rejected").ToList();
        Assert.Equal(1, Assert.Single(rejected).Data.GetProperty("count").GetInt32());
        Assert.DoesNotContain(rejected, e => e.Data.GetRawText().Contains("not-a-token", StringComparison.Ordinal));
        Assert.DoesNotContain(t.Server.OperatorToken, await File.ReadAllTextAsync(Path.Combine(t.Home, "keys/tokens.json"), Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_AllowedEcho_RunsAndStreamsOutput()
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();
        var proposal = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "echo", Args: ["hello", "api"]));
        Assert.Equal("completed", proposal.Status);
        Assert.Equal("allow", proposal.Decision.Decision);
        Assert.Equal(0, proposal.Result!.ExitCode);
        Assert.Equal("hello api\n", proposal.Result.Stdout);

        // A late reader replays the output from the start, then gets the result.
        var sse = await t.Http.GetStringAsync($"/api/proposals/{proposal.Id}/output", Ct);
        Assert.Contains("event: output", sse, StringComparison.Ordinal);
        Assert.Contains("hello api", sse, StringComparison.Ordinal);
        Assert.Contains("event: complete", sse, StringComparison.Ordinal);
        var explain = await t.Http.GetStringAsync($"/api/proposals/{proposal.Id}/explain", Ct);
        Assert.Contains("\"decision\":\"allow\"", explain, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_CurlNeedsApproval_ApprovedThroughApiThenCompletes()
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();
        var pending = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "curl", Args: ["--version"]), wait: false);
        Assert.Equal("pending_approval", pending.Status);
        var tickets = await t.Http.GetFromJsonAsync("/api/approvals", ApiJsonContext.Default.IReadOnlyListTicketDto, Ct);
        var ticket = Assert.Single(tickets!);
        Assert.Equal(pending.Id, ticket.Proposal);
        Assert.Equal(pending.Decision.TicketId, ticket.Ticket);

        var answer = await t.Http.PostAsJsonAsync($"/api/approvals/{ticket.Ticket}/approve", new ApproveRequest(), ApiJsonContext.Default.ApproveRequest, Ct);
        answer.EnsureSuccessStatusCode();
        var sse = await t.Http.GetStringAsync($"/api/proposals/{pending.Id}/output", Ct);
        Assert.Contains("event: complete", sse, StringComparison.Ordinal);
        var done = await t.GetProposalAsync(pending.Id);
        Assert.Equal("completed", done.Status);
        Assert.Equal(0, done.Result!.ExitCode);
        Assert.Contains("curl", done.Result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_ApprovalDenied_IsDeniedWithTheReason()
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();
        var pending = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "curl", Args: ["https://example.com"]), wait: false);
        var answer = await t.Http.PostAsJsonAsync($"/api/approvals/{pending.Decision.TicketId}/deny", new DenyRequest("no network today"), ApiJsonContext.Default.DenyRequest, Ct);
        answer.EnsureSuccessStatusCode();
        await t.Http.GetStringAsync($"/api/proposals/{pending.Id}/output", Ct);
        var done = await t.GetProposalAsync(pending.Id);
        Assert.Equal("denied", done.Status);
        Assert.Contains("no network today", done.Decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KillSwitch_Engaged_StopsRunningSleep()
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();
        var running = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "sleep", Args: ["60"]), wait: false);
        Assert.Equal("running", running.Status);
        var engage = await t.Http.PostAsJsonAsync("/api/kill-switches", new KillSwitchRequest("session", session.Session.Id, "stop it"), ApiJsonContext.Default.KillSwitchRequest, Ct);
        engage.EnsureSuccessStatusCode();
        await t.Http.GetStringAsync($"/api/proposals/{running.Id}/output", Ct);
        var done = await t.GetProposalAsync(running.Id);
        Assert.Equal("completed", done.Status);
        Assert.Equal("cancelled", done.Result!.Reason);
        Assert.Contains("kill switch", done.Result.Error, StringComparison.Ordinal);
        var next = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "echo", Args: ["x"]));
        Assert.Equal("denied", next.Status);
        Assert.Equal("kill_switch", next.Decision.Stage);
    }

    [Fact]
    public async Task EventsStream_LiveAndResumedWithLastEventId_NoLossNoDuplicates()
    {
        await using var t = await TestServer.StartAsync();
        var ids = new List<long>();
        using (var stream = await OpenStreamAsync(t, "/api/events/stream?from=1", null))
        {
            // Live: a session opened now arrives on the open stream.
            var session = await t.OpenSessionAsync();
            await ReadUntilAsync(stream, ids, e => e.Type == "session.opened" && e.Data.GetProperty("session").GetString() == session.Session.Id);
        }

        Assert.Equal(ids.Distinct().Count(), ids.Count);
        Assert.Equal(ids.Order().ToList(), ids);
        var last = ids[^1];
        await t.OpenSessionAsync();
        var resumed = new List<long>();
        using (var stream = await OpenStreamAsync(t, "/api/events/stream", last.ToString(System.Globalization.CultureInfo.InvariantCulture)))
        {
            await ReadUntilAsync(stream, resumed, e => e.Type == "session.opened");
        }

        Assert.Equal(last + 1, resumed[0]);
        var all = await t.Http.GetFromJsonAsync("/api/events?from=1&limit=1000", ApiJsonContext.Default.IReadOnlyListEventDto, Ct);
        Assert.Equal(all!.Select(e => e.Position).Where(p => p <= resumed[^1]).ToList(), ids.Concat(resumed).ToList());
    }

    [Fact]
    public async Task EventsStream_SlowClient_IsDroppedWithAFinalEventAndLosesNothingBeforeIt()
    {
        await using var t = await TestServer.StartAsync(streamClientBuffer: 16);
        using var socket = new System.Net.Sockets.TcpClient();
        var uri = new Uri(t.Server.Url);
        await socket.ConnectAsync(uri.Host, uri.Port, Ct);
        var net = socket.GetStream();
        await net.WriteAsync(Encoding.ASCII.GetBytes($"GET /api/events/stream?from=1 HTTP/1.1\r\nHost: {uri.Authority}\r\nAuthorization: Bearer {t.Server.OperatorToken}\r\n\r\n"), Ct);

        // The stream has begun once its headers arrive: the server joined this client to its feed before sending them.
        // Events appended before that would be read back from the store instead, through no queue, and never overflow it.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromMinutes(1));
        var reader = new StreamReader(net);
        Assert.StartsWith("HTTP/1.1 200", await reader.ReadLineAsync(deadline.Token), StringComparison.Ordinal);
        while (await reader.ReadLineAsync(deadline.Token) is { Length: > 0 })
        {
        }

        // Then the client reads nothing while events pile up: 16 MiB of them, more than the kernel's socket buffers can
        // hold between the two ends (a few MiB at most on loopback), so the server's writes block and its queue for this
        // client (16 events) overflows. Fewer bytes could all fit in the buffers, and the client would never be behind.
        // The client's receive buffer keeps its default size: a tiny one leaves the sender probing a zero window with
        // growing pauses, and the stream crawls once the client reads.
        var store = t.Runtime.Store;
        var body = new string('x', 64 * 1024);
        for (var batch = 0; batch < 16; batch++)
        {
            var events = Enumerable.Range(0, 16).Select(_ => new EventData("test.bulk", JsonSerializer.SerializeToUtf8Bytes(new { body }))).ToList();
            await store.AppendAsync("test-bulk", ExpectedVersion.Any, events, Ct);
        }

        // A stream that never drops would leave this read waiting: a minute is the limit, so that it fails instead.
        var ids = new List<long>();
        string? dropped = null;
        while (await reader.ReadLineAsync(deadline.Token) is { } line)
        {
            if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                ids.Add(long.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture));
            }
            else if (line == "event: dropped")
            {
                dropped = await reader.ReadLineAsync(deadline.Token);
                break;
            }
        }

        Assert.NotNull(dropped);
        Assert.Equal(Enumerable.Range(1, ids.Count).Select(i => (long)i), ids);
        Assert.Contains($"\"last_id\":{ids[^1]}", dropped, StringComparison.Ordinal);
    }

    private static async Task<StreamReader> OpenStreamAsync(TestServer t, string path, string? lastEventId)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        var response = await t.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        response.EnsureSuccessStatusCode();
        return new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
    }

    private static async Task ReadUntilAsync(StreamReader reader, List<long> ids, Func<EventDto, bool> stop)
    {
        while (await reader.ReadLineAsync(Ct) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                var e = JsonSerializer.Deserialize(line[6..], ApiJsonContext.Default.EventDto)!;
                ids.Add(e.Position);
                if (stop(e))
                {
                    return;
                }
            }
        }

        Assert.Fail("the stream ended");
    }

    [Fact]
    public async Task BadInput_IsAProblemNotACrash()
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();
        var url = $"/api/sessions/{session.Session.Id}/proposals";

        var malformed = await t.Http.PostAsync(url, new StringContent("{\"kind\": ", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal("application/problem+json", malformed.Content.Headers.ContentType?.MediaType);

        // Announced larger than the limit: refused before the body is read (raw socket, as HttpClient gives up once the server answers early).
        using (var socket = new System.Net.Sockets.TcpClient())
        {
            var uri = new Uri(t.Server.Url);
            await socket.ConnectAsync(uri.Host, uri.Port, Ct);
            var net = socket.GetStream();
            var head = $"POST {url} HTTP/1.1\r\nHost: {uri.Authority}\r\nAuthorization: Bearer {t.Server.OperatorToken}\r\nContent-Type: application/json\r\nContent-Length: {2 * 1024 * 1024}\r\n\r\n";
            await net.WriteAsync(Encoding.ASCII.GetBytes(head), Ct);
            var status = await new StreamReader(net).ReadLineAsync(Ct);
            Assert.StartsWith("HTTP/1.1 413", status, StringComparison.Ordinal);
        }

        var unknown = await t.Http.PostAsJsonAsync("/api/sessions", new OpenSessionRequest("nobody"), ApiJsonContext.Default.OpenSessionRequest, Ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("no agent named 'nobody'", await unknown.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await t.Http.GetAsync("/api/agents/nobody", Ct)).StatusCode);

        foreach (var path in new[] { "../../etc/passwd", "/etc/passwd", "src/../../../etc/passwd" })
        {
            var read = await t.ProposeAsync(session.Session.Id, new ProposalRequest("read_file", Path: path));
            Assert.Equal("denied", read.Status);
            Assert.Null(read.Result);
        }

        // A symlink inside the workspace passes the policy, but the sandbox resolves it inside the workspace root.
        File.CreateSymbolicLink(Path.Combine(session.Session.Workspace, "passwd"), "/etc/passwd");
        var escaped = await t.ProposeAsync(session.Session.Id, new ProposalRequest("read_file", Path: "passwd"));
        Assert.Equal("completed", escaped.Status);
        Assert.NotNull(escaped.Result!.Error);
        Assert.DoesNotContain("root:", escaped.Result.Content ?? "", StringComparison.Ordinal);

        // The server still answers.
        Assert.Equal(HttpStatusCode.OK, (await t.Http.GetAsync("/readyz", Ct)).StatusCode);
    }

    [Fact]
    public async Task Dispose_WithRunningCommand_CancelsItAndRecordsItsCompletion()
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();
        var running = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "sleep", Args: ["60"]), wait: false);
        var pending = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "curl", Args: ["--version"]), wait: false);
        Assert.Equal("pending_approval", pending.Status);

        await t.Server.DisposeAsync();

        Assert.False(File.Exists(Path.Combine(t.Home, ServerInfo.RelativePath)));
        var events = await EventLog.ReadFileAsync(Path.Combine(t.Home, "events.db"));

        var completed = Assert.Single(events, e => e.Type == "proposal.completed");
        var data = JsonDocument.Parse(completed.Data).RootElement;
        Assert.Equal(running.Id, data.GetProperty("proposal_id").GetString());
        Assert.Equal("cancelled", data.GetProperty("reason").GetString());
        Assert.Contains(events, e => e.Type == "approval.denied");

        // The stop is the last thing recorded, then signed by the shutdown's audit checkpoint.
        Assert.Equal(["server.stopped", "audit.checkpoint"], events[^2..].Select(e => e.Type));
    }

    [Fact]
    public async Task CloseSession_CancelsWhatRunsAndRevokesItsToken()
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();
        using var agent = t.Client(session.Token);
        var running = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "sleep", Args: ["60"]), wait: false, client: agent);

        var closed = await agent.PostAsync($"/api/sessions/{session.Session.Id}/close", null, Ct);
        closed.EnsureSuccessStatusCode();
        Assert.Equal("closed", (await closed.Content.ReadFromJsonAsync(ApiJsonContext.Default.SessionDto, Ct))!.State);
        var done = await t.GetProposalAsync(running.Id);
        Assert.Equal("cancelled", done.Result!.Reason);
        Assert.Equal(HttpStatusCode.Unauthorized, (await agent.GetAsync("/api/sessions", Ct)).StatusCode);
        var late = await t.Http.PostAsJsonAsync($"/api/sessions/{session.Session.Id}/proposals", new ProposalRequest("exec", Command: "echo"), ApiJsonContext.Default.ProposalRequest, Ct);
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);

        var events = await t.Http.GetFromJsonAsync($"/api/events?session={session.Session.Id}", ApiJsonContext.Default.IReadOnlyListEventDto, Ct);
        Assert.Equal(["session.opened", "proposal.decided", "proposal.completed", "session.closed"], events!.Select(e => e.Type).ToArray());
    }

    [Fact]
    public async Task StartAsync_SecondServerOnSameHome_IsRefused()
    {
        await using var t = await TestServer.StartAsync();
        var ex = await Assert.ThrowsAsync<ServerStartException>(() => ApiaryServer.StartAsync(new ServerOptions { Home = t.Home, Urls = "http://127.0.0.1:0" }, Ct));
        Assert.Contains("already running", ex.Message, StringComparison.Ordinal);
        Assert.Contains(t.Server.Url, ex.Message, StringComparison.Ordinal);
    }
}
