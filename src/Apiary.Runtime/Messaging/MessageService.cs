using System.Diagnostics;
using Apiary.Agents;
using Apiary.Governance.Budgets;
using Apiary.Runtime.Manager;

namespace Apiary.Runtime.Messaging;

/// <summary>
/// Messaging: every message is an event in its recipient's inbox. An agent's send is a <c>send_message</c> proposal
/// through the governed executor, where the control plane's <c>allowed-recipients</c> check and the policies decide
/// it; the operator's sends are not proposals (the operator answers approvals) and may reach anyone.
/// </summary>
internal sealed class MessageService(RuntimeContext context, GovernedExecutor executor, SessionHost sessions, AgentRelations relations)
{
    /// <summary>The longest a read of an inbox or an ask may wait.</summary>
    public static readonly TimeSpan MaxMessageWait = TimeSpan.FromMinutes(10);

    /// <summary>The most messages one read returns.</summary>
    public const int MaxMessagesPerRead = 1000;

    /// <summary>The longest message body, in characters.</summary>
    public const int MaxMessageChars = 64 * 1024;

    public MessageBroker Broker { get; } = new(context.Store, context.Time);

    /// <summary>The sender a token stands for: a session token its agent (while the session is open), the operator token the operator.</summary>
    public MessageSender SenderOf(TokenGrant grant) => grant.Kind switch
    {
        TokenKind.Operator => MessageSender.Operator,
        TokenKind.Session when sessions.Find(grant.Session!) is { IsOpen: true } session => MessageSender.Of(session),
        TokenKind.Session => throw new RequestRefusedException(Refusal.Conflict, "Session closed", $"session {grant.Session} is closed; a closed session cannot send"),
        _ => throw new RequestRefusedException(Refusal.Forbidden, "Forbidden", "the read-only token cannot send messages; use the operator token or a session token"),
    };

    /// <summary>Whether <paramref name="grant"/> may read and acknowledge <paramref name="agent"/>'s inbox: the operator any, a session only its agent's.</summary>
    public static void CheckInboxAccess(TokenGrant grant, string agent)
    {
        if (grant.Kind == TokenKind.Operator || (grant.Kind == TokenKind.Session && grant.Agent == agent))
        {
            return;
        }

        throw new RequestRefusedException(Refusal.Forbidden, "Forbidden", $"only the operator token or a session of agent '{agent}' may read its inbox");
    }

    /// <summary>Whom <paramref name="agent"/> may message (see <see cref="AgentRelations.AllowedRecipientsAsync"/>); a refusal when it cannot be loaded.</summary>
    public async Task<IReadOnlySet<string>> AllowedRecipientsAsync(string agent, CancellationToken cancellationToken)
    {
        await context.LoadAgentAsync(agent, cancellationToken).ConfigureAwait(false);
        return await relations.AllowedRecipientsAsync(agent, cancellationToken).ConfigureAwait(false) ?? new HashSet<string>();
    }

    /// <summary>
    /// Sends a message from <paramref name="sender"/>: an agent's send is a <c>send_message</c> proposal of its session,
    /// delivered once governance allows it (at once, or when a person grants its ticket: then <see cref="SendOutcome.Delivery"/>
    /// completes with what became of it).
    /// </summary>
    public async Task<SendOutcome> SendAsync(MessageSender sender, SendMessageRequest request, CancellationToken cancellationToken)
    {
        var to = await CheckRecipientAsync(request.To, cancellationToken).ConfigureAwait(false);
        if (string.IsNullOrEmpty(request.Body))
        {
            throw new RequestRefusedException(Refusal.Invalid, "Bad request", "'body' is required: the message's text");
        }

        if (request.Body.Length > MaxMessageChars)
        {
            throw new RequestRefusedException(Refusal.TooLarge, "Message too large", $"the body has {request.Body.Length} characters; the limit is {MaxMessageChars}. Put large content in a file of the workspace and send its path");
        }

        var thread = string.IsNullOrWhiteSpace(request.Thread) ? "t-" + Guid.NewGuid().ToString("N")[..12] : request.Thread;
        if (thread.Length > 200)
        {
            throw new RequestRefusedException(Refusal.Invalid, "Bad request", "'thread' is at most 200 characters");
        }

        var message = new MessageSentData(Guid.NewGuid().ToString("N"), sender.Name, to, sender.Role, thread, request.ReplyTo, sender.Session?.Id, null, context.Time.GetUtcNow());
        if (sender.Session is not { } session)
        {
            var (sent, position) = await Broker.DeliverAsync(message, request.Body, cancellationToken).ConfigureAwait(false);
            return new SendOutcome(SendOutcome.Sent, sent, position);
        }

        context.ThrowIfPoliciesBroken();
        if (!session.IsOpen)
        {
            throw new RequestRefusedException(Refusal.Conflict, "Session closed", $"session {session.Id} is closed; a closed session cannot send");
        }

        var proposal = Proposal.Create(session.Principal, ProposalKind.SendMessage, session.Workspace, new ProposalArguments
        {
            Recipients = [to],
            Other = new Dictionary<string, string>(StringComparer.Ordinal) { ["thread"] = thread, ["message"] = message.Id },
        });
        message = message with { Proposal = proposal.Id.ToString() };
        (MessageDto Message, long Position)? delivered = null;
        var run = await executor.GovernAsync(session, proposal, GovernedExecutor.NoEstimate, Deliver, new GovernOptions(), cancellationToken).ConfigureAwait(false);
        if (run.Decision.Decision == "pending" && !run.IsTerminal)
        {
            var delivery = context.Run(async () =>
            {
                await run.Terminal.ConfigureAwait(false);
                return OutcomeOf(run, delivered, thrown: false);
            });
            return new SendOutcome(SendOutcome.Pending, TicketId: run.Decision.TicketId, Rule: run.Decision.Rule, Reason: run.Decision.Reason, Delivery: delivery);
        }

        return OutcomeOf(run, delivered, thrown: true);

        async Task<ProposalWorkResult> Deliver(ProposalRun governed, Proposal decided, CancellationToken ct)
        {
            var clock = Stopwatch.StartNew();
            var sent = await Broker.DeliverAsync(message, request.Body, CancellationToken.None).ConfigureAwait(false);
            delivered = sent;

            // The text is in the message's own event; the completion records where it went, not the text again.
            return new ProposalWorkResult(
                new ResultDto(0, "sent", clock.ElapsedMilliseconds, Content: $"message {sent.Message.Id} to {message.To}, seq {sent.Message.Seq}"),
                new BudgetAmounts(0, clock.Elapsed, 0, 0m));
        }
    }

    /// <summary>
    /// Sends a question and waits until <paramref name="deadline"/> for the answer: a message from the recipient that
    /// replies to it or follows it on its thread. The answer stays unacknowledged in the asker's inbox.
    /// </summary>
    public async Task<(SendOutcome Question, MessageDto? Answer)> AskAsync(MessageSender sender, SendMessageRequest question, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var sent = await SendAsync(sender, question, cancellationToken).ConfigureAwait(false);
        if (sent.Status != SendOutcome.Sent || sent.Message is not { } asked)
        {
            return (sent, null);
        }

        var answer = await Broker.WaitForAsync(
            sender.Name,
            sent.Position,
            deadline,
            m => m.From == asked.To && (m.ReplyTo == asked.Id || m.Thread == asked.Thread),
            cancellationToken).ConfigureAwait(false);
        return (sent, answer);
    }

    /// <summary>What became of a governed send: sent, or refused with the rule (<c>allowed_recipients</c>, a policy rule, <c>approval</c>) and why.</summary>
    private static SendOutcome OutcomeOf(ProposalRun run, (MessageDto Message, long Position)? delivered, bool thrown)
    {
        var d = run.Decision;
        if (run.Result is { } result)
        {
            return delivered is { } sent
                ? new SendOutcome(SendOutcome.Sent, sent.Message, sent.Position)
                : thrown ? throw new ApiaryException($"the message could not be delivered: {result.Error}")
                : new SendOutcome(SendOutcome.Denied, Rule: "approval", Reason: $"it was not sent: {result.Error}");
        }

        if (run.DecidedBy == ControlPlaneChecks.AllowedRecipientsName)
        {
            var reason = d.Reason ?? "";
            var prefix = $"evaluator '{ControlPlaneChecks.AllowedRecipientsName}': ";
            return new SendOutcome(SendOutcome.NotAllowed, Rule: "allowed_recipients", Reason: reason.StartsWith(prefix, StringComparison.Ordinal) ? reason[prefix.Length..] : reason);
        }

        return d.Stage == "approval"
            ? new SendOutcome(SendOutcome.Denied, Rule: "approval", Reason: d.Reason)
            : new SendOutcome(d.Decision == "steer" ? SendOutcome.Steered : SendOutcome.Denied, Rule: d.Rule, Reason: d.Reason);
    }

    private async ValueTask<string> CheckRecipientAsync(string? to, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(to))
        {
            throw new RequestRefusedException(Refusal.Invalid, "Bad request", "'to' is required: an agent's name or 'operator'");
        }

        if (to == RuntimeContext.Operator.Value)
        {
            return to;
        }

        if (!AgentName.TryCreate(to, out var name, out var error))
        {
            throw new RequestRefusedException(Refusal.Invalid, "Invalid agent name", $"'{to}' is not a valid agent name: {error.Message}");
        }

        // An inbox needs only the agent to exist: a message may wait while its definition is being fixed, so its
        // folder is enough (and cheaper than loading the definition on every send).
        if (!Directory.Exists(context.Catalog.FolderOf(name)))
        {
            await context.LoadAgentAsync(to, cancellationToken).ConfigureAwait(false);
        }

        return to;
    }
}
