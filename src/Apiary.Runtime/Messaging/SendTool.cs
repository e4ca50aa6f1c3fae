using Apiary.Contracts;
using Apiary.Runtime.Telemetry;

namespace Apiary.Runtime.Messaging;

/// <summary>The <c>send</c> tool: a message from the run's own agent (a model has no way to name another sender), a <c>send_message</c> proposal.</summary>
internal sealed class SendTool(MessageService messages) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
            MessagingTools.Send,
            "Send a message",
            "Send a message to another agent, your manager or the operator. You may reach only your allowed recipients (by default a worker reaches its manager and the operator); " +
            "every message is checked by governance policies first and may be denied or wait for approval. Messages arrive in the recipient's inbox in order.",
            """
            {
              "type": "object",
              "properties": {
                "to": { "type": "string", "description": "The recipient: an agent's name, or 'operator' for the person running Apiary." },
                "body": { "type": "string", "description": "The message text." },
                "thread": { "type": "string", "description": "The conversation it belongs to; reuse the thread of the message you reply to. Default: a new thread." },
                "reply_to": { "type": "string", "description": "The id of the message this one answers." }
              },
              "required": ["to", "body"],
              "additionalProperties": false
            }
            """);

    public async Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => new(await MessagingTools.GuardAsync(call, async () =>
    {
        var args = call.Arguments("to", "body", "thread", "reply_to");
        var request = new SendMessageRequest(args.RequiredString("to"), args.RequiredString("body"), args.OptionalString("thread"), args.OptionalString("reply_to"));
        var outcome = await messages.SendAsync(MessageSender.Of(call.Run.Session), request, cancellationToken).ConfigureAwait(false);
        return MessagingTools.Describe(await MessagingTools.WaitIfPendingAsync(call.Run, outcome, cancellationToken).ConfigureAwait(false));
    }).ConfigureAwait(false));
}
