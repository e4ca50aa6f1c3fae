using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Apiary.Secrets;
using Apiary.Testing;
using Microsoft.Extensions.AI;

namespace Apiary.Models.Tests;

/// <summary>Both providers through the real SDKs against the scripted server, which speaks each real wire format.</summary>
public sealed class ProviderTests : IAsyncLifetime
{
    private const string Key = "sk-test-9f8e7d6c5b4a39281706";

    private readonly TestHome _home = new();
    private readonly RecordingTimeProvider _clock = new();
    private ScriptedModelServer _server = null!;

    public static TheoryData<string> Providers => ["openai", "anthropic"];

    public async ValueTask InitializeAsync() => _server = await ScriptedModelServer.StartAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _home.Dispose();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<ModelCatalog> CatalogAsync(string provider, string? baseUrl = null, int maxAttempts = 4)
    {
        var url = baseUrl ?? (provider == "openai" ? _server.OpenAIBaseUri.ToString() : _server.BaseUri.ToString());
        await File.WriteAllTextAsync(ModelsFile.PathIn(_home.Home), $"""
            endpoints:
              scripted: {"{"} provider: {provider}, base_url: "{url}", api_key_secret: MODEL_KEY {"}"}
            """, Ct);
        var secrets = new FileSecretStore(_home.Home);
        await secrets.SetAsync("MODEL_KEY", Key, Ct);
        return await ModelCatalog.LoadAsync(_home.Home, secrets, new ModelCatalogOptions
        {
            Retry = new ModelRetryPolicy { MaxAttempts = maxAttempts, BaseDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromSeconds(30) },
            TimeProvider = _clock,
        }, Ct);
    }

    private static List<ChatMessage> Ask(string text) => [new(ChatRole.System, "You are terse."), new(ChatRole.User, text)];

    private static AIFunctionDeclaration WeatherTool() => AIFunctionFactory.CreateDeclaration(
        "get_weather", "The weather in a city",
        JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""").RootElement);

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task GetResponse_PlainText_ReturnsTextUsageAndSendsPromptModelAndKey(string provider)
    {
        using var catalog = await CatalogAsync(provider);
        _server.EnqueueText("Hello there.", inputTokens: 12, outputTokens: 3);

        var response = await catalog.Resolve("scripted/test-model").Client.GetResponseAsync(Ask("Say hello"), new ChatOptions { Temperature = 0.2f, MaxOutputTokens = 100 }, Ct);

        Assert.Equal("Hello there.", response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(12, response.Usage!.InputTokenCount);
        Assert.Equal(3, response.Usage.OutputTokenCount);
        var request = Assert.Single(_server.Requests);
        Assert.Equal(provider, request.WireFormat);
        Assert.Equal("test-model", request.Model);
        Assert.False(request.Stream);
        Assert.Equal("You are terse.", request.System);
        Assert.Equal("Say hello", request.Messages.Single(m => m.Role == "user").Text);
        Assert.Equal(100, request.Body[provider == "openai" ? "max_completion_tokens" : "max_tokens"]!.GetValue<int>());
        if (provider == "openai")
        {
            // Anthropic's IChatClient (SDK 13.11) does not send ChatOptions.Temperature; see docs/models.md.
            Assert.Equal(0.2, request.Body["temperature"]!.GetValue<double>(), 3);
        }

        AssertKeySent(provider, request);
    }

    private static void AssertKeySent(string provider, RecordedModelRequest request)
    {
        if (provider == "openai")
        {
            Assert.Equal($"Bearer {Key}", request.Header("Authorization"));
        }
        else
        {
            Assert.True(request.Header("x-api-key") == Key || request.Header("Authorization") == $"Bearer {Key}", "the key is sent as x-api-key or a bearer token");
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task GetStreamingResponse_Text_ArrivesInPiecesWithUsage(string provider)
    {
        using var catalog = await CatalogAsync(provider);
        _server.EnqueueText("Streaming works fine.", inputTokens: 20, outputTokens: 4);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in catalog.Resolve("scripted/test-model").Client.GetStreamingResponseAsync(Ask("Stream"), cancellationToken: Ct))
        {
            updates.Add(update);
        }

        Assert.True(updates.Count(u => u.Text.Length > 0) > 1, "the text arrives in more than one update");
        var response = updates.ToChatResponse();
        Assert.Equal("Streaming works fine.", response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(20, response.Usage!.InputTokenCount);
        Assert.Equal(4, response.Usage.OutputTokenCount);
        Assert.True(Assert.Single(_server.Requests).Stream);
    }

    [Theory]
    [InlineData("openai", false)]
    [InlineData("openai", true)]
    [InlineData("anthropic", false)]
    [InlineData("anthropic", true)]
    public async Task ToolCall_RoundTrip_CallOutAndResultBackInTheNextRequest(string provider, bool stream)
    {
        using var catalog = await CatalogAsync(provider);
        var client = catalog.Resolve("scripted/test-model").Client;
        var options = new ChatOptions { Tools = [WeatherTool()] };
        _server.EnqueueToolCalls(new ScriptedToolCall("get_weather", """{"city":"Lisbon","days":2}"""));
        _server.EnqueueText("It is sunny in Lisbon.");

        var messages = Ask("Weather in Lisbon?");
        var first = stream
            ? await client.GetStreamingResponseAsync(messages, options, Ct).ToChatResponseAsync(Ct)
            : await client.GetResponseAsync(messages, options, Ct);

        Assert.Equal(ChatFinishReason.ToolCalls, first.FinishReason);
        var call = Assert.Single(first.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("Lisbon", call.Arguments!["city"]?.ToString());
        Assert.Equal("2", call.Arguments["days"]?.ToString());
        Assert.False(string.IsNullOrEmpty(call.CallId));

        messages.AddRange(first.Messages);
        messages.Add(new ChatMessage(ChatRole.Tool, [new FunctionResultContent(call.CallId, "sunny, 24 C")]));
        var second = stream
            ? await client.GetStreamingResponseAsync(messages, options, Ct).ToChatResponseAsync(Ct)
            : await client.GetResponseAsync(messages, options, Ct);

        Assert.Equal("It is sunny in Lisbon.", second.Text);
        Assert.Equal(2, _server.Requests.Count);
        Assert.Equal(["get_weather"], _server.Requests[0].ToolNames);
        var sent = _server.Requests[1];
        var echoedCall = Assert.Single(sent.Messages.SelectMany(m => m.ToolCalls));
        Assert.Equal(call.CallId, echoedCall.Id);
        Assert.Equal("get_weather", echoedCall.Name);
        Assert.Equal("Lisbon", JsonDocument.Parse(echoedCall.ArgumentsJson).RootElement.GetProperty("city").GetString());
        var result = Assert.Single(sent.Messages.SelectMany(m => m.ToolResults));
        Assert.Equal(call.CallId, result.CallId);
        Assert.Equal("sunny, 24 C", result.Content);
    }

    [Theory]
    [InlineData("openai", HttpStatusCode.TooManyRequests)]
    [InlineData("openai", HttpStatusCode.InternalServerError)]
    [InlineData("anthropic", HttpStatusCode.TooManyRequests)]
    [InlineData("anthropic", HttpStatusCode.InternalServerError)]
    public async Task TransientFailures_AreRetriedWithBackoffThenSucceed(string provider, HttpStatusCode status)
    {
        using var catalog = await CatalogAsync(provider);
        _server.FailNext(2, status).EnqueueText("after retries");

        var response = await catalog.Resolve("scripted/test-model").Client.GetResponseAsync(Ask("hi"), cancellationToken: Ct);

        Assert.Equal("after retries", response.Text);
        Assert.Equal(3, _server.Requests.Count);
        Assert.Equal(2, _clock.Delays.Count);
        Assert.InRange(_clock.Delays[0], TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100));
        Assert.InRange(_clock.Delays[1], TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task RateLimit_WithRetryAfter_WaitsAsAsked(string provider)
    {
        using var catalog = await CatalogAsync(provider);
        _server.FailNext(1, HttpStatusCode.TooManyRequests, retryAfter: TimeSpan.FromSeconds(7)).EnqueueText("ok");

        var response = await catalog.Resolve("scripted/test-model").Client.GetResponseAsync(Ask("hi"), cancellationToken: Ct);

        Assert.Equal("ok", response.Text);
        Assert.Equal([TimeSpan.FromSeconds(7)], _clock.Delays);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Streaming_TransientFailureBeforeFirstUpdate_IsRetried(string provider)
    {
        using var catalog = await CatalogAsync(provider);
        _server.FailNext(1, HttpStatusCode.ServiceUnavailable).EnqueueText("streamed after retry");

        var response = await catalog.Resolve("scripted/test-model").Client.GetStreamingResponseAsync(Ask("hi"), cancellationToken: Ct).ToChatResponseAsync(Ct);

        Assert.Equal("streamed after retry", response.Text);
        Assert.Equal(2, _server.Requests.Count);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task TransientFailures_BeyondMaxAttempts_GiveUpWithCount(string provider)
    {
        using var catalog = await CatalogAsync(provider, maxAttempts: 3);
        _server.FailNext(5, HttpStatusCode.BadGateway);

        var ex = await Assert.ThrowsAsync<ModelCallException>(() => catalog.Resolve("scripted/test-model").Client.GetResponseAsync(Ask("hi"), cancellationToken: Ct));

        Assert.Equal(ModelFailure.ServerError, ex.Failure);
        Assert.Equal(502, ex.StatusCode);
        Assert.EndsWith("(gave up after 3 attempts)", ex.Message, StringComparison.Ordinal);
        Assert.Equal(3, _server.Requests.Count);
        AssertNoKeyIn(ex);
    }

    [Theory]
    [InlineData("openai", HttpStatusCode.Unauthorized, false)]
    [InlineData("openai", HttpStatusCode.Forbidden, true)]
    [InlineData("anthropic", HttpStatusCode.Unauthorized, true)]
    [InlineData("anthropic", HttpStatusCode.Forbidden, false)]
    public async Task WrongKey_ClearErrorNamingTheSecret_NoRetry_KeyNeverShown(string provider, HttpStatusCode status, bool stream)
    {
        using var catalog = await CatalogAsync(provider);
        _server.FailNext(1, status);
        var client = catalog.Resolve("scripted/test-model").Client;

        var ex = await Assert.ThrowsAsync<ModelCallException>(() => stream
            ? client.GetStreamingResponseAsync(Ask("hi"), cancellationToken: Ct).ToChatResponseAsync(Ct)
            : client.GetResponseAsync(Ask("hi"), cancellationToken: Ct));

        Assert.Equal(ModelFailure.KeyRefused, ex.Failure);
        Assert.StartsWith($"the endpoint 'scripted' refused the key from secret MODEL_KEY (HTTP {(int)status}); set the right one with 'apiary secrets set MODEL_KEY'", ex.Message, StringComparison.Ordinal);
        Assert.Single(_server.Requests);
        Assert.Empty(_clock.Delays);
        AssertNoKeyIn(ex);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task UnknownModel_ClearErrorWithoutRetry(string provider)
    {
        using var catalog = await CatalogAsync(provider);
        _server.FailNext(1, HttpStatusCode.NotFound);

        var ex = await Assert.ThrowsAsync<ModelCallException>(() => catalog.Resolve("scripted/no-such-model").Client.GetResponseAsync(Ask("hi"), cancellationToken: Ct));

        Assert.Equal(ModelFailure.ModelNotFound, ex.Failure);
        Assert.Contains("endpoint 'scripted'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("404 Not Found: scripted failure 404; check the model name", ex.Message, StringComparison.Ordinal);
        Assert.Single(_server.Requests);
        AssertNoKeyIn(ex);
    }

    [Theory]
    [InlineData("openai", false)]
    [InlineData("openai", true)]
    [InlineData("anthropic", false)]
    [InlineData("anthropic", true)]
    public async Task UnreachableEndpoint_ClearErrorAfterRetries(string provider, bool stream)
    {
        var url = $"http://127.0.0.1:{ClosedPort()}/{(provider == "openai" ? "v1" : "")}";
        using var catalog = await CatalogAsync(provider, url, maxAttempts: 2);
        var client = catalog.Resolve("scripted/test-model").Client;

        var ex = await Assert.ThrowsAsync<ModelCallException>(() => stream
            ? client.GetStreamingResponseAsync(Ask("hi"), cancellationToken: Ct).ToChatResponseAsync(Ct)
            : client.GetResponseAsync(Ask("hi"), cancellationToken: Ct));

        Assert.Equal(ModelFailure.Unreachable, ex.Failure);
        Assert.StartsWith($"cannot reach endpoint 'scripted' at {url}: connection refused", ex.Message, StringComparison.Ordinal);
        Assert.EndsWith("(gave up after 2 attempts)", ex.Message, StringComparison.Ordinal);
        Assert.Single(_clock.Delays);
        AssertNoKeyIn(ex);
    }

    private static void AssertNoKeyIn(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            Assert.DoesNotContain(Key, e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(Key, e.ToString(), StringComparison.Ordinal);
        }
    }

    // A port that was free a moment ago: nothing listens there, so connecting is refused.
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
