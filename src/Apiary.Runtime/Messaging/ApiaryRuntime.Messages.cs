using System.Diagnostics;
using Apiary.Agents;
using Apiary.Contracts;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.Pipeline;
using Apiary.Runtime.Messaging;

namespace Apiary.Runtime;

// Messaging: every message is an event in its recipient's inbox; an agent's send is checked against its allowed
// recipients by the control plane and then submitted to governance as a send_message proposal.
internal sealed partial class ApiaryRuntime
{
    /// <summary>The longest a read of an inbox or an ask may wait.</summary>
    public static readonly TimeSpan MaxMessageWait = TimeSpan.FromMinutes(10);

    /// <summary>The most messages one read returns.</summary>
    public const int MaxMessagesPerRead = 1000;

    /// <summary>The longest message body, in characters.</summary>
    public const int MaxMessageChars = 64 * 1024;

    private MessageBroker? _messages;

    public MessageBroker Messages => LazyInitializer.EnsureInitialized(ref _messages, () => new MessageBroker(Store, Time));

    /// <summary>The sender a token stands for: a session token its agent (while the session is open), the operator token the operator.</summary>
    public MessageSender SenderOf(TokenGrant grant) => grant.Kind switch
    {
        TokenKind.Operator => MessageSender.Operator,
        TokenKind.Session when FindSession(grant.Session!) is { IsOpen: true } session => MessageSender.Of(session),
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

    /// <summary>
    /// Sends a message from <paramref name="sender"/>. An agent may reach only its allowed recipients (checked here, by
    /// the control plane), and its send is a <c>send_message</c> proposal the policies decide; the operator's sends are
    /// not proposals (the operator answers approvals) and may reach anyone.
    /// </summary>
    public async Task<SendOutcome> SendMessageAsync(MessageSender sender, SendMessageRequest request, CancellationToken cancellationToken)
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

        var message = new MessageSentData(Guid.NewGuid().ToString("N"), sender.Name, to, sender.Role, thread, request.ReplyTo, sender.Session?.Id, null, Time.GetUtcNow());
        if (sender.Session is not { } session)
        {
            var (sent, position) = await Messages.DeliverAsync(message, request.Body, cancellationToken).ConfigureAwait(false);
            return new SendOutcome(SendOutcome.Sent, sent, position);
        }

        if (PolicyProblem is not null)
        {
            throw new RequestRefusedException(Refusal.Unavailable, "Policies not loaded", PolicyProblem);
        }

        if (!session.IsOpen)
        {
            throw new RequestRefusedException(Refusal.Conflict, "Session closed", $"session {session.Id} is closed; a closed session cannot send");
        }

        var allowed = await AllowedRecipientsAsync(sender.Name, cancellationToken).ConfigureAwait(false);
        if (!allowed.Contains(to))
        {
            var reason = $"agent '{sender.Name}' may message only {string.Join(", ", allowed.Order(StringComparer.Ordinal))} (its allowed_recipients); '{to}' is not one of them";
            await RecordAsync("session-" + session.Id, new Events.EventData(
                MessageEventTypes.MessageRefused,
                System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(
                    new MessageRefusedData(sender.Name, to, session.Id, "allowed_recipients", reason, Time.GetUtcNow()),
                    MessageEventJsonContext.Default.MessageRefusedData)), cancellationToken).ConfigureAwait(false);
            return new SendOutcome(SendOutcome.NotAllowed, Rule: "allowed_recipients", Reason: reason);
        }

        var proposal = Proposal.Create(session.Principal, ProposalKind.SendMessage, session.Workspace, new ProposalArguments
        {
            Recipients = [to],
            Other = new Dictionary<string, string>(StringComparer.Ordinal) { ["thread"] = thread, ["message"] = message.Id },
        });
        message = message with { Proposal = proposal.Id.ToString() };
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var result = await Pipeline.SubmitAsync(proposal, new BudgetEstimate(0, TimeSpan.Zero, 0, 0m), linked.Token).ConfigureAwait(false);
        switch (result.Decision.Kind)
        {
            case DecisionKind.Allow when result.Allowed is { } admitted:
                return await DeliverAdmittedAsync(admitted, message, request.Body).ConfigureAwait(false);
            case DecisionKind.Pending when result.Ticket is { } ticket:
                var delivery = Task.Run(() => AwaitMessageApprovalAsync(session, ticket, message, request.Body), CancellationToken.None);
                Track(delivery);
                return new SendOutcome(SendOutcome.Pending, TicketId: ticket.Id.ToString(), Rule: result.Decision.Rule, Reason: result.Decision.Reason, Delivery: delivery);
            default:
                return Refused(result.Decision);
        }
    }

    /// <summary>
    /// Sends a question and waits until <paramref name="deadline"/> for the answer: a message from the recipient that
    /// replies to it or follows it on its thread. The answer stays unacknowledged in the asker's inbox.
    /// </summary>
    public async Task<(SendOutcome Question, MessageDto? Answer)> AskAsync(MessageSender sender, SendMessageRequest question, TimeSpan deadline, CancellationToken cancellationToken)
    {
        var sent = await SendMessageAsync(sender, question, cancellationToken).ConfigureAwait(false);
        if (sent.Status != SendOutcome.Sent || sent.Message is not { } asked)
        {
            return (sent, null);
        }

        var answer = await Messages.WaitForAsync(
            sender.Name,
            sent.Position,
            deadline,
            m => m.From == asked.To && (m.ReplyTo == asked.Id || m.Thread == asked.Thread),
            cancellationToken).ConfigureAwait(false);
        return (sent, answer);
    }

    /// <summary>
    /// Whom <paramref name="agent"/> may message. Its <c>allowed_recipients</c> when it (or the home's defaults) sets
    /// them; otherwise a worker may reach the home's managers (the agents whose role is <c>manager</c>) and the
    /// operator, and a manager every agent and the operator.
    /// </summary>
    public async Task<IReadOnlySet<string>> AllowedRecipientsAsync(string agent, CancellationToken cancellationToken)
    {
        var definition = await LoadAgentAsync(agent, cancellationToken).ConfigureAwait(false);
        var setting = definition.Settings.AllowedRecipients;
        if (setting.Source != SettingSource.Default)
        {
            return setting.Value.ToHashSet(StringComparer.Ordinal);
        }

        var listing = await Catalog.ListAsync(cancellationToken).ConfigureAwait(false);
        var isManager = definition.Settings.Role.Value == AgentRole.Manager;
        var allowed = listing.Agents
            .Where(e => e.Definition is { } d && e.Name.Value != agent && (isManager || d.Settings.Role.Value == AgentRole.Manager))
            .Select(e => e.Name.Value)
            .ToHashSet(StringComparer.Ordinal);
        allowed.Add(Operator.Value);
        return allowed;
    }

    private async ValueTask<string> CheckRecipientAsync(string? to, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(to))
        {
            throw new RequestRefusedException(Refusal.Invalid, "Bad request", "'to' is required: an agent's name or 'operator'");
        }

        if (to == Operator.Value)
        {
            return to;
        }

        if (!AgentName.TryCreate(to, out var name, out var error))
        {
            throw new RequestRefusedException(Refusal.Invalid, "Invalid agent name", $"'{to}' is not a valid agent name: {error.Message}");
        }

        // An inbox needs only the agent to exist: a message may wait while its definition is being fixed, so its
        // folder is enough (and cheaper than loading the definition on every send).
        if (!Directory.Exists(Catalog.FolderOf(name)))
        {
            await LoadAgentAsync(to, cancellationToken).ConfigureAwait(false);
        }

        return to;
    }

    private async Task<SendOutcome> DeliverAdmittedAsync(AllowedProposal admitted, MessageSentData message, string body)
    {
        var clock = Stopwatch.StartNew();
        (MessageDto Message, long Position) sent;
        try
        {
            sent = await Messages.DeliverAsync(message, body, CancellationToken.None).ConfigureAwait(false);
        }
        catch (ApiaryException ex)
        {
            await Pipeline.CompleteAsync(admitted, new ProposalOutcome(null, "error", clock.Elapsed, ex.Message), new BudgetAmounts(0, clock.Elapsed, 0, 0m), CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        // The text is in the message's own event; the completion records where it went, not the text again.
        await Pipeline.CompleteAsync(admitted, new ProposalOutcome(0, "sent", clock.Elapsed, $"message {sent.Message.Id} to {message.To}, seq {sent.Message.Seq}"), new BudgetAmounts(0, clock.Elapsed, 0, 0m), CancellationToken.None).ConfigureAwait(false);
        return new SendOutcome(SendOutcome.Sent, sent.Message, sent.Position);
    }

    private async Task<SendOutcome> AwaitMessageApprovalAsync(ApiSession session, ApprovalTicket ticket, MessageSentData message, string body)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, session.Closing);
        try
        {
            var answer = await Pipeline.WaitForApprovalAsync(ticket.Id, ApprovalWait, stop.Token).ConfigureAwait(false);
            if (answer.State == ApprovalState.Open)
            {
                answer = await Pipeline.DenyAsync(ticket.Id, "nobody answered in time; it was not sent", "apiary server", CancellationToken.None).ConfigureAwait(false);
            }

            if (answer.State != ApprovalState.Granted)
            {
                return new SendOutcome(SendOutcome.Denied, Rule: "approval", Reason: $"{answer.State.ToString().ToLowerInvariant()} by {answer.By}: {answer.Reason}");
            }

            var resumed = await Pipeline.ResumeAsync(ticket.Id, stop.Token).ConfigureAwait(false);
            return resumed.Decision.Kind == DecisionKind.Allow && resumed.Allowed is { } admitted
                ? await DeliverAdmittedAsync(admitted, message, body).ConfigureAwait(false)
                : Refused(resumed.Decision);
        }
        catch (OperationCanceledException)
        {
            var why = _stopping.IsCancellationRequested ? "the server stopped" : "the session closed";
            try
            {
                await Pipeline.DenyAsync(ticket.Id, $"{why} before anyone answered; it was not sent", "apiary server", CancellationToken.None).ConfigureAwait(false);
            }
            catch (ApiaryException)
            {
                // The ticket stays open in the log; recovery at the next start denies what nobody can run.
            }

            return new SendOutcome(SendOutcome.Denied, Rule: "approval", Reason: $"{why} before anyone answered; it was not sent");
        }
        catch (ApiaryException ex)
        {
            return new SendOutcome(SendOutcome.Denied, Rule: "approval", Reason: $"it was not sent: {ex.Message}");
        }
    }

    private static SendOutcome Refused(Decision decision) =>
        new(decision.Kind == DecisionKind.Steer ? SendOutcome.Steered : SendOutcome.Denied, Rule: decision.Rule, Reason: decision.Reason);
}
