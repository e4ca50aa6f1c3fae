using System.ClientModel;
using System.Runtime.CompilerServices;
using Anthropic.Exceptions;
using Microsoft.Extensions.AI;

namespace Apiary.Models;

/// <summary>
/// Makes every failure of a provider's client a <see cref="ModelCallException"/>. The HTTP handler already throws
/// one for failed exchanges; the SDKs may wrap it (or fail on their own, such as on a malformed stream), so this
/// finds it in the chain, or describes the SDK's failure without repeating its message, which may quote a request.
/// </summary>
internal sealed class EndpointErrorChatClient(IChatClient innerClient, ModelEndpoint endpoint) : DelegatingChatClient(innerClient)
{
    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        try
        {
            return await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (Translate(ex, cancellationToken) is { } failure)
        {
            throw failure;
        }
    }

    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return StreamAsync(messages, options, cancellationToken);
    }

    private async IAsyncEnumerable<ChatResponseUpdate> StreamAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var stream = base.GetStreamingResponseAsync(messages, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                try
                {
                    if (!await stream.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield break;
                    }
                }
                catch (Exception ex) when (Translate(ex, cancellationToken) is { } failure)
                {
                    throw failure;
                }

                yield return stream.Current;
            }
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private ModelCallException? Translate(Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            return null;
        }

        if (Find(exception) is { } found)
        {
            // Already ours and unwrapped: let it through as it is.
            return ReferenceEquals(found, exception) ? null : found;
        }

        return exception switch
        {
            ClientResultException { Status: > 0 } result => new ModelCallException(
                $"endpoint '{endpoint.Name}' failed with HTTP {result.Status}", endpoint.Name,
                result.Status >= 500 ? ModelFailure.ServerError : ModelFailure.Rejected, result.Status, innerException: exception),
            AnthropicApiException api => new ModelCallException(
                $"endpoint '{endpoint.Name}' failed with HTTP {(int)api.StatusCode}", endpoint.Name,
                (int)api.StatusCode >= 500 ? ModelFailure.ServerError : ModelFailure.Rejected, (int)api.StatusCode, innerException: exception),
            ClientResultException or AnthropicIOException or HttpRequestException or IOException or TimeoutException or OperationCanceledException =>
                new ModelCallException($"cannot reach endpoint '{endpoint.Name}' at {endpoint.Address}: the connection failed", endpoint.Name, ModelFailure.Unreachable, innerException: exception),
            AnthropicException or System.Text.Json.JsonException or FormatException => new ModelCallException(
                $"endpoint '{endpoint.Name}' at {endpoint.Address} sent a response that is not valid {endpoint.Provider} wire format ({exception.GetType().Name})",
                endpoint.Name, ModelFailure.Rejected, innerException: exception),
            _ => null,
        };
    }

    private static ModelCallException? Find(Exception exception)
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e is ModelCallException model)
            {
                return model;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Select(Find).FirstOrDefault(f => f is not null) is { } inner)
            {
                return inner;
            }
        }

        return null;
    }
}
