using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Apiary.Server;

// Messaging: sends with the sender taken from the token, inboxes read after an acknowledged cursor, asks that wait.
internal static partial class ApiEndpoints
{
    private static void MapMessages(RouteGroupBuilder api)
    {
        api.MapPost("/messages", SendMessageAsync).Produces<SendMessageResponse>(201).Produces<SendMessageResponse>(202);
        api.MapPost("/messages/ask", AskAsync).Produces<AskResponse>();
        api.MapGet("/inbox/{agent}", ReadInboxAsync).Produces<InboxDto>();
        api.MapPost("/inbox/{agent}/ack", AckInboxAsync).Produces<InboxDto>();
    }

    private static async Task<IResult> SendMessageAsync(HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        var (request, problem) = await JsonBody.ReadAsync(context, ApiJsonContext.Default.SendMessageRequest).ConfigureAwait(false);
        if (request is null)
        {
            return problem!;
        }

        var outcome = await runtime.Messaging.SendAsync(runtime.Messaging.SenderOf(context.Grant()), request, cancellationToken).ConfigureAwait(false);
        return outcome.Status switch
        {
            SendOutcome.Sent => Results.Json(new SendMessageResponse(outcome.Status, outcome.Message), ApiJsonContext.Default.SendMessageResponse, statusCode: 201),
            SendOutcome.Pending => Results.Json(new SendMessageResponse(outcome.Status, TicketId: outcome.TicketId), ApiJsonContext.Default.SendMessageResponse, statusCode: 202),
            _ => Refusal(outcome),
        };
    }

    private static async Task<IResult> AskAsync(HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        var (request, problem) = await JsonBody.ReadAsync(context, ApiJsonContext.Default.AskRequest).ConfigureAwait(false);
        if (request is null)
        {
            return problem!;
        }

        var deadline = TimeSpan.FromSeconds(request.DeadlineSeconds ?? 60);
        if (deadline <= TimeSpan.Zero || deadline > Apiary.Runtime.Messaging.MessageService.MaxMessageWait)
        {
            return Problems.BadRequest($"'deadline_seconds' must be between 1 and {Apiary.Runtime.Messaging.MessageService.MaxMessageWait.TotalSeconds}");
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, runtime.Stopping);
        var (question, answer) = await runtime.Messaging.AskAsync(runtime.Messaging.SenderOf(context.Grant()), new SendMessageRequest(request.To, request.Body, request.Thread), deadline, stop.Token).ConfigureAwait(false);
        return question.Message is { } asked
            ? Results.Json(new AskResponse(asked, answer), ApiJsonContext.Default.AskResponse)
            : question.Status == SendOutcome.Pending
                ? Problems.Of(409, "Question pending approval", $"the question waits for a person's approval (ticket {question.TicketId}); it is sent once approved, and its answer arrives in the inbox")
                : Refusal(question);
    }

    private static async Task<IResult> ReadInboxAsync(string agent, long? after, double? wait, int? max, HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        Apiary.Runtime.Messaging.MessageService.CheckInboxAccess(context.Grant(), agent);
        var waiting = TimeSpan.FromSeconds(wait ?? 0);
        if (waiting < TimeSpan.Zero || waiting > Apiary.Runtime.Messaging.MessageService.MaxMessageWait)
        {
            return Problems.BadRequest($"'wait' must be between 0 and {Apiary.Runtime.Messaging.MessageService.MaxMessageWait.TotalSeconds} seconds");
        }

        if (after is < 0 || max is < 1 or > Apiary.Runtime.Messaging.MessageService.MaxMessagesPerRead)
        {
            return Problems.BadRequest($"'after' must be 0 or more and 'max' between 1 and {Apiary.Runtime.Messaging.MessageService.MaxMessagesPerRead}");
        }

        await CheckInboxOwnerAsync(runtime, agent, cancellationToken).ConfigureAwait(false);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, runtime.Stopping);
        try
        {
            var inbox = await runtime.Messaging.Broker.ReadAsync(agent, after, waiting, max ?? 100, stop.Token).ConfigureAwait(false);
            return Results.Json(inbox, ApiJsonContext.Default.InboxDto);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Results.Json(new InboxDto(agent, await runtime.Messaging.Broker.CursorAsync(agent, CancellationToken.None).ConfigureAwait(false), []), ApiJsonContext.Default.InboxDto);
        }
    }

    private static async Task<IResult> AckInboxAsync(string agent, HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        Apiary.Runtime.Messaging.MessageService.CheckInboxAccess(context.Grant(), agent);
        var (request, problem) = await JsonBody.ReadAsync(context, ApiJsonContext.Default.AckRequest).ConfigureAwait(false);
        if (request is null)
        {
            return problem!;
        }

        if (request.Through < 1)
        {
            return Problems.BadRequest("'through' must be the sequence number of a message of the inbox (1 or more)");
        }

        await CheckInboxOwnerAsync(runtime, agent, cancellationToken).ConfigureAwait(false);
        var cursor = await runtime.Messaging.Broker.AckAsync(agent, request.Through, context.Grant().Who, cancellationToken).ConfigureAwait(false);
        return cursor is { } acked
            ? Results.Json(new InboxDto(agent, acked, []), ApiJsonContext.Default.InboxDto)
            : Problems.Of(409, "Nothing to acknowledge", $"the inbox of '{agent}' has no message {request.Through} yet; acknowledge only what was read");
    }

    private static async Task CheckInboxOwnerAsync(ApiaryRuntime runtime, string agent, CancellationToken cancellationToken)
    {
        if (agent != ApiaryRuntime.Operator.Value)
        {
            await runtime.LoadAgentAsync(agent, cancellationToken).ConfigureAwait(false);
        }
    }

    private static IResult Refusal(SendOutcome outcome) => Problems.Of(
        403,
        outcome.Status == SendOutcome.NotAllowed ? "Recipient not allowed" : "Message refused",
        outcome.Status == SendOutcome.Steered
            ? $"steered by rule '{outcome.Rule}': {outcome.Reason}; it was not sent"
            : $"{(outcome.Status == SendOutcome.NotAllowed ? "" : $"denied by rule '{outcome.Rule}': ")}{outcome.Reason}; it was not sent");
}
