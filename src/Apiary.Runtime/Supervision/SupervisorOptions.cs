namespace Apiary.Runtime.Supervision;

/// <summary>How the supervisor restarts crashed runs.</summary>
public sealed class SupervisorOptions
{
    /// <summary>How many times a crashed run is restarted in a row (each restart that crashes again counts). Default 3; 0 turns restarts off.</summary>
    public int MaxRestarts { get; init; } = 3;

    /// <summary>The wait before the first restart; each further one waits twice as long. Default 2 seconds.</summary>
    public TimeSpan Backoff { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The longest wait before a restart. Default 5 minutes.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The wait before restart number <paramref name="attempt"/> (from 1).</summary>
    public TimeSpan DelayBefore(int attempt)
    {
        var delay = Backoff * Math.Pow(2, Math.Clamp(attempt - 1, 0, 30));
        return delay < MaxBackoff ? delay : MaxBackoff;
    }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRestarts, nameof(MaxRestarts));
        ArgumentOutOfRangeException.ThrowIfLessThan(Backoff, TimeSpan.Zero, nameof(Backoff));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBackoff, Backoff, nameof(MaxBackoff));
    }
}
