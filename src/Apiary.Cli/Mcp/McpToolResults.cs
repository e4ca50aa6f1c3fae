using System.Text;
using ModelContextProtocol.Protocol;

namespace Apiary.Cli.Mcp;

/// <summary>
/// What a tool call returns to the model: text it can read. A denial or a pending approval is a result, not a
/// protocol error, so the model learns why and can adapt; a denial, a refused request and a failed tool set
/// <c>isError</c>.
/// </summary>
internal static class McpToolResults
{
    public static CallToolResult From(ProposalDto proposal)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        return proposal.Status switch
        {
            "denied" => Denied(proposal),
            "pending_approval" => Pending(proposal),
            "completed" when proposal.Result is { } result => Completed(proposal, result),
            _ => Result(false, $"proposal {proposal.Id} is {proposal.Status}; it was allowed ({Describe(proposal.Decision)}) but has not finished."),
        };
    }

    /// <summary>The arguments were wrong: the model is told what to fix.</summary>
    public static CallToolResult BadArguments(string tool, string problem) => Result(true, $"{tool}: invalid arguments: {problem}");

    /// <summary>The server refused the request (a bad path, a closed session) or could not be reached.</summary>
    public static CallToolResult Refused(string tool, ApiaryClientException ex) =>
        Result(true, ex.Status is null
            ? $"{tool} failed: the Apiary server could not be reached ({ex.Message}). Nothing ran."
            : $"{tool} was refused by Apiary: {ex.Detail ?? ex.Title ?? ex.Message}. Nothing ran.");

    private static CallToolResult Denied(ProposalDto p)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"denied: Apiary's governance refused this {p.Kind}; it did not run.");
        AppendDecision(text, p.Decision);
        text.Append("Do not retry the same call; change the approach, or ask the user to change the policy.");
        return Result(true, text.ToString());
    }

    private static CallToolResult Pending(ProposalDto p)
    {
        var ticket = p.Decision.TicketId ?? "(unknown)";
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"pending approval: this {p.Kind} needs a person's approval; it has not run yet.");
        AppendDecision(text, p.Decision);
        text.AppendLine(CultureInfo.InvariantCulture, $"ticket: {ticket}");
        text.AppendLine(CultureInfo.InvariantCulture, $"proposal: {p.Id}");
        text.AppendLine(CultureInfo.InvariantCulture, $"To approve it, a person runs: apiary approvals approve {ticket}");
        text.AppendLine(CultureInfo.InvariantCulture, $"To refuse it: apiary approvals deny {ticket} --reason \"...\"");
        text.Append("Once approved, Apiary runs exactly this call once, by itself; do not submit it again. Tell the user it is waiting for approval.");
        return Result(false, text.ToString());
    }

    private static CallToolResult Completed(ProposalDto p, ResultDto r)
    {
        if (r.Error is { } error)
        {
            return Result(true, $"{p.Kind} failed: {error}");
        }

        switch (p.Kind)
        {
            case "read_file":
                return Result(false, r.Content ?? "");
            case "write_file":
                return Result(false, "written");
            case "list_dir":
                var entries = r.Entries ?? [];
                return Result(false, entries.Count == 0
                    ? "(empty folder)"
                    : string.Join('\n', entries.Select(e => e.Type switch
                    {
                        "dir" => e.Name + "/",
                        "file" when e.Size is { } size => string.Create(CultureInfo.InvariantCulture, $"{e.Name}  ({size} bytes)"),
                        "symlink" => e.Name + " (symlink)",
                        _ => e.Name,
                    })));
            default:
                var text = new StringBuilder();
                text.AppendLine(r.ExitCode is { } code
                    ? string.Create(CultureInfo.InvariantCulture, $"exit code: {code}")
                    : $"exit code: none ({r.Reason})");
                if (r.Reason is not ("exited" or "done"))
                {
                    text.AppendLine(CultureInfo.InvariantCulture, $"ended: {r.Reason}");
                }

                text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"duration: {r.DurationMs} ms"));
                text.AppendLine("stdout:");
                text.AppendLine(r.Stdout ?? "");
                text.AppendLine("stderr:");
                text.Append(r.Stderr ?? "");
                if (r.Truncated)
                {
                    text.Append("\n(output was truncated at the sandbox's limit)");
                }

                // A non-zero exit is an ordinary outcome the model reads; a command that could not finish is an error.
                return Result(r.Reason is not ("exited" or "done"), text.ToString());
        }
    }

    private static void AppendDecision(StringBuilder text, DecisionDto d)
    {
        text.AppendLine(CultureInfo.InvariantCulture, $"decision: {d.Decision} ({Describe(d)})");
        if (d.Reason is { Length: > 0 } reason)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"reason: {reason}");
        }
    }

    private static string Describe(DecisionDto d) => $"stage: {d.Stage}, rule: {d.Rule}, risk: {d.Risk}";

    private static CallToolResult Result(bool isError, string text) => new()
    {
        Content = [new TextContentBlock { Text = text }],
        IsError = isError,
    };
}
