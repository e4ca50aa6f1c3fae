using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Apiary.Models;

/// <summary>
/// Sits under both SDKs' HTTP clients and turns every failed exchange into a <see cref="ModelCallException"/> that
/// names the endpoint, the key's source and the fix, with the status and <c>Retry-After</c>. Doing it at the HTTP
/// level keeps one translation for every provider, and sees the headers the SDKs' exceptions do not carry.
/// </summary>
internal sealed class EndpointHttpHandler(ModelEndpoint endpoint, EndpointKey key) : DelegatingHandler(new SocketsHttpHandler
{
    // A model call's response can stream for minutes; connect time is what tells an unreachable endpoint.
    ConnectTimeout = TimeSpan.FromSeconds(15),
    PooledConnectionLifetime = TimeSpan.FromMinutes(5),
})
{
    // Enough of an error body to carry the endpoint's own explanation; error bodies are small.
    private const int MaxErrorBodyChars = 2_000;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new ModelCallException(
                $"cannot reach endpoint '{endpoint.Name}' at {endpoint.Address}: {Describe(ex)}; check that the server is running and base_url in models.yaml",
                endpoint.Name, ModelFailure.Unreachable, innerException: ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ModelCallException(
                $"endpoint '{endpoint.Name}' at {endpoint.Address} did not answer in time", endpoint.Name, ModelFailure.Unreachable, innerException: ex);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            var retryAfter = RetryAfterOf(response);
            var detail = key.Scrub(await ErrorDetailAsync(response, cancellationToken).ConfigureAwait(false));
            var (failure, message) = status switch
            {
                401 or 403 => (ModelFailure.KeyRefused, KeyRefused(status)),
                404 => (ModelFailure.ModelNotFound,
                    $"endpoint '{endpoint.Name}' at {endpoint.Address} answered 404 Not Found{detail}; check the model name (for Ollama, 'ollama pull' it) and base_url in models.yaml"),
                429 => (ModelFailure.RateLimited, $"endpoint '{endpoint.Name}' is limiting the rate of requests (HTTP 429){detail}"),
                >= 500 => (ModelFailure.ServerError, $"endpoint '{endpoint.Name}' failed with HTTP {status}{detail}"),
                _ => (ModelFailure.Rejected, $"endpoint '{endpoint.Name}' rejected the request with HTTP {status}{detail}"),
            };
            throw new ModelCallException(message, endpoint.Name, failure, status, retryAfter);
        }
    }

    private string KeyRefused(int status) => key.Source switch
    {
        EndpointKeySource.Secret =>
            $"the endpoint '{endpoint.Name}' refused the key from secret {key.Name} (HTTP {status}); set the right one with 'apiary secrets set {key.Name}'",
        EndpointKeySource.Environment =>
            $"the endpoint '{endpoint.Name}' refused the key from environment variable {key.Name} (HTTP {status}); set the right one in {key.Name}",
        _ =>
            $"the endpoint '{endpoint.Name}' wants a key (HTTP {status}); add api_key_secret: NAME to endpoints.{endpoint.Name} in models.yaml and run 'apiary secrets set NAME'",
    };

    /// <summary>The wait a response asks for: <c>retry-after-ms</c> (OpenAI, Anthropic), else <c>Retry-After</c> in seconds or as a date.</summary>
    internal static TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        if (response.Headers.TryGetValues("retry-after-ms", out var values)
            && double.TryParse(values.FirstOrDefault(), NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && ms >= 0)
        {
            return TimeSpan.FromMilliseconds(ms);
        }

        return response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - (response.Headers.Date ?? DateTimeOffset.UtcNow) is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
            _ => null,
        };
    }

    // Both wire formats put a human message at error.message; anything else is shown as text, cut short.
    private static async Task<string> ErrorDetailAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string body;
        try
        {
            body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
            return "";
        }

        var text = body.Trim();
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("error", out var error))
            {
                text = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String
                    ? message.GetString()!
                    : error.ValueKind == JsonValueKind.String ? error.GetString()! : text;
            }
        }
        catch (JsonException)
        {
            // Not JSON: the text as it is.
        }

        if (text.Length > MaxErrorBodyChars)
        {
            text = text[..MaxErrorBodyChars] + "...";
        }

        return text.Length == 0 ? "" : $": {text}";
    }

    private static string Describe(HttpRequestException ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is SocketException socket)
            {
                return socket.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused",
                    SocketError.ConnectionReset => "connection reset",
                    SocketError.HostNotFound or SocketError.NoData => "host not found",
                    SocketError.TimedOut => "connection timed out",
                    _ => socket.Message,
                };
            }
        }

        return ex.HttpRequestError switch
        {
            HttpRequestError.NameResolutionError => "host not found",
            HttpRequestError.ConnectionError => "connection failed",
            HttpRequestError.SecureConnectionError => "TLS handshake failed",
            HttpRequestError.ResponseEnded => "the connection closed before the response ended",
            _ => ex.Message,
        };
    }
}

/// <summary>Where an endpoint's key comes from.</summary>
internal enum EndpointKeySource
{
    /// <summary>No key is configured.</summary>
    None,

    /// <summary>A secret in the home's secret store.</summary>
    Secret,

    /// <summary>An environment variable.</summary>
    Environment,
}

/// <summary>An endpoint's key and where it came from. Its <see cref="ToString"/> never shows the value.</summary>
internal sealed class EndpointKey(EndpointKeySource source, string? name, string? value)
{
    public static EndpointKey None { get; } = new(EndpointKeySource.None, null, null);

    public EndpointKeySource Source => source;

    /// <summary>The secret's or variable's name.</summary>
    public string? Name => name;

    /// <summary>The key; null when none is configured or it is not set.</summary>
    public string? Value => value;

    /// <summary><paramref name="text"/> with the key, should an endpoint echo it back, masked.</summary>
    public string Scrub(string text) =>
        string.IsNullOrEmpty(value) || value.Length < 4 ? text : text.Replace(value, "***", StringComparison.Ordinal);

    public override string ToString() => source switch
    {
        EndpointKeySource.Secret => $"secret {name}",
        EndpointKeySource.Environment => $"environment variable {name}",
        _ => "no key",
    };
}
