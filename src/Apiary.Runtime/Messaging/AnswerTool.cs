using Apiary.Contracts;
using Apiary.Runtime.Telemetry;

namespace Apiary.Runtime.Messaging;

/// <summary>The <c>answer</c> tool: a reply to a message of the inbox, to its sender on its thread, governed like <c>send</c>.</summary>
internal sealed class AnswerTool(MessageService messages) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
            MessagingTools.Answer,
            "Answer a message",
            "Answer a message you received (a question asked with ask, or any message): the reply goes to its sender on the same thread. Governed like send.",
            """
            {
              "type": "object",
              "properties": {
                "message_id": { "type": "string", "description": "The id of the message you answer, as recv showed it." },
                "body": { "type": "string", "description": "Your answer." }
              },
              "required": ["message_id", "body"],
              "additionalProperties": false
            }
            """);

    public async Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => new(await MessagingTools.GuardAsync(call, async () =>
    {
        var run = call.Run;
        var args = call.Arguments("message_id", "body");
        var id = args.RequiredString("message_id");
        var question = await messages.Broker.FindAsync(run.Agent, id, cancellationToken).ConfigureAwait(false);
        if (question is null)
        {
            return $"error: there is no message '{id}' in your inbox; recv shows the ids; nothing was sent";
        }

        var reply = new SendMessageRequest(question.From, args.RequiredString("body"), question.Thread, question.Id);
        var outcome = await messages.SendAsync(MessageSender.Of(run.Session), reply, cancellationToken).ConfigureAwait(false);
        return MessagingTools.Describe(await MessagingTools.WaitIfPendingAsync(run, outcome, cancellationToken).ConfigureAwait(false));
    }).ConfigureAwait(false));
}
