using System.Net;
using Apiary.Contracts;

namespace Apiary.Client;

/// <summary>
/// The API refused a request (a problem-details answer), or no server answered at all. The message is for people:
/// the server's detail, or what to do when there is no server.
/// </summary>
public sealed class ApiaryClientException : ApiaryException
{
    /// <summary>Creates an exception for a failure with no HTTP answer (no server, a broken connection).</summary>
    public ApiaryClientException(string message, Exception? innerException = null)
        : base(message, innerException ?? new InvalidOperationException(message))
    {
    }

    /// <summary>Creates an exception for an HTTP answer that was not a success.</summary>
    public ApiaryClientException(HttpStatusCode status, string? title, string? detail)
        : base(Describe(status, title, detail))
    {
        Status = status;
        Title = title;
        Detail = detail;
    }

    /// <summary>The HTTP status of the answer; null when there was no answer.</summary>
    public HttpStatusCode? Status { get; }

    /// <summary>The problem's title (RFC 9457), if the server sent one.</summary>
    public string? Title { get; }

    /// <summary>The problem's detail (RFC 9457): what went wrong and what to do.</summary>
    public string? Detail { get; }

    private static string Describe(HttpStatusCode status, string? title, string? detail)
    {
        var code = $"{(int)status} {status}";
        return (title, detail) switch
        {
            (_, { Length: > 0 }) => $"{detail} ({code})",
            ({ Length: > 0 }, _) => $"{title} ({code})",
            _ => $"the server answered {code}",
        };
    }
}
