using Apiary.Contracts;
using Apiary.Runtime.Messaging;
using Microsoft.Extensions.AI;

namespace Apiary.Runtime;

// The messaging tools of the turn loop. The sender is the run's own session; a model has no way to name another.
internal sealed partial class ApiaryRuntime
{
    /// <summary>
    /// Runs a messaging tool call of <paramref name="run"/> and returns what the model is told; null when
    /// <paramref name="call"/> is not a messaging tool (the loop then treats it as a proposal as before).
    /// </summary>
    public async Task<string?> CallMessagingToolAsync(AgentRun run, FunctionCallContent call, CancellationToken cancellationToken)
    {
        if (!MessagingTools.Handles(call.Name))
        {
            return null;
        }

        var sender = MessageSender.Of(run.Session);
        try
        {
            switch (call.Name)
            {
                case MessagingTools.Send:
                {
                    var args = AgentTools.Arguments(call, "to", "body", "thread", "reply_to");
                    var request = new SendMessageRequest(args.RequiredString("to"), args.RequiredString("body"), args.OptionalString("thread"), args.OptionalString("reply_to"));
                    return Describe(await WaitIfPendingAsync(run, await SendMessageAsync(sender, request, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false));
                }

                case MessagingTools.Recv:
                {
                    var args = AgentTools.Arguments(call, "wait_seconds", "max");
                    var wait = TimeSpan.FromSeconds(args.WholeNumber("wait_seconds", 0, 0, MessagingTools.MaxWaitSeconds));
                    var max = args.WholeNumber("max", 20, 1, 100);
                    var inbox = await Messages.ReadAsync(run.Agent, null, TimeSpan.Zero, max, cancellationToken).ConfigureAwait(false);
                    if (inbox.Messages.Count == 0 && wait > TimeSpan.Zero)
                    {
                        // Nothing waiting: the run idles until a message comes (recorded, so the supervisor shows it idle).
                        await RecordAsync("session-" + run.Session.Id, ServerEventJsonContext.Event(
                            Supervision.LifecycleEventTypes.RunReceiving,
                            new Supervision.RunReceivingData(run.Id, run.Agent, run.Session.Id, run.ToDto().Turns, (int)wait.TotalSeconds, Time.GetUtcNow()),
                            Supervision.LifecycleEventJsonContext.Default.RunReceivingData), cancellationToken).ConfigureAwait(false);
                        inbox = await Messages.ReadAsync(run.Agent, null, wait, max, cancellationToken).ConfigureAwait(false);
                    }

                    if (inbox.Messages.Count == 0)
                    {
                        return wait > TimeSpan.Zero ? $"no message arrived within {wait.TotalSeconds:0} seconds" : "no message is waiting";
                    }

                    run.Tally?.Received(inbox.Messages.Count);

                    // Handed to the model, so acknowledged: a crash before this line delivers them again.
                    await Messages.AckAsync(run.Agent, inbox.Messages[^1].Seq, $"run {run.Id}", CancellationToken.None).ConfigureAwait(false);
                    return MessagingTools.Render(inbox.Messages);
                }

                case MessagingTools.Ask:
                {
                    var args = AgentTools.Arguments(call, "to", "question", "thread", "deadline_seconds");
                    var deadline = TimeSpan.FromSeconds(args.WholeNumber("deadline_seconds", 60, 1, MessagingTools.MaxWaitSeconds));
                    var (question, answer) = await AskAsync(sender, new SendMessageRequest(args.RequiredString("to"), args.RequiredString("question"), args.OptionalString("thread")), deadline, cancellationToken).ConfigureAwait(false);
                    run.Tally?.Send(question);
                    run.Tally?.Received(answer is null ? 0 : 1);
                    if (question.Message is null)
                    {
                        return Describe(question);
                    }

                    return answer is null
                        ? $"asked ({Describe(question)}), but no answer came within {deadline.TotalSeconds:0} seconds; a later answer arrives in your inbox (recv)"
                        : "the answer:\n" + MessagingTools.Render([answer]);
                }

                default:
                {
                    var args = AgentTools.Arguments(call, "message_id", "body");
                    var id = args.RequiredString("message_id");
                    var question = await Messages.FindAsync(run.Agent, id, cancellationToken).ConfigureAwait(false);
                    if (question is null)
                    {
                        return $"error: there is no message '{id}' in your inbox; recv shows the ids; nothing was sent";
                    }

                    var reply = new SendMessageRequest(question.From, args.RequiredString("body"), question.Thread, question.Id);
                    return Describe(await WaitIfPendingAsync(run, await SendMessageAsync(sender, reply, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false));
                }
            }
        }
        catch (ArgumentException ex)
        {
            run.Tally?.Denial(Telemetry.TurnTally.Invalid);
            return $"error: {ex.Message}; nothing was sent";
        }
        catch (RequestRefusedException ex)
        {
            run.Tally?.Denial(Telemetry.TurnTally.Invalid);
            return $"error: {ex.Message}; nothing was sent";
        }
    }

    private static async Task<SendOutcome> WaitIfPendingAsync(AgentRun run, SendOutcome outcome, CancellationToken cancellationToken)
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

    private static string Describe(SendOutcome outcome) => outcome.Status switch
    {
        SendOutcome.Sent => $"sent: message {outcome.Message!.Id} to {outcome.Message.To} on thread {outcome.Message.Thread}",
        SendOutcome.NotAllowed => $"not sent: {outcome.Reason}",
        SendOutcome.Steered => $"steered by rule '{outcome.Rule}': {outcome.Reason}. It was not sent; do what the message says instead.",
        SendOutcome.Pending => $"waiting for approval (ticket {outcome.TicketId})",
        _ => $"denied by rule '{outcome.Rule}': {outcome.Reason}. It was not sent.",
    };
}
