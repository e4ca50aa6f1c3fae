using System.Net;
using System.Text;
using Apiary.Client;
using Apiary.Contracts;

namespace Apiary.Cli.Tests;

/// <summary>
/// The client's reading of the server-sent event streams, against recorded streams in the server's wire format: a
/// server that drops a slow client or a connection that breaks must not lose or repeat an event.
/// </summary>
public sealed class ApiaryClientStreamTests
{
    private static readonly CancellationToken Cancel = TestContext.Current.CancellationToken;

    [Fact]
    public async Task FollowEventsAsync_ServerDropsClient_ResumesFromLastIdWithoutDuplicates()
    {
        var handler = new RecordedStreams(
            Sse(Event(1, "session.opened"), Event(2, "proposal.decided"), ": keep-alive\n\n", "event: dropped\ndata: {}\n\n"),
            // The server replays from Last-Event-ID; an event repeated by a sloppy server must not be yielded twice.
            Sse(Event(2, "proposal.decided"), Event(3, "proposal.completed")));
        using var client = new ApiaryClient(handler.Client(), "token-1");
        var reasons = new List<string>();

        var seen = new List<long>();
        await foreach (var e in client.FollowEventsAsync(new EventFilter(Agent: "coder"), afterPosition: null, reasons.Add, Cancel))
        {
            seen.Add(e.Position);
            if (e.Position == 3)
            {
                break;
            }
        }

        Assert.Equal([1L, 2L, 3L], seen);
        Assert.Equal(2, handler.Requests.Count);
        Assert.Null(handler.Requests[0].LastEventId);
        Assert.Equal("2", handler.Requests[1].LastEventId);
        Assert.All(handler.Requests, r => Assert.Equal("/api/events/stream?agent=coder", r.PathAndQuery));
        Assert.All(handler.Requests, r => Assert.Equal("Bearer token-1", r.Authorization));
        Assert.Contains(reasons, r => r.Contains("dropped", StringComparison.Ordinal) && r.Contains("position 2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task FollowEventsAsync_AfterPosition_SendsItAsLastEventId()
    {
        var handler = new RecordedStreams(Sse(Event(8, "x")));
        using var client = new ApiaryClient(handler.Client(), "t");

        await foreach (var e in client.FollowEventsAsync(afterPosition: 7, cancellationToken: Cancel))
        {
            Assert.Equal(8, e.Position);
            break;
        }

        Assert.Equal("7", handler.Requests[0].LastEventId);
    }

    [Fact]
    public async Task FollowEventsAsync_Unauthorized_ThrowsProblemDetail()
    {
        var handler = new RecordedStreams(new HttpResponseMessage(HttpStatusCode.Unauthorized)
        {
            Content = new StringContent("""{"title":"Unauthorized","detail":"the bearer token is wrong; use keys/operator.token","status":401}""", Encoding.UTF8, "application/problem+json"),
        });
        using var client = new ApiaryClient(handler.Client(), "bad");

        var ex = await Assert.ThrowsAsync<ApiaryClientException>(async () =>
        {
            await foreach (var _ in client.FollowEventsAsync(cancellationToken: Cancel))
            {
            }
        });

        Assert.Equal(HttpStatusCode.Unauthorized, ex.Status);
        Assert.Equal("the bearer token is wrong; use keys/operator.token", ex.Detail);
        Assert.Contains("401", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamOutputAsync_RecordedStream_YieldsTextThenResult()
    {
        var handler = new RecordedStreams(Sse(
            "event: output\ndata: {\"stream\":\"stdout\",\"text\":\"hel\"}\n\n",
            "event: output\ndata: {\"stream\":\"stderr\",\"text\":\"warn\\n\"}\n\n",
            "event: complete\ndata: {\"exit_code\":0,\"reason\":\"exited\",\"duration_ms\":12,\"stdout\":\"hel\"}\n\n"));
        using var client = new ApiaryClient(handler.Client(), "t");

        var items = new List<ProposalOutput>();
        await foreach (var item in client.StreamOutputAsync("p-1", Cancel))
        {
            items.Add(item);
        }

        Assert.Equal(
            [new ProposalOutputText("stdout", "hel"), new ProposalOutputText("stderr", "warn\n")],
            items.OfType<ProposalOutputText>());
        var completed = Assert.IsType<ProposalOutputCompleted>(items[^1]);
        Assert.Equal(0, completed.Result.ExitCode);
        Assert.Equal(12, completed.Result.DurationMs);
    }

    [Fact]
    public async Task StreamOutputAsync_EndsBeforeComplete_Throws()
    {
        var handler = new RecordedStreams(Sse("event: output\ndata: {\"stream\":\"stdout\",\"text\":\"x\"}\n\n"));
        using var client = new ApiaryClient(handler.Client(), "t");

        var ex = await Assert.ThrowsAsync<ApiaryClientException>(async () =>
        {
            await foreach (var _ in client.StreamOutputAsync("p-1", Cancel))
            {
            }
        });
        Assert.Contains("ended before the command completed", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FollowEventsAsync_NegativePosition_ThrowsBeforeIterating()
    {
        using var client = new ApiaryClient(new RecordedStreams().Client(), "t");

        Assert.Throws<ArgumentOutOfRangeException>(() => client.FollowEventsAsync(afterPosition: -1, cancellationToken: Cancel));
    }

    private static string Event(long position, string type) =>
        $"id: {position}\nevent: {type}\ndata: {{\"position\":{position},\"stream\":\"session-s1\",\"version\":{position},\"type\":\"{type}\",\"timestamp\":\"2026-01-02T03:04:05+00:00\",\"data\":{{\"agent\":\"coder\"}},\"has_body\":false}}\n\n";

    private static HttpResponseMessage Sse(params string[] parts) => new(HttpStatusCode.OK)
    {
        Content = new StringContent(string.Concat(parts), Encoding.UTF8, "text/event-stream"),
    };

    /// <summary>Answers each request with the next recorded response, and remembers what was asked.</summary>
    private sealed class RecordedStreams(params HttpResponseMessage[] responses) : HttpMessageHandler
    {
        private readonly Queue<HttpResponseMessage> _responses = new(responses);

        public List<(string PathAndQuery, string? LastEventId, string? Authorization)> Requests { get; } = [];

        public HttpClient Client() => new(this) { BaseAddress = new Uri("http://127.0.0.1:7171/") };

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add((
                request.RequestUri!.PathAndQuery,
                request.Headers.TryGetValues("Last-Event-ID", out var ids) ? ids.Single() : null,
                request.Headers.Authorization?.ToString()));
            var response = _responses.Count > 0
                ? _responses.Dequeue()
                : throw new HttpRequestException("no more recorded responses");
            response.RequestMessage = request;
            return Task.FromResult(response);
        }
    }
}
