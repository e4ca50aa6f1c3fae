namespace Apiary.Models;

/// <summary>Why a call to a model endpoint failed.</summary>
public enum ModelFailure
{
    /// <summary>The endpoint refused the key (HTTP 401 or 403).</summary>
    KeyRefused,

    /// <summary>The endpoint does not serve the model, or the base URL is wrong (HTTP 404).</summary>
    ModelNotFound,

    /// <summary>The endpoint limits the rate of requests (HTTP 429); transient.</summary>
    RateLimited,

    /// <summary>The endpoint failed or is overloaded (HTTP 5xx); transient.</summary>
    ServerError,

    /// <summary>No connection could be made, or it broke, or the request timed out; transient.</summary>
    Unreachable,

    /// <summary>The endpoint rejected the request (another 4xx): the request itself is wrong.</summary>
    Rejected,
}

/// <summary>
/// A call to a model endpoint failed. The message names the endpoint and what to do; it never holds a key. Transient
/// failures (<see cref="IsTransient"/>) are retried with backoff before this reaches a caller.
/// </summary>
public sealed class ModelCallException : ApiaryException
{
    /// <summary>Creates the exception.</summary>
    public ModelCallException(string message, string endpoint, ModelFailure failure, int? statusCode = null, TimeSpan? retryAfter = null, Exception? innerException = null)
        : base(message, innerException!)
    {
        Endpoint = endpoint;
        Failure = failure;
        StatusCode = statusCode;
        RetryAfter = retryAfter;
    }

    /// <summary>The endpoint's name in <c>models.yaml</c>.</summary>
    public string Endpoint { get; }

    /// <summary>Why the call failed.</summary>
    public ModelFailure Failure { get; }

    /// <summary>The HTTP status, when the endpoint answered.</summary>
    public int? StatusCode { get; }

    /// <summary>How long the endpoint asked callers to wait (<c>Retry-After</c>), if it said.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>True when trying again later may succeed: rate limits, server errors and connection failures.</summary>
    public bool IsTransient => Failure is ModelFailure.RateLimited or ModelFailure.ServerError or ModelFailure.Unreachable;

    /// <summary>This failure with <paramref name="suffix"/> added to its message, keeping this one as the cause.</summary>
    internal ModelCallException WithSuffix(string suffix) =>
        new(Message + suffix, Endpoint, Failure, StatusCode, RetryAfter, this);
}
