namespace Apiary.Runtime;

/// <summary>Who sends a message, as the server authenticated it: never what a request or a model says.</summary>
/// <param name="Name">The agent's name, or <c>operator</c>.</param>
/// <param name="Role"><c>agent</c> or <c>operator</c>.</param>
/// <param name="Session">The agent's session; null for the operator.</param>
internal sealed record MessageSender(string Name, string Role, ApiSession? Session)
{
    public static MessageSender Operator { get; } = new(RuntimeContext.Operator.Value, "operator", null);

    public static MessageSender Of(ApiSession session) => new(session.AgentName, "agent", session);
}
