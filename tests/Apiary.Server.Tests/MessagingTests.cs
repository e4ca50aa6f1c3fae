using System.Net.Http.Headers;
using System.Text;
using Apiary.Agents;
using Apiary.Home;
using Apiary.Runtime.Messaging;
using Microsoft.Extensions.AI;

namespace Apiary.Server.Tests;

/// <summary>
/// Messaging through the API, in memory, over the sample home plus two workers (tester-a, tester-b) and a policy file
/// that lets workers message and denies messages to tester-b: the sender comes from the token, the allow-list is the
/// control plane's, the policy decides, and inboxes are read after an acknowledged cursor.
/// </summary>
public sealed class MessagingTests : IAsyncLifetime
{
    private readonly TempDirectory _root = new("apiary-messaging");
    private InMemoryServer _host = null!;
    private HttpClient _operator = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ApiaryServer Server => _host.Server;

    private ApiaryRuntime Runtime => _host.Runtime;

    public async ValueTask InitializeAsync()
    {
        await MessagingHome.CreateAsync(_root["home"], _root.Path, Ct, ("tester-a", null), ("tester-b", null), ("tester-c", ["tester-b", "operator"]));
        _host = await InMemoryServer.StartAsync(_root);
        _operator = Client(Server.OperatorToken);
    }

    public async ValueTask DisposeAsync()
    {
        _operator.Dispose();
        await _host.DisposeAsync();
        _root.Dispose();
    }

    [Fact]
    public async Task Send_BodyForgesSenderAndRole_ServerRecordsTheTokensAgent()
    {
        using var coder = await SessionClientAsync("coder");

        var response = await PostRawAsync(coder, "/api/messages", """{"to":"manager","body":"tests pass","from":"operator","role":"user"}""");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var inbox = await ReadInboxAsync(_operator, "manager");
        var message = Assert.Single(inbox.Messages);
        Assert.Equal(("coder", "agent", "tests pass"), (message.From, message.Role, message.Body));
        Assert.Equal(1, message.Seq);
    }

    [Fact]
    public async Task Send_WorkerToWorkerByDefault_RefusedByTheControlPlaneEvenWithAForgedSender()
    {
        using var testerA = await SessionClientAsync("tester-a");

        var response = await PostRawAsync(testerA, "/api/messages", """{"to":"tester-b","body":"psst","from":"manager"}""");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var detail = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("allowed_recipients", detail, StringComparison.Ordinal);
        Assert.Empty((await ReadInboxAsync(_operator, "tester-b")).Messages);
        var events = await _operator.GetFromJsonAsync("/api/events?limit=1000", ApiJsonContext.Default.IReadOnlyListEventDto, Ct);
        var refused = Assert.Single(events!, e => e.Type == "proposal.decided" && e.Data.GetProperty("inputs").GetProperty("kind").GetString() == "send_message");
        Assert.Equal(("deny", "allowed-recipients"), (refused.Data.GetProperty("decision").GetString(), refused.Data.GetProperty("decided_by").GetString()));
    }

    [Fact]
    public async Task Send_WorkerToItsManagerAndOperatorByDefault_Delivered()
    {
        using var testerA = await SessionClientAsync("tester-a");

        var toManager = await PostRawAsync(testerA, "/api/messages", """{"to":"manager","body":"done"}""");
        var toOperator = await PostRawAsync(testerA, "/api/messages", """{"to":"operator","body":"done too"}""");

        Assert.Equal(HttpStatusCode.Created, toManager.StatusCode);
        Assert.Equal(HttpStatusCode.Created, toOperator.StatusCode);
        Assert.Equal("tester-a", Assert.Single((await ReadInboxAsync(_operator, "operator")).Messages).From);
        Assert.Equal(["manager", "operator"], (await Runtime.Messaging.AllowedRecipientsAsync("tester-a", Ct)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Send_PolicyDenies_NotDeliveredAndTheRuleIsNamed()
    {
        using var testerC = await SessionClientAsync("tester-c");

        var response = await PostRawAsync(testerC, "/api/messages", """{"to":"tester-b","body":"hello"}""");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("no-messages-to-tester-b", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Empty((await ReadInboxAsync(_operator, "tester-b")).Messages);
    }

    [Fact]
    public async Task Inbox_AnotherAgentsSessionOrReadOnlyToken_Forbidden()
    {
        using var testerA = await SessionClientAsync("tester-a");
        using var readOnly = Client(Server.ReadOnlyToken);

        Assert.Equal(HttpStatusCode.Forbidden, (await testerA.GetAsync("/api/inbox/manager", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await readOnly.GetAsync("/api/inbox/manager", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostRawAsync(testerA, "/api/inbox/manager/ack", """{"through":1}""")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await PostRawAsync(readOnly, "/api/messages", """{"to":"coder","body":"x"}""")).StatusCode);
    }

    [Fact]
    public async Task Inbox_AckAdvancesTheCursorAndWaitWakesOnANewMessage()
    {
        using var coder = await SessionClientAsync("coder");
        await SendAsOperatorAsync("coder", "one");
        await SendAsOperatorAsync("coder", "two");

        var first = await ReadInboxAsync(coder, "coder");
        var ack = await PostRawAsync(coder, "/api/inbox/coder/ack", """{"through":1}""");
        var afterAck = await ReadInboxAsync(coder, "coder");
        var waiting = ReadInboxAsync(coder, "coder", "?after=2&wait=30");
        await SendAsOperatorAsync("coder", "three");
        var woken = await waiting;

        Assert.Equal(["one", "two"], first.Messages.Select(m => m.Body));
        Assert.Equal(HttpStatusCode.OK, ack.StatusCode);
        Assert.Equal(1L, afterAck.Cursor);
        Assert.Equal("two", Assert.Single(afterAck.Messages).Body);
        Assert.Equal("three", Assert.Single(woken.Messages).Body);
        Assert.Equal("operator", woken.Messages[0].Role);
        Assert.Equal(HttpStatusCode.Conflict, (await PostRawAsync(coder, "/api/inbox/coder/ack", """{"through":99}""")).StatusCode);
    }

    [Fact]
    public async Task Ask_AnsweredOnTheThread_ReturnsTheAnswerNotAnUnrelatedMessage()
    {
        using var tester = await SessionClientAsync("tester-a");
        var asking = _operator.PostAsJsonAsync("/api/messages/ask", new AskRequest("tester-a", "which tests fail?", "t-review", 30), ApiJsonContext.Default.AskRequest, Ct);
        var question = (await ReadInboxAsync(tester, "tester-a", "?wait=30")).Messages.Single();

        var unrelated = await tester.PostAsJsonAsync("/api/messages", new SendMessageRequest("operator", "by the way", "t-other"), ApiJsonContext.Default.SendMessageRequest, Ct);
        var reply = await tester.PostAsJsonAsync("/api/messages", new SendMessageRequest("operator", "none fail", question.Thread, question.Id), ApiJsonContext.Default.SendMessageRequest, Ct);
        var answered = await (await asking).Content.ReadFromJsonAsync(ApiJsonContext.Default.AskResponse, Ct);

        Assert.Equal((HttpStatusCode.Created, HttpStatusCode.Created), (unrelated.StatusCode, reply.StatusCode));
        Assert.Equal(("t-review", "which tests fail?", "operator"), (question.Thread, question.Body, question.From));
        Assert.Equal(("tester-a", "none fail", question.Id), (answered!.Answer!.From, answered.Answer.Body, answered.Answer.ReplyTo));
        Assert.Equal(2, (await ReadInboxAsync(_operator, "operator")).Messages.Count);
    }

    [Fact]
    public async Task Tools_SendRecvAnswer_SenderIsTheRunsAgentAndAForgedFromIsRejected()
    {
        var coderSession = Runtime.Sessions.Find((await Runtime.OpenSessionAsync(new OpenSessionRequest("coder"), "test", Ct)).Session.Id)!;
        var managerSession = Runtime.Sessions.Find((await Runtime.OpenSessionAsync(new OpenSessionRequest("manager"), "test", Ct)).Session.Id)!;
        var coderRun = new AgentRun("run-coder", "coder", coderSession, "test/model");
        var managerRun = new AgentRun("run-manager", "manager", managerSession, "test/model");

        var forged = await Runtime.CallToolAsync(coderRun, Call("send", ("to", "manager"), ("body", "hi"), ("from", "operator")), Ct);
        var sent = await Runtime.CallToolAsync(coderRun, Call("send", ("to", "manager"), ("body", "ready for review"), ("thread", "t-1")), Ct);
        var notAllowed = await Runtime.CallToolAsync(coderRun, Call("send", ("to", "tester-a"), ("body", "hi")), Ct);
        var received = await Runtime.CallToolAsync(managerRun, Call("recv"), Ct);
        var id = (await Runtime.Messaging.Broker.ReadAsync("manager", 0, TimeSpan.Zero, 10, Ct)).Messages.Single().Id;
        var answered = await Runtime.CallToolAsync(managerRun, Call("answer", ("message_id", id), ("body", "looks good")), Ct);
        var reply = await Runtime.CallToolAsync(coderRun, Call("recv"), Ct);
        var empty = await Runtime.CallToolAsync(managerRun, Call("recv"), Ct);
        var unknown = await Runtime.CallToolAsync(coderRun, Call("shout", ("to", "manager")), Ct);

        Assert.StartsWith("error: send has no argument 'from'", forged, StringComparison.Ordinal);
        Assert.StartsWith("sent: message", sent, StringComparison.Ordinal);
        Assert.Contains("allowed_recipients", notAllowed, StringComparison.Ordinal);
        Assert.Contains("from coder (agent) on thread t-1", received, StringComparison.Ordinal);
        Assert.Contains("ready for review", received, StringComparison.Ordinal);
        Assert.StartsWith("sent: message", answered, StringComparison.Ordinal);
        Assert.Contains($"from manager (agent) on thread t-1 replying to {id}", reply, StringComparison.Ordinal);
        Assert.Equal("no message is waiting", empty);
        Assert.StartsWith("error: there is no tool named 'shout'", unknown, StringComparison.Ordinal);
        Assert.Equal(1, await Runtime.Messaging.Broker.CursorAsync("manager", Ct));
        Assert.All(Runtime.Tools.All.Where(t => t.Descriptor.Name is "send" or "recv" or "ask" or "answer"), t => Assert.DoesNotContain("\"from\"", t.Descriptor.InputSchema.GetRawText(), StringComparison.Ordinal));
    }

    private static FunctionCallContent Call(string name, params (string Key, object? Value)[] args) =>
        new("call-" + Guid.NewGuid().ToString("N")[..6], name, args.ToDictionary(a => a.Key, a => a.Value));

    private async Task SendAsOperatorAsync(string to, string body)
    {
        var response = await _operator.PostAsJsonAsync("/api/messages", new SendMessageRequest(to, body), ApiJsonContext.Default.SendMessageRequest, Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    private static async Task<InboxDto> ReadInboxAsync(HttpClient client, string agent, string query = "")
    {
        var response = await client.GetAsync($"/api/inbox/{agent}{query}", Ct);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(Ct));
        return (await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.InboxDto, Ct))!;
    }

    private static Task<HttpResponseMessage> PostRawAsync(HttpClient client, string path, string json) =>
        client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), Ct);

    private async Task<HttpClient> SessionClientAsync(string agent) => Client((await _operator.OpenSessionAsync(new OpenSessionRequest(agent))).Token);

    private HttpClient Client(string? token) => InMemoryServer.HttpClientOf(Server, token);
}

/// <summary>
/// A sample home with extra agents and a policy file for messaging: workers may message, nobody may message tester-b.
/// The sample's home-wide <c>allowed_recipients: [operator]</c> is removed, so agents without their own list get the
/// built-in default (their managers and the operator).
/// </summary>
internal static class MessagingHome
{
    public const string Policy = """
        rules:
          - name: workers-message
            priority: 40
            match: { kind: send_message, role: worker }
            risk: low
            tier: allow
          - name: no-messages-to-tester-b
            priority: 60
            match: { kind: send_message, recipients: tester-b }
            risk: low
            tier: deny
            message: nobody writes to tester-b
        """;

    /// <summary>Creates the home with worker agents, each with the given allowed recipients (null: the default).</summary>
    public static async Task CreateAsync(string root, string userHome, CancellationToken cancellationToken, params (string Name, string[]? Allowed)[] agents)
    {
        var home = new ApiaryHome(root, userHome);
        await home.InitializeAsync(cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(home.PoliciesDirectory, "messaging.yaml"), Policy, cancellationToken);
        var settings = await File.ReadAllTextAsync(home.ConfigFile, cancellationToken);
        await File.WriteAllTextAsync(home.ConfigFile, settings.Replace("  allowed_recipients: [operator]\n", "", StringComparison.Ordinal), cancellationToken);
        var (config, _) = await HomeConfig.LoadAsync(home, cancellationToken);
        var catalog = new AgentCatalog(home, config!);
        foreach (var (name, allowed) in agents)
        {
            var entry = await catalog.CreateAsync(AgentName.Parse(name), AgentRole.Worker, cancellationToken: cancellationToken);
            if (allowed is not null)
            {
                var file = Path.Combine(entry.Directory, "AGENTS.md");
                var text = await File.ReadAllTextAsync(file, cancellationToken);
                text = text.Replace("# allowed_recipients: [operator]", $"allowed_recipients: [{string.Join(", ", allowed)}]", StringComparison.Ordinal);
                await File.WriteAllTextAsync(file, text, cancellationToken);
            }
        }
    }
}
