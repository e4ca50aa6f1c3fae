namespace Apiary.Events;

/// <summary>An append expected a stream version the stream does not have: someone else appended first.</summary>
public sealed class WrongExpectedVersionException : ApiaryException
{
    /// <summary>Creates the exception for <paramref name="stream"/>, which is at <paramref name="actual"/> (0: no events).</summary>
    public WrongExpectedVersionException(string stream, ExpectedVersion expected, long actual)
        : base($"append to stream '{stream}' expected version {expected} but the stream is at {(actual == 0 ? "no stream" : actual)}")
    {
        Stream = stream;
        Expected = expected;
        Actual = actual;
    }

    /// <summary>The stream appended to.</summary>
    public string Stream { get; }

    /// <summary>What the append expected.</summary>
    public ExpectedVersion Expected { get; }

    /// <summary>The stream's version when the append was checked (0 when it had no events).</summary>
    public long Actual { get; }
}

/// <summary>The event store could not do what was asked: the append was not committed, or the file is unusable.</summary>
public sealed class EventStoreException : ApiaryException
{
    /// <summary>Creates the exception with a message for people.</summary>
    public EventStoreException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message for people and its cause.</summary>
    public EventStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
