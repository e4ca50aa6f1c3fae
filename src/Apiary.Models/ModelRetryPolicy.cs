namespace Apiary.Models;

/// <summary>
/// How transient model failures (HTTP 429, 5xx, connection refused or reset, timeouts) are retried: up to
/// <see cref="MaxAttempts"/> attempts in all, waiting an exponentially growing, jittered delay from
/// <see cref="BaseDelay"/> between them, or what the endpoint's <c>Retry-After</c> asks, never more than
/// <see cref="MaxDelay"/>.
/// </summary>
public sealed record ModelRetryPolicy
{
    /// <summary>The policy used when none is given: 4 attempts, 1 second base delay, 60 seconds at most.</summary>
    public static ModelRetryPolicy Default { get; } = new();

    /// <summary>No retries: each call is attempted once.</summary>
    public static ModelRetryPolicy None { get; } = new() { MaxAttempts = 1 };

    /// <summary>Attempts in all, the first included. Default 4.</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>The delay before the first retry; each further retry doubles it. Default 1 second.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between attempts, whatever <c>Retry-After</c> says. Default 60 seconds.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Throws unless the settings make sense.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAttempts, 1, nameof(MaxAttempts));
        ArgumentOutOfRangeException.ThrowIfLessThan(BaseDelay, TimeSpan.Zero, nameof(BaseDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDelay, BaseDelay, nameof(MaxDelay));
    }

    /// <summary>
    /// The wait after failed attempt <paramref name="attempt"/> (1-based): <paramref name="retryAfter"/> when the
    /// endpoint gave one, else <c>BaseDelay * 2^(attempt-1)</c> scaled by <paramref name="jitter"/> (0.5 to 1, so
    /// many agents hitting one endpoint spread out); capped at <see cref="MaxDelay"/>.
    /// </summary>
    public TimeSpan DelayAfter(int attempt, TimeSpan? retryAfter, double jitter = 1.0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        if (retryAfter is { } asked)
        {
            return asked < MaxDelay ? asked : MaxDelay;
        }

        var exponential = BaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt - 1, 30)) * Math.Clamp(jitter, 0.5, 1.0);
        return TimeSpan.FromMilliseconds(Math.Min(exponential, MaxDelay.TotalMilliseconds));
    }
}
