using System.Globalization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Apiary.Server;

/// <summary>
/// Reads and checks a JSON request body, answering with a problem rather than throwing: the one way every route's body
/// enters. A body must say it is JSON (<c>application/json</c> or <c>application/*+json</c>, in UTF-8), else 415; it
/// must fit the size limit (413) and be valid JSON of the route's type (400 naming the field); and no string in it, a
/// name or a value, may hold a NUL (400 naming the field), which is refused rather than removed or passed on, except in
/// the fields the route names as data, which are kept exactly as sent.
/// </summary>
internal static class JsonBody
{
    /// <param name="context">The request.</param>
    /// <param name="info">The body's type.</param>
    /// <param name="optional">True when the route also takes a request without a body (then the value is null).</param>
    /// <param name="data">Top-level fields whose strings are data kept byte for byte (a file's content, a command's standard input), where a NUL is part of the data.</param>
    public static async Task<(T? Value, IResult? Problem)> ReadAsync<T>(HttpContext context, JsonTypeInfo<T> info, bool optional = false, IReadOnlyCollection<string>? data = null)
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
            // Read whole (the server's body limit bounds it) so that the same bytes are both read as T and searched for NULs.
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
            var json = new ReadOnlySpan<byte>(body.GetBuffer(), 0, (int)body.Length);
            var value = JsonSerializer.Deserialize(json, info);
            if (value is null)
            {
                return optional ? (null, null) : (null, Problems.BadRequest($"the body is empty or null; send a JSON object ({typeof(T).Name}, see docs/api.md)"));
            }

            return NulProblem(json, data ?? []) is { } nul ? (null, Problems.Of(StatusCodes.Status400BadRequest, "NUL character", nul)) : (value, null);
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

    /// <summary>
    /// The first string of <paramref name="json"/> (already read as valid JSON), a member name or a value, that holds a NUL,
    /// as a sentence naming its field the way the routes name fields (<c>args[1]</c>, <c>env X</c>, <c>env name</c>), or
    /// null when none does. A NUL would cut a C string (an argument, a path, a name) short or be dropped on the way, so
    /// that what is recorded and what is done differ; it is refused instead. Strings of the top-level members named in <paramref name="data"/> (in any case, as the body is read) are skipped.
    /// </summary>
    internal static string? NulProblem(ReadOnlySpan<byte> json, IReadOnlyCollection<string> data)
    {
        var reader = new Utf8JsonReader(json);
        var containers = new Stack<Container>();
        string? member = null;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    member = reader.GetString()!;
                    if (member.Contains('\0', StringComparison.Ordinal))
                    {
                        var owner = containers.Count > 0 ? containers.Peek().Field : null;
                        return Nul(owner is null ? "a field name" : owner + " name", member);
                    }

                    break;
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    containers.Push(new Container(FieldOf(containers, member), reader.TokenType == JsonTokenType.StartArray));
                    member = null;
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    containers.Pop();
                    break;
                case JsonTokenType.String:
                    var field = FieldOf(containers, member);
                    var text = reader.GetString()!;
                    if (text.Contains('\0', StringComparison.Ordinal) && !(containers.Count == 1 && member is not null && data.Contains(member, StringComparer.OrdinalIgnoreCase)))
                    {
                        return Nul(field ?? "the body", text);
                    }

                    break;
                default:
                    FieldOf(containers, member);
                    break;
            }
        }

        return null;
    }

    private static string Nul(string field, string text) =>
        $"{field} holds a NUL character (U+0000) at character {text.IndexOf('\0', StringComparison.Ordinal).ToString(CultureInfo.InvariantCulture)}; " +
        "a NUL is refused in every field, never removed (send the value without it)";

    /// <summary>The name of the value that starts now in the innermost container: a member, or an array's next element.</summary>
    private static string? FieldOf(Stack<Container> containers, string? member)
    {
        if (containers.Count == 0)
        {
            return null;
        }

        var container = containers.Peek();
        if (container.IsArray)
        {
            return $"{container.Field ?? "the body"}[{(container.Next++).ToString(CultureInfo.InvariantCulture)}]";
        }

        return container.Field is null ? member : $"{container.Field} {member}";
    }

    private sealed class Container(string? field, bool isArray)
    {
        public string? Field { get; } = field;

        public bool IsArray { get; } = isArray;

        public int Next { get; set; }
    }
}
