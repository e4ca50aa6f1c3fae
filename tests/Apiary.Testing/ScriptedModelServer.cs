using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Apiary.Testing;

/// <summary>A tool call a scripted reply makes: its id (made up when null), the tool's name and its JSON arguments.</summary>
public sealed record ScriptedToolCall(string Name, string ArgumentsJson, string? Id = null);

/// <summary>One scripted model reply: text, tool calls, or both, with the usage it reports.</summary>
public sealed record ScriptedReply(string? Text, IReadOnlyList<ScriptedToolCall> ToolCalls, int InputTokens = 10, int OutputTokens = 5)
{
    /// <summary>A plain text reply.</summary>
    public static ScriptedReply WithText(string text, int inputTokens = 10, int outputTokens = 5) => new(text, [], inputTokens, outputTokens);

    /// <summary>A reply that only calls tools.</summary>
    public static ScriptedReply WithToolCalls(params ScriptedToolCall[] calls) => new(null, calls);

    /// <summary>When set, the reply is held back until this completes: a test lets the model answer once something else has happened.</summary>
    public Task? Gate { get; init; }
}

/// <summary>A tool call as a request carried it back (in an assistant message).</summary>
public sealed record RecordedToolCall(string Id, string Name, string ArgumentsJson);

/// <summary>A tool result as a request carried it (a <c>tool</c> message or a <c>tool_result</c> block).</summary>
public sealed record RecordedToolResult(string CallId, string Content);

/// <summary>One message of a recorded request, in a shape common to both wire formats.</summary>
public sealed record RecordedMessage(string Role, string Text, IReadOnlyList<RecordedToolCall> ToolCalls, IReadOnlyList<RecordedToolResult> ToolResults);

/// <summary>Everything the server received in one request, for assertions.</summary>
/// <param name="WireFormat"><c>openai</c> or <c>anthropic</c>.</param>
public sealed record RecordedModelRequest(
    string WireFormat,
    string Path,
    string Model,
    bool Stream,
    IReadOnlyDictionary<string, string> Headers,
    string? System,
    IReadOnlyList<RecordedMessage> Messages,
    IReadOnlyList<string> ToolNames,
    JsonObject Body)
{
    /// <summary>A header's value, or null; names are case-insensitive.</summary>
    public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var value) ? value : null;
}

/// <summary>
/// A real HTTP server on 127.0.0.1 that plays a hosted model from a script, speaking the real wire formats:
/// OpenAI chat completions at <c>POST /v1/chat/completions</c> and Anthropic messages at <c>POST /v1/messages</c>,
/// each plain or streamed (server-sent events), with tool calls. Replies are taken from a queue in order, whichever
/// format asks; every request is recorded; and the next requests can be told to fail with a status.
/// </summary>
public sealed partial class ScriptedModelServer : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ScriptedReply> _replies = new();
    private readonly ConcurrentQueue<(HttpStatusCode Status, TimeSpan? RetryAfter)> _failures = new();
    private readonly List<RecordedModelRequest> _requests = [];
    private int _ids;

    private ScriptedModelServer(WebApplication app) => _app = app;

    /// <summary>The server's root, <c>http://127.0.0.1:PORT/</c>: the base URL for Anthropic clients.</summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary><c>http://127.0.0.1:PORT/v1</c>: the base URL for OpenAI clients.</summary>
    public Uri OpenAIBaseUri => new(BaseUri, "v1");

    /// <summary>Every request received, in order.</summary>
    public IReadOnlyList<RecordedModelRequest> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Starts a server on a free loopback port.</summary>
    public static async Task<ScriptedModelServer> StartAsync(CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddRoutingCore();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new ScriptedModelServer(app);
        app.UseRouting();
        app.MapPost("/v1/chat/completions", server.OpenAIAsync);
        app.MapPost("/v1/messages", server.AnthropicAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUri = new Uri(address.TrimEnd('/') + "/");
        return server;
    }

    /// <summary>Queues a reply.</summary>
    public ScriptedModelServer Enqueue(ScriptedReply reply)
    {
        _replies.Enqueue(reply);
        return this;
    }

    /// <summary>Queues a plain text reply.</summary>
    public ScriptedModelServer EnqueueText(string text, int inputTokens = 10, int outputTokens = 5) =>
        Enqueue(ScriptedReply.WithText(text, inputTokens, outputTokens));

    /// <summary>Queues a reply that calls tools.</summary>
    public ScriptedModelServer EnqueueToolCalls(params ScriptedToolCall[] calls) => Enqueue(ScriptedReply.WithToolCalls(calls));

    /// <summary>Makes the next <paramref name="count"/> requests fail with <paramref name="status"/> (and <c>Retry-After</c> when given).</summary>
    public ScriptedModelServer FailNext(int count, HttpStatusCode status, TimeSpan? retryAfter = null)
    {
        for (var i = 0; i < count; i++)
        {
            _failures.Enqueue((status, retryAfter));
        }

        return this;
    }

    /// <summary>How many scripted replies are still queued.</summary>
    public int RepliesLeft => _replies.Count;

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private string NextId(string prefix) => $"{prefix}{Interlocked.Increment(ref _ids):D4}";

    private void Record(RecordedModelRequest request)
    {
        lock (_requests)
        {
            _requests.Add(request);
        }
    }

    private static Dictionary<string, string> HeadersOf(HttpRequest request) =>
        request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal);

    private static async Task<JsonObject> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken) =>
        (await JsonNode.ParseAsync(request.Body, cancellationToken: cancellationToken).ConfigureAwait(false))?.AsObject()
        ?? throw new InvalidOperationException("the request has no JSON body");

    /// <summary>The next failure to play, written in <paramref name="format"/>'s error shape; false when there is none.</summary>
    private async Task<bool> TryFailAsync(HttpResponse response, string format, CancellationToken cancellationToken)
    {
        if (!_failures.TryDequeue(out var failure))
        {
            return false;
        }

        response.StatusCode = (int)failure.Status;
        if (failure.RetryAfter is { } wait)
        {
            response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        await WriteErrorAsync(response, format, $"scripted failure {(int)failure.Status}", cancellationToken).ConfigureAwait(false);
        return true;
    }

    private static Task WriteErrorAsync(HttpResponse response, string format, string message, CancellationToken cancellationToken)
    {
        var type = response.StatusCode switch
        {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            >= 500 => "api_error",
            _ => "invalid_request_error",
        };
        var body = format == "anthropic"
            ? new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = type, ["message"] = message } }
            : new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["code"] = null } };
        response.ContentType = "application/json";
        return response.WriteAsync(body.ToJsonString(Compact), cancellationToken);
    }

    private ScriptedReply? NextReply() => _replies.TryDequeue(out var reply) ? reply : null;

    private static async Task WriteSseAsync(HttpResponse response, string? eventName, JsonNode data, CancellationToken cancellationToken)
    {
        var text = eventName is null ? $"data: {data.ToJsonString(Compact)}\n\n" : $"event: {eventName}\ndata: {data.ToJsonString(Compact)}\n\n";
        await response.WriteAsync(text, cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void StartSse(HttpResponse response)
    {
        response.StatusCode = 200;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
    }

    // Arguments are streamed in a few pieces, as real servers do, so clients must put them back together.
    private static IEnumerable<string> Pieces(string text, int size = 7)
    {
        for (var i = 0; i < text.Length; i += size)
        {
            yield return text.Substring(i, Math.Min(size, text.Length - i));
        }
    }

    private static string TextOf(JsonNode? content) => content switch
    {
        null => "",
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        JsonArray parts => string.Concat(parts.Select(p => p?["type"]?.GetValue<string>() == "text" ? p["text"]?.GetValue<string>() : null)),
        _ => content.ToJsonString(),
    };
}
