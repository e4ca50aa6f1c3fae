namespace Apiary.Governance.Pipeline;

/// <summary>How a ticket stands, in words for a person: what the API, the CLI and the dashboard say when it is no longer open.</summary>
public static class ApprovalText
{
    /// <summary>Such as <c>it was already approved by operator</c> or <c>it expired unanswered</c>.</summary>
    public static string Standing(ApprovalAnswer answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        return answer.State switch
        {
            ApprovalState.Granted => $"it was already approved by {answer.By}",
            ApprovalState.Denied => $"it was already denied by {answer.By}: {answer.Reason}",
            ApprovalState.Expired => "it expired unanswered",
            ApprovalState.Consumed => "it was approved and its proposal has run",
            _ => "it is still open",
        };
    }
}
