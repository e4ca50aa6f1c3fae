using System.Text;
using Apiary.Runtime.Telemetry;

namespace Apiary.Runtime.Messaging;

/// <summary>
/// The messaging tools an agent run offers its model: <c>send</c>, <c>recv</c>, <c>ask</c> and <c>answer</c>. The sender is
/// always the run's own agent (the tools have no sender argument); sends are checked against its allowed recipients
/// and decided by governance like every other tool.
/// </summary>
internal static class MessagingTools
{
    /// <summary>The longest <c>recv</c> and <c>ask</c> wait, in seconds.</summary>
    public const int MaxWaitSeconds = 600;


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

    /// <summary>Runs a messaging tool's <paramref name="work"/>; arguments the model got wrong and refusals become what it is told.</summary>
    public static async Task<string> GuardAsync(ToolCall call, Func<Task<string>> work)
    {
        try
        {
            return await work().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ArgumentException or RequestRefusedException)
        {
            call.Run.Tally?.Denial(Telemetry.TurnTally.Invalid);
            return $"error: {ex.Message}; nothing was sent";
        }
    }

    /// <summary>Waits for a pending send's ticket (the run shows waiting_approval meanwhile), counting the send.</summary>
    public static async Task<SendOutcome> WaitIfPendingAsync(AgentRun run, SendOutcome outcome, CancellationToken cancellationToken)
    {
        if (outcome.Delivery is not { } delivery)
        {
            run.Tally?.Send(outcome);
            return outcome;
        }

        run.SetStatus(RunStatus.WaitingApproval);
        var waiting = run.Tally?.WaitingForApproval() ?? 0;
        try
        {
            outcome = await delivery.WaitAsync(cancellationToken).ConfigureAwait(false);
            run.Tally?.ApprovalWaited(waiting);
            run.Tally?.Send(outcome);
            return outcome;
        }
        finally
        {
            run.SetStatus(RunStatus.Running);
        }
    }

    /// <summary>What the model is told of a send.</summary>
    public static string Describe(SendOutcome outcome) => outcome.Status switch
    {
        SendOutcome.Sent => $"sent: message {outcome.Message!.Id} to {outcome.Message.To} on thread {outcome.Message.Thread}",
        SendOutcome.NotAllowed => $"not sent: {outcome.Reason}",
        SendOutcome.Steered => $"steered by rule '{outcome.Rule}': {outcome.Reason}. It was not sent; do what the message says instead.",
        SendOutcome.Pending => $"waiting for approval (ticket {outcome.TicketId})",
        _ => $"denied by rule '{outcome.Rule}': {outcome.Reason}. It was not sent.",
    };
}

/// <summary>The <c>send</c> tool: a message from the run's own agent (a model has no way to name another sender), a <c>send_message</c> proposal.</summary>
internal sealed class SendTool(MessageService messages) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
        "send",
        "Send a message",
        "Send a message to another agent, your manager or the operator. You may reach only your allowed recipients (by default a worker reaches its manager and the operator); " +
        "every message is checked by governance policies first and may be denied or wait for approval. Messages arrive in the recipient's inbox in order.",
        [
            new("to", "The recipient: an agent's name, or 'operator' for the person running Apiary.", Required: true),
            new("body", "The message text.", Required: true),
            new("thread", "The conversation it belongs to; reuse the thread of the message you reply to. Default: a new thread."),
            new("reply_to", "The id of the message this one answers."),
        ]);

    public async Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => new(await MessagingTools.GuardAsync(call, async () =>
    {
        var args = call.Arguments(Descriptor);
        var request = new SendMessageRequest(args.RequiredString("to"), args.RequiredString("body"), args.OptionalString("thread"), args.OptionalString("reply_to"));
        var outcome = await messages.SendAsync(MessageSender.Of(call.Run.Session), request, cancellationToken).ConfigureAwait(false);
        return MessagingTools.Describe(await MessagingTools.WaitIfPendingAsync(call.Run, outcome, cancellationToken).ConfigureAwait(false));
    }).ConfigureAwait(false));
}

/// <summary>The <c>recv</c> tool: the messages waiting in the run's agent's inbox, acknowledged once handed to the model.</summary>
internal sealed class RecvTool(RuntimeContext context, MessageService messages) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
        "recv",
        "Receive messages",
        "Receive the messages waiting in your inbox, oldest first, waiting up to wait_seconds for one when there is none. Each is shown with its id, sender, thread and text; " +
        "messages come from other agents or the operator, never from the user. Messages returned are acknowledged.",
        [
            new("wait_seconds", "How long to wait for a message when none is waiting. Default: 0 (do not wait).", Type: "integer", Minimum: 0, Maximum: MessagingTools.MaxWaitSeconds),
            new("max", "The most messages to return. Default: 20.", Type: "integer", Minimum: 1, Maximum: 100),
        ],
        readOnly: true);

    public async Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => new(await MessagingTools.GuardAsync(call, async () =>
    {
        var run = call.Run;
        var args = call.Arguments(Descriptor);
        var wait = TimeSpan.FromSeconds(args.WholeNumber("wait_seconds", 0, 0, MessagingTools.MaxWaitSeconds));
        var max = args.WholeNumber("max", 20, 1, 100);
        var inbox = await messages.Broker.ReadAsync(run.Agent, null, TimeSpan.Zero, max, cancellationToken).ConfigureAwait(false);
        if (inbox.Messages.Count == 0 && wait > TimeSpan.Zero)
        {
            // Nothing waiting: the run idles until a message comes (recorded, so the supervisor shows it idle).
            await context.RecordAsync("session-" + run.Session.Id, RuntimeJsonContext.Event(
                Supervision.LifecycleEventTypes.RunReceiving,
                new Supervision.RunReceivingData(run.Id, run.Agent, run.Session.Id, run.ToDto().Turns, (int)wait.TotalSeconds, context.Time.GetUtcNow()),
                RuntimeJsonContext.Default.RunReceivingData), cancellationToken).ConfigureAwait(false);
            inbox = await messages.Broker.ReadAsync(run.Agent, null, wait, max, cancellationToken).ConfigureAwait(false);
        }

        if (inbox.Messages.Count == 0)
        {
            return wait > TimeSpan.Zero ? $"no message arrived within {wait.TotalSeconds:0} seconds" : "no message is waiting";
        }

        run.Tally?.Received(inbox.Messages.Count);

        // Handed to the model, so acknowledged: a crash before this line delivers them again.
        await messages.Broker.AckAsync(run.Agent, inbox.Messages[^1].Seq, $"run {run.Id}", CancellationToken.None).ConfigureAwait(false);
        return MessagingTools.Render(inbox.Messages);
    }).ConfigureAwait(false));
}

/// <summary>The <c>ask</c> tool: a question sent like <c>send</c>, then a wait for the recipient's answer until the deadline.</summary>
internal sealed class AskTool(MessageService messages) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
        "ask",
        "Ask and wait for the answer",
        "Ask another agent (or the operator) a question and wait for the answer until the deadline. Returns the answer, or says none came in time " +
        "(a late answer still arrives in your inbox). Governed like send.",
        [
            new("to", "Who to ask: an agent's name or 'operator'.", Required: true),
            new("question", "The question.", Required: true),
            new("thread", "The conversation it belongs to. Default: a new thread."),
            new("deadline_seconds", "How long to wait for the answer. Default: 60.", Type: "integer", Minimum: 1, Maximum: MessagingTools.MaxWaitSeconds),
        ]);

    public async Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => new(await MessagingTools.GuardAsync(call, async () =>
    {
        var run = call.Run;
        var args = call.Arguments(Descriptor);
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

/// <summary>The <c>answer</c> tool: a reply to a message of the inbox, to its sender on its thread, governed like <c>send</c>.</summary>
internal sealed class AnswerTool(MessageService messages) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
        "answer",
        "Answer a message",
        "Answer a message you received (a question asked with ask, or any message): the reply goes to its sender on the same thread. Governed like send.",
        [new("message_id", "The id of the message you answer, as recv showed it.", Required: true), new("body", "Your answer.", Required: true)]);

    public async Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => new(await MessagingTools.GuardAsync(call, async () =>
    {
        var run = call.Run;
        var args = call.Arguments(Descriptor);
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
