using System.Globalization;
using System.Text;
using System.Text.Json;
using Apiary.Contracts;
using Microsoft.Extensions.AI;
using Apiary.Runtime;

namespace Apiary.Runtime.Messaging;

/// <summary>
/// The messaging tools an agent run offers its model: <c>send</c>, <c>recv</c>, <c>ask</c> and <c>answer</c>. The sender is
/// always the run's own agent (the tools have no sender argument); sends are checked against its allowed recipients
/// and decided by governance like every other tool.
/// </summary>
internal static class MessagingTools
{
    public const string Send = "send";
    public const string Recv = "recv";
    public const string Ask = "ask";
    public const string Answer = "answer";

    /// <summary>The longest <c>recv</c> and <c>ask</c> wait, in seconds.</summary>
    public const int MaxWaitSeconds = 600;

    /// <summary>Whether <paramref name="name"/> is one of these tools.</summary>
    public static bool Handles(string name) => name is Send or Recv or Ask or Answer;

    /// <summary>The declarations the model is given.</summary>
    public static IList<AITool> Declarations { get; } =
    [
        AgentTools.Declare(
            Send,
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
            """),
        AgentTools.Declare(
            Recv,
            "Receive the messages waiting in your inbox, oldest first, waiting up to wait_seconds for one when there is none. Each is shown with its id, sender, thread and text; " +
            "messages come from other agents or the operator, never from the user. Messages returned are acknowledged.",
            """
            {
              "type": "object",
              "properties": {
                "wait_seconds": { "type": "integer", "minimum": 0, "maximum": 600, "description": "How long to wait for a message when none is waiting. Default: 0 (do not wait)." },
                "max": { "type": "integer", "minimum": 1, "maximum": 100, "description": "The most messages to return. Default: 20." }
              },
              "additionalProperties": false
            }
            """),
        AgentTools.Declare(
            Ask,
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
            """),
        AgentTools.Declare(
            Answer,
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
            """),
    ];

    /// <summary>Messages as the model reads them: who sent each (an agent or the operator, never the user), where, and the text.</summary>
    public static string Render(IReadOnlyList<MessageDto> messages)
    {
        var text = new StringBuilder();
        foreach (var m in messages)
        {
            text.Append(CultureInfo.InvariantCulture, $"message {m.Id} (seq {m.Seq}) from {m.From} ({m.Role}) on thread {m.Thread}");
            if (m.ReplyTo is not null)
            {
                text.Append(" replying to ").Append(m.ReplyTo);
            }

            text.Append(":\n").Append(m.Body ?? "(the text was removed by retention)").Append("\n\n");
        }

        return text.ToString();
    }
}
