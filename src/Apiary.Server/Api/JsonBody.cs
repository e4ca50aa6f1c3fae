using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Apiary.Server;

/// <summary>
/// Reads and checks a JSON request body, answering with a problem rather than throwing: the one way every route's body
/// enters. A body must say it is JSON (<c>application/json</c> or <c>application/*+json</c>, in UTF-8), else 415; it
/// must fit the size limit (413) and be valid JSON of the route's type (400 naming the field).
/// </summary>
internal static class JsonBody
{
    public static async Task<(T? Value, IResult? Problem)> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> info, bool optional = false)
        where T : class
    {
        var request = context.Request;
        var limit = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
        if (request.ContentLength is { } length && limit is { } max && length > max)
        {
            return (null, Problems.Of(413, "Body too large", $"the body is {length} bytes; the limit is {max} bytes. Send less (large files belong in the workspace, not in a request)"));
        }

        if (optional && request.ContentLength is 0 or null && !request.Headers.ContainsKey("Transfer-Encoding"))
        {
            return (null, null);
        }

        if (MediaTypeProblem(request.ContentType) is { } unsupported)
        {
            return (null, Problems.Of(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", unsupported));
        }

        try
        {
            var value = await JsonSerializer.DeserializeAsync(request.Body, info, context.RequestAborted).ConfigureAwait(false);
            return value is null && !optional
                ? (null, Problems.BadRequest($"the body is empty or null; send a JSON object ({typeof(T).Name}, see docs/api.md)"))
                : (value, null);
        }
        catch (JsonException ex)
        {
            return (null, Problems.BadRequest($"the body is not valid JSON for {typeof(T).Name}: {ex.Message} See docs/api.md for its fields."));
        }
        catch (BadHttpRequestException ex)
        {
            var detail = ex.StatusCode == 413 ? $"the body is larger than the limit of {limit} bytes; send less" : ex.Message;
            return (null, Problems.Of(ex.StatusCode, ex.StatusCode == 413 ? "Body too large" : "Bad request", detail));
        }
    }

    /// <summary>
    /// Why a body sent as <paramref name="contentType"/> is not read as JSON, or null when it is: only JSON is, so a form
    /// (what <c>curl -d</c> sends) or plain text never reaches a route by being parsed as something it does not say it is.
    /// </summary>
    internal static string? MediaTypeProblem(string? contentType)
    {
        const string Send = "send the body as JSON with 'Content-Type: application/json' (with curl: --json '{...}'; see docs/api.md)";
        if (!MediaTypeHeaderValue.TryParse(contentType, out var type)
            || !type.Type.Equals("application", StringComparison.OrdinalIgnoreCase)
            || !(type.SubType.Equals("json", StringComparison.OrdinalIgnoreCase) || type.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase)))
        {
            return string.IsNullOrEmpty(contentType)
                ? $"the request has no Content-Type; {Send}"
                : $"the body's Content-Type is '{contentType}', which is not JSON; {Send}";
        }

        // JSON is UTF-8 (RFC 8259); a body that says it is another encoding would be read as something else than was sent.
        var charset = HeaderUtilities.RemoveQuotes(type.Charset);
        return StringSegment.IsNullOrEmpty(charset) || charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)
            ? null
            : $"the body's charset is '{charset}'; JSON bodies are UTF-8: {Send}";
    }
}
