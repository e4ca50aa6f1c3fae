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
