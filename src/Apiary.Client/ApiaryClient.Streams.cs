using System.Globalization;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Apiary.Contracts;

namespace Apiary.Client;

// The event log and the server-sent event streams: reading from a position, following live with resume, and a
// command's live output.
public sealed partial class ApiaryClient
{
    /// <summary>The size of a page when <see cref="ReadAllEventsAsync"/> walks the log.</summary>
    private const int PageSize = 500;

    /// <summary>How many reconnects in a row may fail before <see cref="FollowEventsAsync"/> gives up.</summary>
    private const int MaxReconnectFailures = 8;

    /// <summary>The SSE event the server sends before it drops a client that reads too slowly.</summary>
    private const string DroppedEvent = "dropped";

    /// <summary>The delay before the first retry after a failed reconnect; it doubles each time, up to <see cref="MaxReconnectDelay"/>.</summary>
    private static readonly TimeSpan FirstReconnectDelay = TimeSpan.FromMilliseconds(250);

    private static readonly TimeSpan MaxReconnectDelay = TimeSpan.FromSeconds(5);

    /// <summary><c>GET /api/events</c>: up to <paramref name="limit"/> events from position <paramref name="from"/> on (inclusive) that match <paramref name="filter"/>.</summary>
    public Task<IReadOnlyList<EventDto>> ReadEventsAsync(long from = 1, int? limit = null, EventFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(from);
        if (limit is { } l)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(l, nameof(limit));
        }

        var query = new List<string> { $"from={from.ToString(CultureInfo.InvariantCulture)}" };
        EventFilter.Add(query, "limit", limit?.ToString(CultureInfo.InvariantCulture));
        (filter ?? EventFilter.All).AppendTo(query);
        return GetAsync("api/events?" + string.Join('&', query), ApiJsonContext.Default.IReadOnlyListEventDto, cancellationToken);
    }

    /// <summary>Every committed event from position <paramref name="from"/> on that matches <paramref name="filter"/>, read page by page; ends at the end of the log.</summary>
    public IAsyncEnumerable<EventDto> ReadAllEventsAsync(long from = 1, EventFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(from);
        return ReadAllCoreAsync(from, filter ?? EventFilter.All, cancellationToken);
    }

    /// <summary>
    /// <c>GET /api/events/stream</c>: the events after position <paramref name="afterPosition"/> (or, when null, those
    /// the server starts a new stream with) that match <paramref name="filter"/>, live, until cancelled. When the
    /// connection breaks, or the server drops this client for reading too slowly, the client reconnects and resumes
    /// after the last event it yielded (<c>Last-Event-ID</c>), so no event is lost or repeated.
    /// </summary>
    /// <param name="filter">Which events.</param>
    /// <param name="afterPosition">Resume after this position.</param>
    /// <param name="reconnecting">Told why, each time the client reconnects.</param>
    /// <param name="cancellationToken">Stops following.</param>
    /// <exception cref="ApiaryClientException">The server refused the stream, or could not be reached again after several tries.</exception>
    public IAsyncEnumerable<EventDto> FollowEventsAsync(
        EventFilter? filter = null, long? afterPosition = null, Action<string>? reconnecting = null, CancellationToken cancellationToken = default)
    {
        if (afterPosition is { } after)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(after, nameof(afterPosition));
        }

        return FollowCoreAsync(filter ?? EventFilter.All, afterPosition, reconnecting, cancellationToken);
    }

    /// <summary><c>GET /api/proposals/{id}/output</c>: a running command's output as it is written, then how it ended.</summary>
    public IAsyncEnumerable<ProposalOutput> StreamOutputAsync(string proposalId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(proposalId);
        return StreamOutputCoreAsync(proposalId, cancellationToken);
    }

    private async IAsyncEnumerable<EventDto> ReadAllCoreAsync(long from, EventFilter filter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var next = from;
        while (true)
        {
            var page = await ReadEventsAsync(next, PageSize, filter, cancellationToken).ConfigureAwait(false);
            if (page.Count == 0)
            {
                yield break;
            }

            foreach (var e in page)
            {
                yield return e;
            }

            next = page[^1].Position + 1;
        }
    }

    private async IAsyncEnumerable<EventDto> FollowCoreAsync(
        EventFilter filter, long? afterPosition, Action<string>? reconnecting, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var query = new List<string>();
        filter.AppendTo(query);
        var path = "api/events/stream" + (query.Count > 0 ? "?" + string.Join('&', query) : "");
        var last = afterPosition;
        var failures = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            HttpResponseMessage response;
            using (var request = Request(HttpMethod.Get, path))
            {
                request.Headers.Accept.ParseAdd("text/event-stream");
                if (last is { } position)
                {
                    request.Headers.TryAddWithoutValidation("Last-Event-ID", position.ToString(CultureInfo.InvariantCulture));
                }

                try
                {
                    response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                }
                catch (ApiaryClientException ex) when (ex.Status is null && failures < MaxReconnectFailures)
                {
                    // No answer at all (the server restarting, say): retry with a growing delay; a refusal is final.
                    reconnecting?.Invoke($"cannot reach the server ({ex.Message}); retrying");
                    await Task.Delay(RetryDelay(failures++), _time, cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }

            string why;
            using (response)
            {
                var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                await using (stream.ConfigureAwait(false))
                {
                    var items = SseParser.Create(stream).EnumerateAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
                    await using (items.ConfigureAwait(false))
                    {
                        while (true)
                        {
                            bool more;
                            try
                            {
                                more = await items.MoveNextAsync().ConfigureAwait(false);
                            }
                            catch (Exception ex) when (ex is IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
                            {
                                why = $"the connection broke ({ex.Message})";
                                break;
                            }

                            if (!more)
                            {
                                why = "the server ended the stream";
                                break;
                            }

                            var item = items.Current;
                            if (item.EventType == DroppedEvent)
                            {
                                why = "the server dropped this client for reading too slowly";
                                break;
                            }

                            if (string.IsNullOrEmpty(item.Data))
                            {
                                continue;
                            }

                            var e = ParseEvent(item.Data);
                            if (e.Position <= last)
                            {
                                // Already yielded before a reconnect: resuming must not repeat it.
                                continue;
                            }

                            last = e.Position;
                            failures = 0;
                            yield return e;
                        }
                    }
                }
            }

            if (failures >= MaxReconnectFailures)
            {
                throw new ApiaryClientException($"lost the event stream from {BaseAddress} and could not resume it ({why}); is the server still running?");
            }

            reconnecting?.Invoke($"{why}; resuming after position {(last is { } p ? p.ToString(CultureInfo.InvariantCulture) : "(none)")}");
            await Task.Delay(RetryDelay(failures++), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async IAsyncEnumerable<ProposalOutput> StreamOutputCoreAsync(string proposalId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Get, $"api/proposals/{Escape(proposalId)}/output");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await foreach (var item in SseParser.Create(stream).EnumerateAsync(cancellationToken).ConfigureAwait(false))
            {
                switch (item.EventType)
                {
                    case "output":
                        var chunk = Parse(item.Data, ClientJsonContext.Default.OutputChunkDto);
                        yield return new ProposalOutputText(chunk.Stream, chunk.Text);
                        break;
                    case "complete":
                        yield return new ProposalOutputCompleted(Parse(item.Data, ApiJsonContext.Default.ResultDto));
                        yield break;
                    default:
                        // Other events (keep-alives, future kinds) carry nothing this client reads.
                        break;
                }
            }
        }

        throw new ApiaryClientException($"the output stream of proposal {proposalId} ended before the command completed; 'GET /api/proposals/{proposalId}' shows where it stands");
    }

    /// <summary>The delay before retry number <paramref name="failures"/> + 1: none for the first, then doubling.</summary>
    private static TimeSpan RetryDelay(int failures) =>
        failures == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(Math.Min(MaxReconnectDelay.Ticks, FirstReconnectDelay.Ticks << Math.Min(failures - 1, 16)));

    private static EventDto ParseEvent(string data) => Parse(data, ApiJsonContext.Default.EventDto);

    private static T Parse<T>(string data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(data, type) ?? throw new JsonException("null");
        }
        catch (JsonException ex)
        {
            throw new ApiaryClientException($"the server sent a stream item this client does not understand ({ex.Message}): {Shorten(data)}", ex);
        }
    }
}
