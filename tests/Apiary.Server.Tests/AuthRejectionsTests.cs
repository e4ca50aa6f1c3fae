using System.Collections.Concurrent;

namespace Apiary.Server.Tests;

/// <summary>How refused authentication is counted and recorded: at most once an interval per source, in bounded memory, on a manual clock.</summary>
public sealed class AuthRejectionsTests : IAsyncDisposable
{
    private static readonly IPAddress Attacker = IPAddress.Parse("203.0.113.7");
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 21, 9, 0, 0, TimeSpan.Zero));
    private readonly ConcurrentQueue<AuthRejectedData> _recorded = new();
    private readonly AuthRejections _rejections;

    public AuthRejectionsTests() => _rejections = Create();

    public async ValueTask DisposeAsync() => await _rejections.DisposeAsync();

    [Fact]
    public async Task RefuseAsync_AFlood_RecordsTheFirstAtOnce_ThenOneSummaryWithTheCount()
    {
        for (var i = 0; i < 1000; i++)
        {
            await _rejections.RefuseAsync(Attacker, "GET", i % 2 == 0 ? "/api/agents" : "/api/approvals", i % 3 == 0 ? "no token" : "unknown token");
        }

        var first = Assert.Single(_recorded);
        Assert.Equal(("203.0.113.7", "GET", "/api/agents", "no token", 1, _clock.GetUtcNow()), (first.Remote, first.Method, first.Path, first.Reason, first.Count, first.At));
        Assert.Null(first.Since);

        var start = _clock.GetUtcNow();
        _clock.Advance(AuthRejections.Interval);

        Assert.Equal(2, _recorded.Count);
        var summary = _recorded.Last();
        Assert.Equal(("203.0.113.7", 999, start, _clock.GetUtcNow()), (summary.Remote, summary.Count, summary.Since, summary.At));
        Assert.Equal(["GET /api/approvals", "GET /api/agents"], summary.Paths!);
        Assert.Equal(["unknown token", "no token"], summary.Reasons!);
        Assert.Equal(("/api/approvals", "no token"), (summary.Path, summary.Reason));
    }

    [Fact]
    public async Task RefuseAsync_AFloodThatGoesOn_OneSummaryAnInterval()
    {
        for (var minute = 0; minute < 5; minute++)
        {
            for (var i = 0; i < 100; i++)
            {
                await _rejections.RefuseAsync(Attacker, "GET", "/api/agents", "no token");
            }

            _clock.Advance(AuthRejections.Interval);
        }

        Assert.Equal(1 + 5, _recorded.Count);
        Assert.Equal(5 * 100, _recorded.Sum(r => r.Count));
        Assert.Equal([1, 99, 100, 100, 100, 100], _recorded.Select(r => r.Count));
    }

    [Fact]
    public async Task RefuseAsync_ASourceQuietForAnInterval_IsRecordedAtOnceAgain()
    {
        await _rejections.RefuseAsync(Attacker, "GET", "/api/agents", "no token");
        _clock.Advance(AuthRejections.Interval);
        Assert.Single(_recorded);

        await _rejections.RefuseAsync(Attacker, "GET", "/api/agents", "no token");

        Assert.Equal([1, 1], _recorded.Select(r => r.Count));
        Assert.Equal(0, _clock.TimerCount);
    }

    [Fact]
    public async Task RefuseAsync_TwoSources_EachHasItsOwnRecord()
    {
        await _rejections.RefuseAsync(Attacker, "GET", "/api/agents", "no token");
        await _rejections.RefuseAsync(IPAddress.Parse("::ffff:198.51.100.2"), "GET", "/api/agents", "no token");
        await _rejections.RefuseAsync(IPAddress.Parse("198.51.100.2"), "GET", "/api/agents", "no token");
        await _rejections.RefuseAsync(null, "GET", "/api/agents", "no token");

        Assert.Equal(["203.0.113.7", "198.51.100.2", null], _recorded.Select(r => r.Remote));
    }

    [Fact]
    public async Task RefuseAsync_MoreSourcesThanTheCap_TracksNoMore_AndWritesTheCountOfTheOnePushedOut()
    {
        await using var rejections = Create(maxSources: 3);
        for (var i = 0; i < 3; i++)
        {
            await rejections.RefuseAsync(IPAddress.Parse($"198.51.100.{i}"), "GET", "/api/agents", "no token");
            _clock.Advance(TimeSpan.FromSeconds(1));
        }

        await rejections.RefuseAsync(IPAddress.Parse("198.51.100.0"), "GET", "/api/events", "no token");
        await rejections.RefuseAsync(IPAddress.Parse("198.51.100.0"), "GET", "/api/events", "no token");
        for (var i = 3; i < 1000; i++)
        {
            await rejections.RefuseAsync(IPAddress.Parse($"198.51.{i / 256}.{i % 256}"), "GET", "/api/agents", "no token");
        }

        Assert.Equal(3, rejections.Tracked);
        var pushedOut = Assert.Single(_recorded, r => r.Count > 1);
        Assert.Equal(("198.51.100.0", 2), (pushedOut.Remote, pushedOut.Count));
        Assert.Equal(["GET /api/events"], pushedOut.Paths!);
    }

    [Fact]
    public async Task RefuseAsync_ManyAndLongPaths_KeepsABoundedFew()
    {
        var tail = new string('x', 10_000);
        await _rejections.RefuseAsync(Attacker, "GET", "/api/" + tail, "no token");
        for (var i = 0; i < 100; i++)
        {
            await _rejections.RefuseAsync(Attacker, "GET", $"/api/{i}/{tail}", "no token");
        }

        _clock.Advance(AuthRejections.Interval);

        Assert.All(_recorded, r => Assert.True(r.Path.Length <= AuthRejections.MaxPathChars));
        var summary = _recorded.Last();
        Assert.Equal(AuthRejections.MaxPaths, summary.Paths!.Count);
        Assert.All(summary.Paths, p => Assert.Equal(AuthRejections.MaxPathChars, p.Length));
    }

    [Fact]
    public async Task DisposeAsync_WritesWhatIsCountedAndNotYetRecorded()
    {
        await using var rejections = Create();
        await rejections.RefuseAsync(Attacker, "GET", "/api/agents", "no token");
        await rejections.RefuseAsync(Attacker, "POST", "/api/sessions", "unknown token");

        await rejections.DisposeAsync();

        Assert.Equal([1, 1], _recorded.Select(r => r.Count));
        Assert.Equal(["POST /api/sessions"], _recorded.Last().Paths!);
    }

    private AuthRejections Create(int maxSources = AuthRejections.MaxSources) =>
        new(_clock, data =>
        {
            _recorded.Enqueue(data);
            return Task.CompletedTask;
        }, maxSources: maxSources);
}
