using Apiary.Contracts;

namespace Apiary.Client;

/// <summary>Which events to read or follow; every set field must match.</summary>
/// <param name="Stream">Only this stream (<c>session-…</c>, <c>agent-…</c>, <c>system</c>, …).</param>
/// <param name="Agent">Only events of this agent.</param>
/// <param name="Session">Only events of this session.</param>
public sealed record EventFilter(string? Stream = null, string? Agent = null, string? Session = null)
{
    /// <summary>Every event.</summary>
    public static EventFilter All { get; } = new();

    internal void AppendTo(List<string> query)
    {
        Add(query, "stream", Stream);
        Add(query, "agent", Agent);
        Add(query, "session", Session);
    }

    internal static void Add(List<string> query, string name, string? value)
    {
        if (value is not null)
        {
            query.Add($"{name}={Uri.EscapeDataString(value)}");
        }
    }
}
