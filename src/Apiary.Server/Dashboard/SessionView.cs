using System.Globalization;
using System.Text;
using Apiary.Governance.Pipeline;
using Apiary.Runtime.Messaging;

namespace Apiary.Server.Dashboard;

/// <summary>
/// One session as the sessions list shows it. <see cref="Orphaned"/>: it was never closed, and no server has it open (the
/// server it was opened on stopped without closing it). <see cref="What"/>: its run's task, or its first command.
/// </summary>
internal sealed record SessionRow(string Id, string Agent, DateTimeOffset OpenedAt, DateTimeOffset? ClosedAt, int Proposals, bool Orphaned = false, string? What = null)
{
    public bool IsOpen => ClosedAt is null && !Orphaned;

    /// <summary><c>open</c>, <c>closed</c> or <c>orphaned</c>: what the list's state filter matches.</summary>
    public string State => IsOpen ? "open" : ClosedAt is not null ? "closed" : "orphaned";

    /// <summary>Where it stands, in words: open, closed when, or never closed.</summary>
    public string Status =>
        IsOpen ? "open"
        : ClosedAt is { } closed ? "closed " + closed.ToString("u", System.Globalization.CultureInfo.InvariantCulture)
        : "not closed: its server stopped";
}

/// <summary>
/// One proposal of a session as the session page shows it: what was asked, the decision record (rule, reason, what
/// decided and why), where it stands and how it ended. <see cref="Run"/> is its live output when this server runs it.
/// </summary>
internal sealed record ProposalRow(
    string Id,
    string Kind,
    string What,
    string Decision,
    string Stage,
    string Rule,
    string Risk,
    string? Reason,
    string Explanation,
    string Status,
    string? Result,
    string? RecordedOutput,
    ProposalRun? Run);

/// <summary>A message to or from a session's agent: <c>in</c> (its inbox) or <c>out</c> (sent from this session).</summary>
internal sealed record MessageRow(string Id, string Direction, string From, string To, string Thread, string? Body, DateTimeOffset At, string? Refused = null);

/// <summary>A session's page: the session, its proposals in order and its agent's messages.</summary>
internal sealed record SessionView(SessionRow Session, IReadOnlyList<ProposalRow> Proposals, IReadOnlyList<MessageRow> Messages);

/// <summary>
/// Reads what the dashboard shows of sessions from the runtime and the log: the session's stream
/// (<c>session-&lt;id&gt;</c>: opened, decided, completed, closed, refused messages) and the inboxes. The live parts
/// (a running command's output, a proposal's status) come from the runtime's own objects, as the API's do.
/// </summary>
internal static class SessionViews
{
    /// <summary>The most inbox messages a session page shows: the newest.</summary>
    public const int MaxMessages = 200;

    /// <summary>The session <paramref name="id"/>, of this server or (closed) from the log; null when there is none.</summary>
    public static async Task<SessionView?> LoadAsync(ApiaryRuntime runtime, string id, CancellationToken cancellationToken = default)
    {
        var live = runtime.Sessions.Find(id);
        string? agent = live?.AgentName;
        DateTimeOffset? openedAt = live?.OpenedAt, closedAt = live?.ClosedAt;
        var decided = new Dictionary<string, DecisionRecord>(StringComparer.Ordinal);
        var order = new List<string>();
        var completed = new Dictionary<string, (string Result, string? Output)>(StringComparer.Ordinal);
        var refused = new List<MessageRow>();
        await foreach (var e in runtime.Store.ReadStreamAsync("session-" + id, 1, cancellationToken))
        {
            switch (e.Type)
            {
                case ServerEventTypes.SessionOpened when live is null:
                    var opened = JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.SessionEventData);
                    (agent, openedAt) = (opened?.Agent, opened?.At);
                    break;
                case ServerEventTypes.SessionClosed when live is null:
                    closedAt = JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.SessionEventData)?.At;
                    break;
                case PipelineEventTypes.ProposalDecided:
                    var record = PipelineRecords.ReadDecision(e);
                    if (!decided.ContainsKey(record.ProposalId))
                    {
                        order.Add(record.ProposalId);
                    }

                    // A proposal that waited for a person has a second decision once answered: the latest is how it stands.
                    decided[record.ProposalId] = record;
                    break;
                case PipelineEventTypes.ProposalCompleted:
                    var (proposal, result) = ReadCompletion(e);
                    if (proposal is not null)
                    {
                        completed[proposal] = (result, e.Body is { } body ? Encoding.UTF8.GetString(body.Span) : null);
                    }

                    break;
                case MessageEventTypes.MessageRefused:
                    if (JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.MessageRefusedData) is { } no)
                    {
                        refused.Add(new MessageRow("refused-" + e.Position.ToString(CultureInfo.InvariantCulture), "out", no.From, no.To, "", null, no.At, $"{no.Rule}: {no.Reason}"));
                    }

                    break;
            }
        }

        if (agent is null || openedAt is null)
        {
            return null;
        }

        var proposals = order.Select(p => Row(decided[p], completed.GetValueOrDefault(p), runtime.Executor.FindRun(p))).ToList();
        var messages = new List<MessageRow>(refused);
        var inbox = await runtime.Messaging.Broker.ReadAsync(agent, 0, TimeSpan.Zero, Apiary.Runtime.Messaging.MessageService.MaxMessagesPerRead, cancellationToken);
        messages.AddRange(inbox.Messages.TakeLast(MaxMessages).Select(m => new MessageRow(m.Id, "in", m.From, m.To, m.Thread, m.Body, m.At)));

        // What the agent sent from this session: each send is a send_message proposal naming its message and recipient.
        foreach (var d in decided.Values.Where(d => d.Inputs.Kind == "send_message" && d.Decision == "allow"))
        {
            if (d.Inputs.Other.GetValueOrDefault("message") is { } messageId && d.Inputs.Recipients is [var to, ..]
                && await runtime.Messaging.Broker.FindAsync(to, messageId, cancellationToken) is { } sent)
            {
                messages.Add(new MessageRow(sent.Id, "out", sent.From, sent.To, sent.Thread, sent.Body, sent.At));
            }
        }

        var session = new SessionRow(id, agent, openedAt.Value, closedAt, proposals.Count, Orphaned: live is null && closedAt is null);
        return new SessionView(session, proposals, messages.OrderBy(m => m.At).ToList());
    }

    /// <summary>Whether a <c>message.sent</c> event concerns <paramref name="agent"/>'s session <paramref name="session"/>: to the agent, or sent from the session.</summary>
    public static bool Concerns(RecordedEvent e, string session, string agent)
    {
        if (e.Stream == MessageEventTypes.InboxStream(agent))
        {
            return true;
        }

        try
        {
            return JsonSerializer.Deserialize(e.Data.Span, RuntimeJsonContext.Default.MessageSentData)?.Session == session;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static ProposalRow Row(DecisionRecord d, (string Result, string? Output) completed, ProposalRun? run)
    {
        var inputs = d.Inputs;
        var what = inputs.Kind switch
        {
            "exec" => CommandLine(inputs),
            "send_message" => $"send_message to {string.Join(", ", inputs.Recipients)}",
            _ => $"{inputs.Kind} {inputs.Path}".TrimEnd(),
        };
        var explanation = $"decided by the {d.Stage.Replace('_', ' ')} stage ({d.Source} {d.DecidedBy}){(string.IsNullOrEmpty(d.Detail) || d.Detail == d.Reason ? "" : ": " + d.Detail)}";
        if (d.Evaluators.Where(v => v.Verdict != "pass").Select(v => $"{v.Evaluator}: {v.Verdict}{(v.Reason is null ? "" : " (" + v.Reason + ")")}").ToList() is { Count: > 0 } verdicts)
        {
            explanation += "; evaluators: " + string.Join("; ", verdicts);
        }

        string status;
        string? result;
        var decision = d.Decision;
        var reason = d.Reason;
        // A run just submitted learns its decision a moment after the log records it: until then the log says more.
        if (run is not null && run.Status != "submitted")
        {
            var dto = run.ToDto();
            status = dto.Status;
            result = dto.Result is { } r ? Describe(r) : completed.Result;

            // The run knows of a denial by a person (or the session closing) before the log's next decision is read.
            if (dto.Status == "denied" && dto.Decision.Decision == "deny")
            {
                (decision, reason) = ("deny", dto.Decision.Reason ?? reason);
            }
        }
        else
        {
            status = completed.Result is not null ? "completed" : d.Decision switch
            {
                "allow" => "running",
                "pending" => "pending_approval",
                "steer" => "steered",
                _ => "denied",
            };
            result = completed.Result;
        }

        return new ProposalRow(d.ProposalId, inputs.Kind, what, decision, d.Stage, d.Rule, d.Risk, reason, explanation, status, result, completed.Output, run);
    }

    /// <summary>An <c>exec</c> proposal's command line, each argument quoted as a shell would need it.</summary>
    public static string CommandLine(DecisionInputs inputs) => string.Join(' ', inputs.Args.Select(Quote).Prepend(inputs.Command ?? ""));

    private static string Describe(ResultDto r)
    {
        var parts = new List<string> { r.ExitCode is { } code ? $"exit code {code.ToString(CultureInfo.InvariantCulture)}" : r.Reason.Replace('_', ' ') };
        if (r.ExitCode is not null && r.Reason != "exited")
        {
            parts.Add(r.Reason.Replace('_', ' '));
        }

        parts.Add($"{r.DurationMs.ToString(CultureInfo.InvariantCulture)} ms");
        if (r.Truncated)
        {
            parts.Add("output truncated");
        }

        if (r.Error is { } error)
        {
            parts.Add(error);
        }

        return string.Join(", ", parts);
    }

    private static (string? Proposal, string Result) ReadCompletion(RecordedEvent e)
    {
        // proposal.completed's record type is the pipeline's own; its snake_case fields are its wire format.
        using var json = JsonDocument.Parse(e.Data);
        var root = json.RootElement;
        var proposal = root.TryGetProperty("proposal_id", out var p) ? p.GetString() : null;
        int? exit = root.TryGetProperty("exit_code", out var x) && x.ValueKind == JsonValueKind.Number ? x.GetInt32() : null;
        var reason = root.TryGetProperty("reason", out var r) ? r.GetString() ?? "" : "";
        var duration = root.TryGetProperty("duration_ms", out var ms) && ms.ValueKind == JsonValueKind.Number ? ms.GetInt64() : 0;
        return (proposal, Describe(new ResultDto(exit, reason, duration)));
    }

    private static string Quote(string arg) =>
        arg.Length > 0 && arg.All(c => char.IsLetterOrDigit(c) || "-_./=:,+@%".Contains(c, StringComparison.Ordinal)) ? arg : "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
