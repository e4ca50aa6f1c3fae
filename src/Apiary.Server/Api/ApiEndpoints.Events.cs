using System.Globalization;
using System.Text;

namespace Apiary.Server;

internal static partial class ApiEndpoints
{
    private const int MaxPage = 1000;

    private static async Task<IResult> ReadEventsAsync(long? from, int? limit, string? stream, string? agent, string? session, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        if (from is < 1 || limit is < 1 or > MaxPage)
        {
            return Problems.BadRequest($"'from' must be a position of 1 or more, and 'limit' between 1 and {MaxPage}");
        }

        var filter = new EventMatcher(runtime, stream, agent, session);
        var take = limit ?? 100;
        var events = new List<EventDto>(take);
        await foreach (var e in runtime.Store.ReadAllAsync(from ?? 1, cancellationToken).ConfigureAwait(false))
        {
            if (filter.Matches(e))
            {
                events.Add(Dto(e));
                if (events.Count == take)
                {
                    break;
                }
            }
        }

        return Results.Json<IReadOnlyList<EventDto>>(events, ApiJsonContext.Default.IReadOnlyListEventDto);
    }

    /// <summary>
    /// Server-sent events: each recorded event that passes the filters, with its position as the id. Resumes after
    /// <c>Last-Event-ID</c> (or from <c>from</c>, or from the next event), so a reconnecting client loses and repeats
    /// nothing. A client that falls more than the buffer behind gets a final <c>dropped</c> event and is disconnected.
    /// </summary>
    private static async Task StreamEventsAsync(long? from, string? stream, string? agent, string? session, HttpContext context, ApiaryRuntime runtime, ServerOptions options)
    {
        var start = from ?? 0;
        if (context.Request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } lastId)
        {
            if (!long.TryParse(lastId, NumberStyles.None, CultureInfo.InvariantCulture, out var last))
            {
                await Problems.BadRequest($"Last-Event-ID must be an event position, not '{lastId}'").ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            start = last + 1;
        }

        if (start < 1)
        {
            // No position given: only what is recorded from now on.
            start = runtime.Feed.LastPosition + 1;
        }

        var filter = new EventMatcher(runtime, stream, agent, session);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, runtime.Stopping);
        using var subscription = runtime.Feed.Subscribe(start, options.StreamClientBuffer);

        StartEventStream(context);
        await context.Response.Body.FlushAsync(stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        long? sent = start > 1 ? start - 1 : null;
        try
        {
            await foreach (var e in subscription.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                if (!filter.Matches(e))
                {
                    continue;
                }

                await WriteEventAsync(context.Response, e.Position.ToString(CultureInfo.InvariantCulture), null, JsonSerializer.Serialize(Dto(e), ApiJsonContext.Default.EventDto), stop.Token).ConfigureAwait(false);
                sent = e.Position;
            }

            if (subscription.Dropped)
            {
                var data = JsonSerializer.Serialize(new DroppedDto($"the client fell more than {options.StreamClientBuffer} events behind; reconnect with Last-Event-ID to resume", sent), ServerJsonContext.Default.DroppedDto);
                await WriteEventAsync(context.Response, null, "dropped", data, stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client left or the server stops.
        }

    }

    /// <summary>A proposal's output as server-sent events: <c>output</c> events from the start, then one <c>complete</c>.</summary>
    private static async Task StreamOutputAsync(string id, HttpContext context, ApiaryRuntime runtime)
    {
        if (runtime.Executor.FindRun(id) is not { } run)
        {
            // Ended a while ago: its output as the log recorded it, in one chunk, then how it ended.
            if (await runtime.FindRecordedProposalAsync(id, context.RequestAborted).ConfigureAwait(false) is not { } recorded)
            {
                await UnknownProposal(id).ExecuteAsync(context).ConfigureAwait(false);
                return;
            }

            OutputChunk[] chunks = recorded.Output is { Length: > 0 } output ? [new OutputChunk("stdout", output)] : [];
            await StreamReplayAsync(
                context,
                runtime,
                _ => chunks.ToAsyncEnumerable(),
                chunk => ("output", JsonSerializer.Serialize(chunk, ServerJsonContext.Default.OutputChunk)),
                () => ("complete", JsonSerializer.Serialize(recorded.Proposal.Result ?? new ResultDto(null, recorded.Proposal.Status, 0, Error: recorded.Proposal.Decision.Reason), ApiJsonContext.Default.ResultDto))).ConfigureAwait(false);
            return;
        }

        await StreamReplayAsync(
            context,
            runtime,
            run.ReadOutputAsync,
            chunk => ("output", JsonSerializer.Serialize(chunk, ServerJsonContext.Default.OutputChunk)),
            () =>
            {
                var dto = run.ToDto();
                var result = dto.Result ?? new ResultDto(null, "denied", 0, Error: dto.Decision.Reason);
                return ("complete", JsonSerializer.Serialize(result, ApiJsonContext.Default.ResultDto));
            }).ConfigureAwait(false);
    }

    /// <summary>
    /// Streams a replay log (a run's steps, a proposal's output) as server-sent events: every item from the start,
    /// numbered, live until the log closes, then <paramref name="last"/> when given, until the client leaves or the
    /// server stops.
    /// </summary>
    private static async Task StreamReplayAsync<T>(
        HttpContext context, ApiaryRuntime runtime, Func<CancellationToken, IAsyncEnumerable<T>> read, Func<T, (string Type, string Data)> render, Func<(string Type, string Data)>? last = null)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, runtime.Stopping);
        StartEventStream(context);
        try
        {
            await context.Response.Body.FlushAsync(stop.Token).ConfigureAwait(false);
            var n = 0;
            await foreach (var item in read(stop.Token).ConfigureAwait(false))
            {
                var (type, data) = render(item);
                await WriteEventAsync(context.Response, (++n).ToString(CultureInfo.InvariantCulture), type, data, stop.Token).ConfigureAwait(false);
            }

            if (last is not null)
            {
                var (type, data) = last();
                await WriteEventAsync(context.Response, null, type, data, stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client left or the server stops.
        }
    }

    private static void StartEventStream(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
    }

    private static async Task WriteEventAsync(HttpResponse response, string? id, string? type, string data, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        if (id is not null)
        {
            text.Append("id: ").Append(id).Append('\n');
        }

        if (type is not null)
        {
            text.Append("event: ").Append(type).Append('\n');
        }

        // JSON from the serializer has no raw newlines, so one data line carries it.
        text.Append("data: ").Append(data).Append("\n\n");
        await response.Body.WriteAsync(Encoding.UTF8.GetBytes(text.ToString()), cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static EventDto Dto(RecordedEvent e)
    {
        JsonElement data;
        try
        {
            using var document = JsonDocument.Parse(e.Data);
            data = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            data = JsonSerializer.SerializeToElement(Convert.ToBase64String(e.Data.Span), ServerJsonContext.Default.String);
        }

        return new EventDto(e.Position, e.Stream, e.StreamVersion, e.Type, e.Timestamp, data, e.Body is not null);
    }
}

/// <summary>Which events a reader asked for: by stream, agent and session (events that name neither match only without those filters).</summary>
internal sealed class EventMatcher(ApiaryRuntime runtime, string? stream, string? agent, string? session)
{
    private const string SessionPrefix = "session-";
    private readonly Dictionary<string, (string? Agent, string? Session)> _proposals = new(StringComparer.Ordinal);

    public bool Matches(RecordedEvent e)
    {
        if (stream is not null && e.Stream != stream)
        {
            return false;
        }

        if (agent is null && session is null)
        {
            return true;
        }

        var (eventAgent, eventSession) = Identify(e);
        return (agent is null || eventAgent == agent) && (session is null || eventSession == session);
    }

    private (string? Agent, string? Session) Identify(RecordedEvent e)
    {
        string? foundAgent = null, foundSession = e.Stream.StartsWith(SessionPrefix, StringComparison.Ordinal) ? e.Stream[SessionPrefix.Length..] : null;
        string? proposal = null;
        try
        {
            using var document = JsonDocument.Parse(e.Data);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                foreach (var scope in new[] { root, Child(root, "inputs"), Child(root, "proposal") })
                {
                    foundAgent ??= Text(scope, "agent");
                    foundSession ??= Text(scope, "session");
                }

                proposal = Text(root, "proposal_id");
            }
        }
        catch (JsonException)
        {
            return (null, foundSession);
        }

        if (foundSession is not null && foundAgent is null)
        {
            foundAgent = runtime.Sessions.Find(foundSession)?.AgentName;
        }

        if (proposal is not null)
        {
            if (foundAgent is not null || foundSession is not null)
            {
                _proposals[proposal] = (foundAgent, foundSession);
            }
            else if (_proposals.TryGetValue(proposal, out var known))
            {
                (foundAgent, foundSession) = known;
            }
        }

        return (foundAgent, foundSession);
    }

    private static JsonElement Child(JsonElement element, string name) =>
        element.TryGetProperty(name, out var child) && child.ValueKind == JsonValueKind.Object ? child : default;

    private static string? Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
