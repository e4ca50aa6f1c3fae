using Apiary.Contracts;
using Apiary.Runtime.Telemetry;

namespace Apiary.Runtime.Messaging;

/// <summary>The <c>ask</c> tool: a question sent like <c>send</c>, then a wait for the recipient's answer until the deadline.</summary>
internal sealed class AskTool(MessageService messages) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
            MessagingTools.Ask,
            "Ask and wait for the answer",
            "Ask another agent (or the operator) a question and wait for the answer until the deadline. Returns the answer, or says none came in time " +
            "(a late answer still arrives in your inbox). Governed like send.",
            """
            {
              "type": "object",
              "properties": {
                "to": { "type": "string", "description": "Who to ask: an agent's name or 'operator'." },
                "question": { "type": "string", "description": "The question." },
                "thread": { "type": "string", "description": "The conversation it belongs to. Default: a new thread." },
                "deadline_seconds": { "type": "integer", "minimum": 1, "maximum": 600, "description": "How long to wait for the answer. Default: 60." }
              },
              "required": ["to", "question"],
              "additionalProperties": false
            }
            """);

    public async Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => new(await MessagingTools.GuardAsync(call, async () =>
    {
        var run = call.Run;
        var args = call.Arguments("to", "question", "thread", "deadline_seconds");
        var deadline = TimeSpan.FromSeconds(args.WholeNumber("deadline_seconds", 60, 1, MessagingTools.MaxWaitSeconds));
        var (question, answer) = await messages.AskAsync(MessageSender.Of(run.Session), new SendMessageRequest(args.RequiredString("to"), args.RequiredString("question"), args.OptionalString("thread")), deadline, cancellationToken).ConfigureAwait(false);
        run.Tally?.Send(question);
        run.Tally?.Received(answer is null ? 0 : 1);
        if (question.Message is null)
        {
            return MessagingTools.Describe(question);
        }

        return answer is null
            ? $"asked ({MessagingTools.Describe(question)}), but no answer came within {deadline.TotalSeconds:0} seconds; a later answer arrives in your inbox (recv)"
            : "the answer:\n" + MessagingTools.Render([answer]);
    }).ConfigureAwait(false));
}
