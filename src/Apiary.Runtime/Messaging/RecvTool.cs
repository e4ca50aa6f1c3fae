using Apiary.Contracts;
using Apiary.Runtime.Telemetry;

namespace Apiary.Runtime.Messaging;

/// <summary>The <c>recv</c> tool: the messages waiting in the run's agent's inbox, acknowledged once handed to the model.</summary>
internal sealed class RecvTool(RuntimeContext context, MessageService messages) : IAgentTool
{
    public ToolDescriptor Descriptor { get; } = AgentTools.Describe(
            MessagingTools.Recv,
            "Receive messages",
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
            """);

    public async Task<ToolOutcome> CallAsync(ToolCall call, CancellationToken cancellationToken) => new(await MessagingTools.GuardAsync(call, async () =>
    {
        var run = call.Run;
        var args = call.Arguments("wait_seconds", "max");
        var wait = TimeSpan.FromSeconds(args.WholeNumber("wait_seconds", 0, 0, MessagingTools.MaxWaitSeconds));
        var max = args.WholeNumber("max", 20, 1, 100);
        var inbox = await messages.Broker.ReadAsync(run.Agent, null, TimeSpan.Zero, max, cancellationToken).ConfigureAwait(false);
        if (inbox.Messages.Count == 0 && wait > TimeSpan.Zero)
        {
            // Nothing waiting: the run idles until a message comes (recorded, so the supervisor shows it idle).
            await context.RecordAsync("session-" + run.Session.Id, ServerEventJsonContext.Event(
                Supervision.LifecycleEventTypes.RunReceiving,
                new Supervision.RunReceivingData(run.Id, run.Agent, run.Session.Id, run.ToDto().Turns, (int)wait.TotalSeconds, context.Time.GetUtcNow()),
                Supervision.LifecycleEventJsonContext.Default.RunReceivingData), cancellationToken).ConfigureAwait(false);
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
