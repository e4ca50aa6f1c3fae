using System.ClientModel;
using System.ClientModel.Primitives;
using Anthropic;
using Anthropic.Core;
using Apiary.Models.Telemetry;
using Microsoft.Extensions.AI;
using OpenAI;

namespace Apiary.Models;

public sealed partial class ModelCatalog
{
    // Local OpenAI-compatible servers (Ollama, llama.cpp) want no key, but the SDK sends one; they ignore it.
    private const string NoKey = "no-key";

    private ModelBinding Bind(ModelEndpoint endpoint, EndpointKey key, string model, string reference)
    {
        var http = _httpClients.GetOrAdd(endpoint.Name, _ => new HttpClient(new EndpointHttpHandler(endpoint, key))
        {
            // The SDKs time each call themselves (CallTimeout); this one must not cut a long stream short first.
            Timeout = Timeout.InfiniteTimeSpan,
        });

        IChatClient provider = endpoint.Provider switch
        {
            ModelProvider.OpenAI => new OpenAIChatClient(
                new OpenAI.Chat.ChatClient(model, new ApiKeyCredential(key.Value ?? NoKey), new OpenAIClientOptions
                {
                    Endpoint = endpoint.BaseUrl,
                    Transport = new HttpClientPipelineTransport(http),
                    // Retries are Apiary's (RetryingChatClient), with one policy for every provider.
                    RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
                    NetworkTimeout = _options.CallTimeout,
                }),
                model,
                endpoint.BaseUrl),
            ModelProvider.Anthropic => NewAnthropic(endpoint, key, model, http),
            _ => throw new ModelConfigurationException($"endpoint '{endpoint.Name}' has an unknown provider"),
        };

        var client = new TelemetryChatClient(
            new RetryingChatClient(new EndpointErrorChatClient(provider, endpoint), _options.Retry, _options.TimeProvider),
            endpoint.Name,
            endpoint.Provider == ModelProvider.Anthropic ? "anthropic" : "openai",
            model);
        lock (_owned)
        {
            _owned.Add(client);
        }

        var price = _file!.Prices.TryGetValue(reference, out var known) ? known : null;
        return new ModelBinding(endpoint.Name, model, client, price);
    }

    private IChatClient NewAnthropic(ModelEndpoint endpoint, EndpointKey key, string model, HttpClient http)
    {
        var options = new ClientOptions
        {
            ApiKey = key.Value,
            HttpClient = http,
            MaxRetries = 0,
            Timeout = _options.CallTimeout,
            // Apiary records model calls itself, under its retention rules; the SDK's spans could carry prompts.
            OpenTelemetry = false,
        };
        if (endpoint.BaseUrl is { } baseUrl)
        {
            options.BaseUrl = baseUrl.ToString().TrimEnd('/');
        }

        var anthropic = new AnthropicClient(options);
        lock (_owned)
        {
            _owned.Add(anthropic);
        }

        return anthropic.AsIChatClient(model);
    }
}
