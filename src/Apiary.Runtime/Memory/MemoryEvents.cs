using System.Text.Json.Serialization;

namespace Apiary.Runtime.Memory;

/// <summary>The event types of agent memory, recorded in the stream of the run's session (<c>session-&lt;id&gt;</c>).</summary>
internal static class MemoryEventTypes
{
    /// <summary>
    /// The agent's model rewrote its <c>MEMORY.md</c> shorter; the previous version is kept under
    /// <c>.state/memory/</c>. Recorded in one append with the <c>budget.settled</c> of the model call.
    /// </summary>
    public const string MemoryCompacted = "memory.compacted";

    /// <summary>A compaction did not happen (the model failed, or its output was empty or not shorter); <c>MEMORY.md</c> was kept as it was.</summary>
    public const string MemoryCompactionFailed = "memory.compaction_failed";
}

/// <summary>
/// A compaction: the memory's size before and after, the file under <c>.state/memory/</c> that keeps the previous
/// version, and the tokens the model call used.
/// </summary>
internal sealed record MemoryCompactedData(
    string Agent, string Run, string Session, string Model, int CharsBefore, int CharsAfter, string PreviousVersion, long? InputTokens, long? OutputTokens, long Tokens, DateTimeOffset At);

/// <summary>A compaction that did not happen and why; the memory stays as it was. Tokens are those charged (0 when the call failed).</summary>
internal sealed record MemoryCompactionFailedData(string Agent, string Run, string Session, string Model, int Chars, string Reason, long Tokens, DateTimeOffset At);
