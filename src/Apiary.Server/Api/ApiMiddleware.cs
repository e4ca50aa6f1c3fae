using Microsoft.Extensions.DependencyInjection;

namespace Apiary.Server;

/// <summary>What runs before every API endpoint: problems as RFC 9457 answers, then bearer-token authentication.</summary>
internal static class ApiMiddleware
{
    private const string BearerPrefix = "Bearer ";

    /// <summary>The grant of the request's token, set once it is authenticated.</summary>
    public static TokenGrant Grant(this HttpContext context) =>
        context.Items[typeof(TokenGrant)] as TokenGrant ?? throw new InvalidOperationException("the request was not authenticated");

    /// <summary>The HTTP status of a refusal.</summary>
    public static int StatusOf(Refusal kind) => kind switch
    {
        Refusal.Invalid => StatusCodes.Status400BadRequest,
        Refusal.Forbidden => StatusCodes.Status403Forbidden,
        Refusal.NotFound => StatusCodes.Status404NotFound,
        Refusal.Conflict => StatusCodes.Status409Conflict,
        Refusal.TooLarge => StatusCodes.Status413PayloadTooLarge,
        _ => StatusCodes.Status503ServiceUnavailable,
    };

    /// <summary>Turns a <see cref="RequestRefusedException"/> into its problem answer: the one place a refusal becomes an HTTP status.</summary>
    public static async Task HandleProblemsAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (RequestRefusedException ex) when (!context.Response.HasStarted)
        {
            await Problems.Of(StatusOf(ex.Kind), ex.Title, ex.Message).ExecuteAsync(context).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            await Problems.Of(ex.StatusCode, "Bad request", $"{ex.Message}; see docs/api.md for the request shapes").ExecuteAsync(context).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Every <c>/api</c> request needs a bearer token: 401 (counted, and recorded as <c>auth.rejected</c>) without a valid
    /// one, 403 when the token lacks the right. <c>/readyz</c> takes one if it is sent (then its answer has details); health
    /// and the OpenAPI document are open.
    /// </summary>
    public static async Task AuthenticateAsync(HttpContext context, RequestDelegate next)
    {
        // Routing matches paths whatever their case, so the path is compared the same way, and the endpoint it matched
        // says too: '/API/agents' reaches the same endpoint as '/api/agents', and needs the same token.
        var bearer = context.GetEndpoint()?.Metadata.GetMetadata<BearerToken>();
        var required = bearer?.Required == true || context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase);
        if (!required && (bearer is null || context.Request.Headers.Authorization.Count == 0))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var runtime = context.RequestServices.GetRequiredService<ApiaryRuntime>();
        var header = context.Request.Headers.Authorization.ToString();
        var grant = header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase) && header.Length > BearerPrefix.Length
            ? runtime.Tokens.Find(header[BearerPrefix.Length..].Trim())
            : null;
        if (grant is null)
        {
            var reason = header.Length == 0 ? "no token" : "unknown token";
            await context.RequestServices.GetRequiredService<AuthRejections>()
                .RefuseAsync(context.Connection.RemoteIpAddress, context.Request.Method, context.Request.Path.ToString(), reason).ConfigureAwait(false);
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await Problems.Of(
                StatusCodes.Status401Unauthorized,
                "Unauthorized",
                $"{reason}: send 'Authorization: Bearer <token>' with the operator token from keys/operator.token in the home, the read-only token from keys/readonly.token, or a session token from POST /api/sessions").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        if (!IsAllowed(grant, context.Request.Method, context.Request.Path))
        {
            await Problems.Of(
                StatusCodes.Status403Forbidden,
                "Forbidden",
                grant.Kind == TokenKind.ReadOnly
                    ? "the read-only token can only read (GET); use the operator token to act"
                    : $"a session token acts only in its own session ({grant.Session}): submitting its proposals, closing it, sending messages as its agent and acknowledging its agent's inbox; use the operator token for anything else").ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        context.Items[typeof(TokenGrant)] = grant;
        await next(context).ConfigureAwait(false);
    }

    /// <summary>Whether <paramref name="grant"/> may make a request with <paramref name="method"/> on <paramref name="path"/>.</summary>
    internal static bool IsAllowed(TokenGrant grant, string method, PathString path)
    {
        if (grant.Kind == TokenKind.Operator || HttpMethods.IsGet(method) || HttpMethods.IsHead(method))
        {
            return true;
        }

        if (grant.Kind != TokenKind.Session || !HttpMethods.IsPost(method))
        {
            return false;
        }

        var own = "/api/sessions/" + grant.Session;
        return path.Equals(own + "/proposals", StringComparison.Ordinal) || path.Equals(own + "/close", StringComparison.Ordinal)
            || IsOwnMessaging(grant, path);
    }

    // A session sends as its own agent (the server sets the sender) and acknowledges only its own agent's inbox.
    private static bool IsOwnMessaging(TokenGrant grant, PathString path) =>
        path.Equals("/api/messages", StringComparison.Ordinal)
        || path.Equals("/api/messages/ask", StringComparison.Ordinal)
        || path.Equals($"/api/inbox/{grant.Agent}/ack", StringComparison.Ordinal);

    /// <summary>Records refusals as <c>auth.rejected</c> in stream <c>server</c>; a refusal stands whether or not it could be recorded.</summary>
    internal static async Task RecordRejectionAsync(ApiaryRuntime runtime, AuthRejectedData data)
    {
        try
        {
            await runtime.RecordAsync(ServerEventTypes.Stream, RuntimeJsonContext.Event(
                ServerEventTypes.AuthRejected, data, RuntimeJsonContext.Default.AuthRejectedData)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ApiaryException or OperationCanceledException or ObjectDisposedException)
        {
            // The refusal stands whether or not it could be recorded.
        }
    }
}

/// <summary>
/// Endpoint metadata: the endpoint needs a bearer token (<see cref="Required"/>), or takes one when it is sent and answers
/// anyone without one.
/// </summary>
internal sealed record BearerToken(bool Required)
{
    public static BearerToken Needed { get; } = new(true);

    public static BearerToken Optional { get; } = new(false);
}

/// <summary>RFC 9457 problem answers whose detail says what to do.</summary>
internal static class Problems
{
    public static IResult Of(int status, string title, string detail) =>
        Results.Problem(detail: detail, statusCode: status, title: title);

    public static IResult NotFound(string what, string detail) => Of(StatusCodes.Status404NotFound, $"Unknown {what}", detail);

    public static IResult BadRequest(string detail) => Of(StatusCodes.Status400BadRequest, "Bad request", detail);
}
