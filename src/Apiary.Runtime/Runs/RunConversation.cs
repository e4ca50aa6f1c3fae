namespace Apiary.Runtime;

/// <summary>
/// Where a run's conversation stands: the messages so far and, for a resumed run, the tool calls of its last model call
/// that still need an answer (results already recorded, approval tickets to wait for, or neither: to be submitted).
/// </summary>
internal sealed class RunConversation(List<ChatMessage> messages)
{
    public List<ChatMessage> Messages { get; } = messages;

    /// <summary>How many of <see cref="Messages"/> the model has already been sent (or sent back).</summary>
    public int Sent { get; init; }

    /// <summary>The turn of the last recorded model call; 0 for a new run.</summary>
    public int Turn { get; init; }

    /// <summary>The tool calls of the last model call, when they still need answering.</summary>
    public IReadOnlyList<FunctionCallContent>? OpenCalls { get; init; }

    /// <summary>Results already recorded (<c>tool.called</c>), by call id.</summary>
    public Dictionary<string, string> Results { get; } = new(StringComparer.Ordinal);

    /// <summary>Approval tickets the run was waiting for (<c>run.waiting</c>), by call id.</summary>
    public Dictionary<string, string> Tickets { get; } = new(StringComparer.Ordinal);

    /// <summary>The answer, when the last recorded model call gave one but the run's end was never recorded.</summary>
    public string? Answer { get; init; }
}
