using Apiary.Agents;
using Apiary.Governance;
using Apiary.Governance.KillSwitches;
using Apiary.Testing;

namespace Apiary.Tests.Governance.KillSwitches;

public sealed class KillSwitchTests
{
    private static readonly Principal Coder1 = new(AgentName.Parse("coder"), AgentRole.Worker, "s-1");
    private static readonly Principal Coder2 = new(AgentName.Parse("coder"), AgentRole.Worker, "s-2");
    private static readonly Principal Manager = new(AgentName.Parse("manager"), AgentRole.Manager, "s-3");
    private readonly ManualClock _clock = new(new DateTimeOffset(2025, 1, 15, 10, 30, 0, TimeSpan.Zero));

    [Fact]
    public void IsBlocked_NothingEngaged_Null()
    {
        var kill = new KillSwitch(_clock);

        Assert.Null(kill.IsBlocked(Coder1));
        Assert.False(kill.TokenFor(Coder1).IsCancellationRequested);
    }

    [Fact]
    public void Engage_Session_BlocksOnlyThatSession()
    {
        var kill = new KillSwitch(_clock);

        kill.Engage(KillSwitchScope.Session("s-1"), "looping", "operator");

        Assert.Equal(
            new EngagedKillSwitch(KillSwitchScope.Session("s-1"), "looping", "operator", _clock.GetUtcNow()),
            kill.IsBlocked(Coder1));
        Assert.Null(kill.IsBlocked(Coder2));
        Assert.Null(kill.IsBlocked(Manager));
    }

    [Fact]
    public void Engage_Agent_BlocksEverySessionOfThatAgentOnly()
    {
        var kill = new KillSwitch(_clock);

        kill.Engage(KillSwitchScope.Agent(Coder1.Agent), "bad prompt", "operator");

        Assert.NotNull(kill.IsBlocked(Coder1));
        Assert.NotNull(kill.IsBlocked(Coder2));
        Assert.Null(kill.IsBlocked(Manager));
    }

    [Fact]
    public void Engage_Global_BlocksEveryone()
    {
        var kill = new KillSwitch(_clock);

        kill.Engage(KillSwitchScope.Global, "incident", "operator");

        Assert.All([Coder1, Coder2, Manager], p => Assert.Equal(KillSwitchScope.Global, kill.IsBlocked(p)!.Scope));
        Assert.Equal("kill switch global engaged by operator: incident", kill.IsBlocked(Manager)!.ToString());
    }

    [Fact]
    public void IsBlocked_SeveralCover_GlobalBeatsAgentBeatsSession()
    {
        var kill = new KillSwitch(_clock);
        kill.Engage(KillSwitchScope.Session("s-1"), "session", "op");
        kill.Engage(KillSwitchScope.Agent(Coder1.Agent), "agent", "op");
        kill.Engage(KillSwitchScope.Global, "global", "op");

        Assert.Equal("global", kill.IsBlocked(Coder1)!.Reason);
        kill.Release(KillSwitchScope.Global, "op");
        Assert.Equal("agent", kill.IsBlocked(Coder1)!.Reason);
        kill.Release(KillSwitchScope.Agent(Coder1.Agent), "op");
        Assert.Equal("session", kill.IsBlocked(Coder1)!.Reason);
        kill.Release(KillSwitchScope.Session("s-1"), "op");
        Assert.Null(kill.IsBlocked(Coder1));
    }

    [Fact]
    public void Engage_CancelsTokensOfCoveredSessionsOnly()
    {
        var kill = new KillSwitch(_clock);
        var t1 = kill.TokenFor(Coder1);
        var t2 = kill.TokenFor(Coder2);
        var tm = kill.TokenFor(Manager);

        kill.Engage(KillSwitchScope.Agent(Coder1.Agent), "stop", "op");

        Assert.True(t1.IsCancellationRequested);
        Assert.True(t2.IsCancellationRequested);
        Assert.False(tm.IsCancellationRequested);
    }

    [Fact]
    public async Task Engage_RunningWorkOnToken_IsCancelled()
    {
        var kill = new KillSwitch(_clock);

        // Work that runs until its token is cancelled.
        var running = new TaskCompletionSource();
        using var registration = kill.TokenFor(Coder1).Register(() => running.TrySetCanceled());

        kill.Engage(KillSwitchScope.Session("s-1"), "stop", "op");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.Task);
    }

    [Fact]
    public void TokenFor_WhileBlocked_AlreadyCancelled()
    {
        var kill = new KillSwitch(_clock);
        kill.Engage(KillSwitchScope.Global, "stop", "op");

        Assert.True(kill.TokenFor(Manager).IsCancellationRequested);
    }

    [Fact]
    public void Release_ReArmsWithFreshTokens()
    {
        var kill = new KillSwitch(_clock);
        var old = kill.TokenFor(Coder1);
        kill.Engage(KillSwitchScope.Session("s-1"), "stop", "op");

        var released = kill.Release(KillSwitchScope.Session("s-1"), "op");
        var fresh = kill.TokenFor(Coder1);

        Assert.NotNull(released);
        Assert.True(old.IsCancellationRequested);
        Assert.False(fresh.IsCancellationRequested);
        kill.Engage(KillSwitchScope.Session("s-1"), "again", "op");
        Assert.True(fresh.IsCancellationRequested);
    }

    [Fact]
    public void Release_AnotherSwitchStillCovers_StaysBlocked()
    {
        var kill = new KillSwitch(_clock);
        kill.Engage(KillSwitchScope.Global, "incident", "op");
        kill.Engage(KillSwitchScope.Agent(Coder1.Agent), "bad", "op");

        kill.Release(KillSwitchScope.Agent(Coder1.Agent), "op");

        Assert.Equal(KillSwitchScope.Global, kill.IsBlocked(Coder1)!.Scope);
        Assert.True(kill.TokenFor(Coder1).IsCancellationRequested);
    }

    [Fact]
    public void Engage_NotifiesSubscribersOnceAndKeepsTheFirstReason()
    {
        var kill = new KillSwitch(_clock);
        var seen = new List<KillSwitchEngaged>();
        kill.Engaged += (_, e) => seen.Add(e);

        var first = kill.Engage(KillSwitchScope.Session("s-1"), "first", "alice");
        var second = kill.Engage(KillSwitchScope.Session("s-1"), "second", "bob");

        Assert.Null(second);
        Assert.Equal([first!], seen);
        Assert.Equal(("first", "alice"), (kill.IsBlocked(Coder1)!.Reason, kill.IsBlocked(Coder1)!.EngagedBy));
    }

    [Fact]
    public void Engage_SubscriberSeesTokenAlreadyCancelled()
    {
        var kill = new KillSwitch(_clock);
        var token = kill.TokenFor(Coder1);
        bool? cancelledWhenNotified = null;
        kill.Engaged += (_, _) => cancelledWhenNotified = token.IsCancellationRequested;

        kill.Engage(KillSwitchScope.Global, "stop", "op");

        Assert.True(cancelledWhenNotified);
    }

    [Fact]
    public void Release_NotEngaged_ReturnsNull() =>
        Assert.Null(new KillSwitch(_clock).Release(KillSwitchScope.Global, "op"));

    [Fact]
    public void Engage_RecorderThrows_NothingEngaged()
    {
        var kill = new KillSwitch(_clock, _ => throw new InvalidOperationException("store down"));
        var token = kill.TokenFor(Coder1);

        Assert.Throws<InvalidOperationException>(() => kill.Engage(KillSwitchScope.Global, "stop", "op"));

        Assert.Null(kill.IsBlocked(Coder1));
        Assert.False(token.IsCancellationRequested);
    }

    [Fact]
    public void Apply_ReplayedFacts_RebuildTheSameSwitches()
    {
        var facts = new List<KillSwitchFact>();
        var kill = new KillSwitch(_clock, facts.Add);
        kill.Engage(KillSwitchScope.Global, "incident", "op");
        kill.Engage(KillSwitchScope.Agent(Coder1.Agent), "bad", "op");
        kill.Engage(KillSwitchScope.Session("s-3"), "loop", "op");
        _clock.Advance(TimeSpan.FromMinutes(1));
        kill.Release(KillSwitchScope.Global, "op");

        var replayed = new KillSwitch(_clock);
        var token = replayed.TokenFor(Coder1);
        foreach (var fact in facts)
        {
            replayed.Apply(fact);
        }

        Assert.Equal(4, facts.Count);
        Assert.Equal(kill.EngagedSwitches, replayed.EngagedSwitches);
        Assert.Equal(kill.IsBlocked(Coder1), replayed.IsBlocked(Coder1));
        Assert.True(token.IsCancellationRequested);
    }

    [Fact]
    public void Engage_ConcurrentTokenRequests_NoTokenOutlivesTheSwitch()
    {
        // Whatever the interleaving, a token handed out for a covered session is cancelled once Engage returns.
        for (var round = 0; round < 50; round++)
        {
            var kill = new KillSwitch(_clock);
            var tokens = new System.Collections.Concurrent.ConcurrentBag<CancellationToken>();
            Parallel.Invoke(
                () => Parallel.For(0, 200, i => tokens.Add(kill.TokenFor(Coder1 with { SessionId = $"s-{i}" }))),
                () => kill.Engage(KillSwitchScope.Agent(Coder1.Agent), "stop", "op"));

            Assert.All(tokens, t => Assert.True(t.IsCancellationRequested));
        }
    }
}
