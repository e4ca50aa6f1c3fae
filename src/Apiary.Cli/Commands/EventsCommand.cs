using System.Text;
using System.Text.Json;
using Command = System.CommandLine.Command;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary events</c>: the event log of the running server, read from a position or followed live. Following
/// resumes after a reconnect from the last position printed, so no event is lost or printed twice.
/// </summary>
internal static class EventsCommand
{
    /// <summary>How long a summary may be before it is cut.</summary>
    private const int SummaryChars = 160;

    /// <summary>The data fields a summary shows first, in this order; other scalar fields follow.</summary>
    private static readonly string[] SummaryFirst =
        ["agent", "session", "session_id", "kind", "decision", "stage", "rule", "risk", "reason", "command_line", "command", "exit_code", "ticket_id", "state", "by"];

    public static Command Create(CliContext context)
    {
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new events as they are recorded, until Ctrl-C." };
        var from = new Option<long?>("--from") { Description = "Start at this position (inclusive). Default: the first event, or with --follow only new events.", HelpName = "N" };
        var agent = new Option<string?>("--agent") { Description = "Only this agent's events.", HelpName = "NAME" };
        var session = new Option<string?>("--session") { Description = "Only this session's events.", HelpName = "ID" };
        var stream = new Option<string?>("--stream") { Description = "Only this stream's events (session-<id>, agent-<name>, approval-<id>, system).", HelpName = "STREAM" };
        var json = new Option<bool>("--json") { Description = "Print each event as one line of JSON (the API's shape) instead of text for people." };
        var command = new Command("events", "Print the event log of the running server: position, time, stream, type and a summary per event; --follow tails it live.")
        {
            follow, from, agent, session, stream, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var start = parse.GetValue(from);
            if (start is < 1)
            {
                throw CliException.BadInput("--from must be a position, 1 or more");
            }

            var filter = new EventFilter(parse.GetValue(stream), parse.GetValue(agent), parse.GetValue(session));
            var asJson = parse.GetValue(json);
            var home = CommonOptions.LocateHome(parse, context);
            using var client = await ApiaryClient.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            try
            {
                if (!parse.GetValue(follow))
                {
                    await foreach (var e in client.ReadAllEventsAsync(start ?? 1, filter, cancellationToken).ConfigureAwait(false))
                    {
                        await context.Out.WriteLineAsync(Format(e, asJson)).ConfigureAwait(false);
                    }

                    return ExitCodes.Success;
                }

                void Reconnecting(string why) => context.Error.WriteLine($"apiary: {why}");
                await foreach (var e in client.FollowEventsAsync(filter, start - 1, Reconnecting, cancellationToken).ConfigureAwait(false))
                {
                    await context.Out.WriteLineAsync(Format(e, asJson)).ConfigureAwait(false);
                    await context.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
                }

                return ExitCodes.Success;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl-C is how a follow ends: no error message, the shell's usual 130.
                return ExitCodes.Interrupted;
            }
        });
        return command;
    }

    /// <summary>One line for <paramref name="e"/>: JSON, or position, time, stream, type and a summary.</summary>
    internal static string Format(EventDto e, bool json) =>
        json
            ? JsonSerializer.Serialize(e, ApiJsonContext.Default.EventDto)
            : string.Create(CultureInfo.InvariantCulture, $"{e.Position,6}  {e.Timestamp.UtcDateTime:yyyy-MM-dd HH:mm:ss.fff}Z  {e.Stream}  {e.Type}  {Summary(e.Data)}").TrimEnd();

    /// <summary>The event's scalar data fields as <c>key=value</c>, the telling ones first, cut to a line.</summary>
    internal static string Summary(JsonElement data)
    {
        if (data.ValueKind != JsonValueKind.Object)
        {
            return "";
        }

        var fields = data.EnumerateObject()
            .Where(p => p.Value.ValueKind is JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False)
            .OrderBy(p => Array.IndexOf(SummaryFirst, p.Name) is var i and >= 0 ? i : SummaryFirst.Length)
            .Select(p => $"{p.Name}={Value(p.Value)}");
        var text = new StringBuilder();
        foreach (var field in fields)
        {
            if (text.Length > 0)
            {
                text.Append(' ');
            }

            text.Append(field);
            if (text.Length >= SummaryChars)
            {
                return text.ToString(0, SummaryChars - 1) + "…";
            }
        }

        return text.ToString();
    }

    private static string Value(JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            return value.GetRawText();
        }

        var text = value.GetString() ?? "";
        // Quote what would otherwise read as several fields or lines.
        return text.Length == 0 || text.Any(c => char.IsWhiteSpace(c) || c == '"') ? Quoted(text) : text;
    }

    /// <summary>
    /// <paramref name="text"/> as a JSON string for a person to read: quotes, backslashes and control characters
    /// escaped, everything else (an apostrophe, an accent) as it is, never as <c>\u0027</c>.
    /// </summary>
    private static string Quoted(string text)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStringValue(text);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
