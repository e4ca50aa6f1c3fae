namespace Apiary;

/// <summary>Why the application refused a request, in its own terms; a host maps it to its protocol (HTTP status, tool error).</summary>
public enum Refusal
{
    /// <summary>The request itself is wrong: a missing or malformed value.</summary>
    Invalid,

    /// <summary>The caller may not do this.</summary>
    Forbidden,

    /// <summary>What the request names does not exist.</summary>
    NotFound,

    /// <summary>The request cannot be done in the present state (a closed session, a broken definition, a ticket already answered).</summary>
    Conflict,

    /// <summary>The request is larger than allowed.</summary>
    TooLarge,

    /// <summary>Something the request needs is not available now (no sandbox, policies not loaded).</summary>
    Unavailable,
}

/// <summary>
/// The application refused a request, saying why (<see cref="Kind"/>, a short <see cref="Title"/>) and what to do (the
/// message). It carries nothing of any protocol: the HTTP host turns it into a problem answer, the model loop into a
/// tool error.
/// </summary>
public sealed class RequestRefusedException(Refusal kind, string title, string detail) : ApiaryException(detail)
{
    /// <summary>Why it was refused.</summary>
    public Refusal Kind { get; } = kind;

    /// <summary>A short title for the refusal, such as <c>Session closed</c>.</summary>
    public string Title { get; } = title;
}
