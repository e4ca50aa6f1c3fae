using Apiary.Agents;

namespace Apiary;

/// <summary>The base of every exception Apiary throws on purpose: a bug or an infrastructure failure, never an expected outcome.</summary>
public class ApiaryException : Exception
{
    /// <summary>Creates an exception with a message for people.</summary>
    public ApiaryException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message for people and its cause.</summary>
    public ApiaryException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>A text was used as an agent name but breaks a naming rule.</summary>
public sealed class InvalidAgentNameException : ApiaryException
{
    /// <summary>Creates the exception from the rule that failed.</summary>
    public InvalidAgentNameException(AgentNameError error)
        : base(error.Message) => Error = error;

    /// <summary>The rule that failed.</summary>
    public AgentNameError Error { get; }
}
