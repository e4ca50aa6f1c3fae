using Command = System.CommandLine.Command;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary send</c> and <c>apiary inbox</c>: the operator takes part in the agents' conversations through the running
/// server. Messages sent here come from <c>operator</c> (the server sets the sender from the operator token).
/// </summary>
internal static class MessagesCommand
{
    /// <summary>The longest <c>--wait</c>, as the server allows it.</summary>
    private const int MaxWaitSeconds = 600;

    public static Command Send(CliContext context)
    {
        var agent = new Argument<string>("agent") { Description = "The recipient: an agent's name, or 'operator'." };
        var text = new Argument<string>("text") { Description = "The message." };
        var thread = new Option<string?>("--thread") { Description = "The conversation it belongs to (default: a new thread).", HelpName = "T" };
        var replyTo = new Option<string?>("--reply-to") { Description = "The id of the message it answers.", HelpName = "ID" };
        var command = new Command("send", "Send a message to an agent as the operator; it arrives in the agent's inbox (its recv tool).")
        {
            agent, text, thread, replyTo,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var to = CommonOptions.ParseInbox(parse.GetValue(agent)!);

            var body = parse.GetValue(text);
            if (string.IsNullOrEmpty(body))
            {
                throw CliException.BadInput("the message text is empty; say something");
            }

            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            var sent = await client.SendMessageAsync(new SendMessageRequest(to, body, parse.GetValue(thread), parse.GetValue(replyTo)), cancellationToken).ConfigureAwait(false);
            var m = sent.Message!;
            await context.Out.WriteLineAsync($"sent: message {m.Id} to {m.To} (seq {m.Seq.ToString(CultureInfo.InvariantCulture)}) on thread {m.Thread}").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    public static Command Inbox(CliContext context)
    {
        var agent = new Option<string>("--agent") { Description = "Whose inbox: 'operator' (the default) or an agent's name.", HelpName = "operator|NAME", DefaultValueFactory = _ => "operator" };
        var wait = new Option<int>("--wait") { Description = $"When no message is waiting, wait up to this many seconds for one (0 to {MaxWaitSeconds}; default 0).", HelpName = "S" };
        var peek = new Option<bool>("--peek") { Description = "Show the messages without acknowledging them (they are shown again next time)." };
        var json = CommonOptions.Json();
        var command = new Command("inbox", "Show the unacknowledged messages of an inbox, oldest first, and acknowledge them.")
        {
            agent, wait, peek, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var who = CommonOptions.ParseInbox(parse.GetValue(agent)!);

            var seconds = parse.GetValue(wait);
            if (seconds is < 0 or > MaxWaitSeconds)
            {
                throw CliException.BadInput($"--wait must be between 0 and {MaxWaitSeconds} seconds");
            }

            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            var inbox = await client.ReadInboxAsync(who, waitSeconds: seconds, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(context.Out, inbox, ApiJsonContext.Default.InboxDto).ConfigureAwait(false);
            }
            else if (inbox.Messages.Count == 0)
            {
                await context.Out.WriteLineAsync($"no messages for {who}").ConfigureAwait(false);
            }
            else
            {
                foreach (var m in inbox.Messages)
                {
                    var reply = m.ReplyTo is null ? "" : $", reply to {m.ReplyTo}";
                    await context.Out.WriteLineAsync($"#{m.Seq.ToString(CultureInfo.InvariantCulture)} from {m.From} ({m.Role}) on thread {m.Thread} at {m.At.ToUniversalTime():u}, id {m.Id}{reply}").ConfigureAwait(false);
                    await context.Out.WriteLineAsync("  " + (m.Body ?? "(text removed by retention)").Replace("\n", "\n  ", StringComparison.Ordinal)).ConfigureAwait(false);
                }
            }

            // Acknowledged only once shown: a failure before this line shows them again next time.
            if (!parse.GetValue(peek) && inbox.Messages.Count > 0)
            {
                await client.AckInboxAsync(who, inbox.Messages[^1].Seq, cancellationToken).ConfigureAwait(false);
            }

            return ExitCodes.Success;
        });
        return command;
    }
}
