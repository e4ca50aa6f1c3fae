using Apiary.Agents;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Testing;

namespace Apiary.Tests.Governance.Budgets;

public sealed class BudgetLedgerTests
{
    private static readonly Principal Coder = new(AgentName.Parse("coder"), AgentRole.Worker, "s-1");
    private static readonly BudgetScope Agent = BudgetScope.Agent(Coder.Agent);
    private static readonly BudgetScope Session = BudgetScope.Session("s-1");
    private readonly ManualClock _clock = new(new DateTimeOffset(2025, 1, 15, 10, 30, 0, TimeSpan.Zero));

    private static BudgetAmounts Cost(decimal cost, long commands = 1) => new(commands, TimeSpan.FromSeconds(1), 10, cost);

    private static BudgetEstimate Ask(decimal cost, long commands = 1) => BudgetEstimate.Of(Cost(cost, commands));

    [Fact]
    public void TryReserve_WithinLimits_ChargesAgentAndSession()
    {
        var ledger = new BudgetLedger(_clock);
        ledger.SetLimits(Agent, new BudgetLimits(cost: 10m));
        ledger.SetLimits(Session, new BudgetLimits(cost: 1.50m));

        Assert.True(ledger.TryReserve(Coder, Ask(0.50m), out var reservation, out _));

        Assert.Equal([Agent, Session], reservation.Scopes);
        Assert.Equal(_clock.GetUtcNow(), reservation.At);
        Assert.Equal(Cost(0.50m), ledger.Usage(Agent).Reserved);
        Assert.Equal(Cost(0.50m), ledger.Usage(Session).Reserved);
        Assert.Equal(BudgetAmounts.Zero, ledger.Usage(Session).Spent);
    }

    [Fact]
    public void TryReserve_SessionLimitPassed_DeniesNamingLimitAndNumbers()
    {
        var ledger = new BudgetLedger(_clock);
        ledger.SetLimits(Session, new BudgetLimits(cost: 1.50m));
        Assert.True(ledger.TryReserve(Coder, Ask(1.20m), out _, out _));

        Assert.False(ledger.TryReserve(Coder, Ask(0.50m), out var reservation, out var denial));

        Assert.Null(reservation);
        Assert.Equal("session s-1: cost 1.20 reserved + 0.50 asked > 1.50 limit", denial.Reason);
        Assert.Equal((Session, BudgetDimension.Cost), (denial.Scope!.Value, denial.Dimension));
    }

    [Fact]
    public void TryReserve_AfterSpending_DenialShowsSpentAndReserved()
    {
        var ledger = new BudgetLedger(_clock);
        ledger.SetLimits(Agent, new BudgetLimits(commands: 3));
        Assert.True(ledger.TryReserve(Coder, Ask(0m, commands: 2), out var first, out _));
        ledger.Settle(first, Cost(0m, commands: 2));
        Assert.True(ledger.TryReserve(Coder, Ask(0m), out _, out _));

        Assert.False(ledger.TryReserve(Coder, Ask(0m), out _, out var denial));

        Assert.Equal("agent coder: commands 2 spent + 1 reserved + 1 asked > 3 limit", denial.Reason);
    }

    [Fact]
    public void TryReserve_WallTimeAndTokens_AreLimitedToo()
    {
        var ledger = new BudgetLedger(_clock);
        ledger.SetLimits(Session, new BudgetLimits(wallTime: TimeSpan.FromSeconds(90), tokens: 1000));

        Assert.False(ledger.TryReserve(Coder, new BudgetEstimate(1, TimeSpan.FromMinutes(2), 0, 0m), out _, out var time));
        Assert.False(ledger.TryReserve(Coder, new BudgetEstimate(1, TimeSpan.Zero, 1001, 0m), out _, out var tokens));

        Assert.Equal("session s-1: wall time 0s reserved + 120s asked > 90s limit", time.Reason);
        Assert.Equal("session s-1: tokens 0 reserved + 1001 asked > 1000 limit", tokens.Reason);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TryReserve_OneScopeShort_ReservesNothingAnywhere(bool agentShort)
    {
        var ledger = new BudgetLedger(_clock);
        ledger.SetLimits(Agent, new BudgetLimits(cost: agentShort ? 0.40m : 10m));
        ledger.SetLimits(Session, new BudgetLimits(cost: agentShort ? 10m : 0.40m));

        Assert.False(ledger.TryReserve(Coder, Ask(0.50m), out _, out var denial));

        Assert.Equal(agentShort ? Agent : Session, denial.Scope);
        Assert.Equal(BudgetAmounts.Zero, ledger.Usage(Agent).Reserved);
        Assert.Equal(BudgetAmounts.Zero, ledger.Usage(Session).Reserved);
        Assert.Empty(ledger.OpenReservations);
    }

    [Fact]
    public void TryReserve_UnknownAmount_DeniedAsUnpriced()
    {
        var ledger = new BudgetLedger(_clock);

        Assert.False(ledger.TryReserve(Coder, new BudgetEstimate(1, TimeSpan.FromSeconds(5), null, null), out _, out var denial));

        Assert.Null(denial.Scope);
        Assert.Equal(BudgetDimension.Tokens, denial.Dimension);
        Assert.Equal("the proposal cannot be priced: tokens, cost unknown", denial.Reason);
        Assert.Empty(ledger.OpenReservations);
    }

    [Fact]
    public void TryReserve_NoLimitsSet_IsUnlimited()
    {
        var ledger = new BudgetLedger(_clock);

        Assert.True(ledger.TryReserve(Coder, Ask(1_000_000m, commands: 1_000_000), out _, out _));
    }

    [Fact]
    public void TryReserve_ZeroLimit_AllowsNothing()
    {
        var ledger = new BudgetLedger(_clock);
        ledger.SetLimits(Session, new BudgetLimits(cost: 0m));

        Assert.False(ledger.TryReserve(Coder, Ask(0.01m), out _, out _));
        Assert.True(ledger.TryReserve(Coder, Ask(0m), out _, out _));
    }

    [Fact]
    public void Settle_LowerActual_FreesTheDifference()
    {
        var ledger = new BudgetLedger(_clock);
        ledger.SetLimits(Session, new BudgetLimits(cost: 1.00m));
        Assert.True(ledger.TryReserve(Coder, Ask(1.00m), out var reservation, out _));

        var settled = ledger.Settle(reservation, Cost(0.30m));

        Assert.NotNull(settled);
        Assert.Equal((Cost(1.00m), Cost(0.30m)), (settled.Reserved, settled.Actual));
        Assert.Equal(Cost(0.30m), ledger.Usage(Session).Spent);
        Assert.Equal(BudgetAmounts.Zero, ledger.Usage(Session).Reserved);
        Assert.True(ledger.TryReserve(Coder, Ask(0.70m), out _, out _));
    }

    [Fact]
    public void Settle_HigherActual_RecordedPastTheLimitAndNextReserveSeesIt()
    {
        var ledger = new BudgetLedger(_clock);
        ledger.SetLimits(Session, new BudgetLimits(cost: 1.00m));
        Assert.True(ledger.TryReserve(Coder, Ask(0.50m), out var reservation, out _));

        ledger.Settle(reservation, Cost(1.25m));

        Assert.Equal(1.25m, ledger.Usage(Session).Spent.Cost);
        Assert.Equal(1.25m, ledger.Usage(Agent).Spent.Cost);
        Assert.False(ledger.TryReserve(Coder, Ask(0m), out _, out var denial));
        Assert.Equal("session s-1: cost 1.25 spent + 0.00 reserved + 0.00 asked > 1.00 limit", denial.Reason);
    }

    [Fact]
    public void Release_ReturnsTheReservationWhole()
    {
        var ledger = new BudgetLedger(_clock);
        ledger.SetLimits(Session, new BudgetLimits(cost: 1.00m));
        Assert.True(ledger.TryReserve(Coder, Ask(0.80m), out var reservation, out _));

        Assert.NotNull(ledger.Release(reservation));

        Assert.Equal(new BudgetUsage(new BudgetLimits(cost: 1.00m), BudgetAmounts.Zero, BudgetAmounts.Zero), ledger.Usage(Session));
        Assert.True(ledger.TryReserve(Coder, Ask(1.00m), out _, out _));
    }

    [Fact]
    public void SettleOrRelease_NotOpen_ReturnsNullAndChangesNothing()
    {
        var ledger = new BudgetLedger(_clock);
        Assert.True(ledger.TryReserve(Coder, Ask(0.80m), out var reservation, out _));
        ledger.Settle(reservation, Cost(0.10m));

        Assert.Null(ledger.Settle(reservation, Cost(0.50m)));
        Assert.Null(ledger.Release(reservation));
        Assert.Equal(0.10m, ledger.Usage(Session).Spent.Cost);
    }

    [Fact]
    public void Amounts_Negative_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new BudgetAmounts(0, TimeSpan.Zero, 0, -0.01m));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BudgetLimits(commands: -1));
    }

    [Fact]
    public void Amounts_NegativeZeroCost_IsZero() =>
        Assert.Equal(BudgetAmounts.Zero, new BudgetAmounts(0, TimeSpan.Zero, 0, decimal.Negate(0.00m)));

    [Fact]
    public void Apply_ReplayedFacts_RebuildTheSameState()
    {
        var facts = new List<BudgetFact>();
        var ledger = new BudgetLedger(_clock, facts.Add);
        ledger.SetLimits(Agent, new BudgetLimits(cost: 5m, commands: 10));
        ledger.SetLimits(Session, new BudgetLimits(cost: 2m));
        Assert.True(ledger.TryReserve(Coder, Ask(0.50m), out var a, out _));
        Assert.True(ledger.TryReserve(Coder, Ask(0.70m), out var b, out _));
        Assert.True(ledger.TryReserve([Agent], Ask(1.00m), out _, out _));
        ledger.Settle(a, Cost(0.90m));
        ledger.Release(b);
        Assert.True(ledger.TryReserve(Coder, Ask(0.25m), out _, out _));
        Assert.False(ledger.TryReserve(Coder, Ask(5m), out _, out _));

        var replayed = new BudgetLedger(_clock);
        foreach (var fact in facts)
        {
            replayed.Apply(fact);
        }

        Assert.Equal(
            [typeof(BudgetLimitsSet), typeof(BudgetLimitsSet), typeof(BudgetReserved), typeof(BudgetReserved), typeof(BudgetReserved), typeof(BudgetSettled), typeof(BudgetReleased), typeof(BudgetReserved)],
            facts.Select(f => f.GetType()));
        Assert.Equal(ledger.Usage(Agent), replayed.Usage(Agent));
        Assert.Equal(ledger.Usage(Session), replayed.Usage(Session));
        Assert.Equivalent(ledger.OpenReservations, replayed.OpenReservations, strict: true);
    }

    [Fact]
    public void TryReserve_RecorderThrows_StateUnchanged()
    {
        var ledger = new BudgetLedger(_clock, f => throw new InvalidOperationException("store down"));

        Assert.Throws<InvalidOperationException>(() => ledger.TryReserve(Coder, Ask(1m), out _, out _));

        Assert.Empty(ledger.OpenReservations);
        Assert.Equal(BudgetAmounts.Zero, ledger.Usage(Session).Reserved);
    }

    [Fact]
    public void TryReserve_ManyConcurrentReservers_GrantExactlyTheLimit()
    {
        var ledger = new BudgetLedger(_clock);
        ledger.SetLimits(Session, new BudgetLimits(commands: 100));
        var granted = 0;

        Parallel.For(0, 1000, new ParallelOptions { MaxDegreeOfParallelism = 16 }, i =>
        {
            if (ledger.TryReserve(Coder, Ask(0m), out _, out _))
            {
                Interlocked.Increment(ref granted);
            }
        });

        Assert.Equal(100, granted);
        Assert.Equal(100, ledger.Usage(Session).Reserved.Commands);
        Assert.Equal(100, ledger.Usage(Agent).Reserved.Commands);
    }

    [Fact]
    public async Task Ledger_ConcurrentReserveSettleRelease_NeverPassesALimitOrGoesNegative()
    {
        var ledger = new BudgetLedger(_clock);
        var agentLimit = 10.00m;
        var sessionLimit = 3.00m;
        var principals = Enumerable.Range(0, 4).Select(i => Coder with { SessionId = $"s-{i}" }).ToArray();
        ledger.SetLimits(Agent, new BudgetLimits(cost: agentLimit));
        foreach (var p in principals)
        {
            ledger.SetLimits(BudgetScope.Session(p.SessionId), new BudgetLimits(cost: sessionLimit));
        }

        var settledTotal = 0m;
        var settledLock = new Lock();
        var violations = 0;
        using var done = new CancellationTokenSource();
        void Observe()
        {
            while (!done.IsCancellationRequested)
            {
                // Usage is read under the ledger's lock, so each read is a consistent snapshot of one scope.
                if (ledger.Usage(Agent).Used.Cost > agentLimit
                    || principals.Any(p => ledger.Usage(BudgetScope.Session(p.SessionId)).Used.Cost > sessionLimit))
                {
                    Interlocked.Increment(ref violations);
                }
            }
        }

        var observer = Task.Run(Observe, TestContext.Current.CancellationToken);

        Parallel.For(0, 4000, new ParallelOptions { MaxDegreeOfParallelism = 16 }, i =>
        {
            var random = new Random(i);
            var principal = principals[i % principals.Length];
            var ask = random.Next(1, 100) / 100m;
            if (!ledger.TryReserve(principal, Ask(ask), out var reservation, out _))
            {
                return;
            }

            if (random.Next(3) == 0)
            {
                Assert.NotNull(ledger.Release(reservation));
                return;
            }

            // Actual never above the reservation here, so nothing may ever pass a limit.
            var actual = Math.Round(ask * random.Next(0, 101) / 100m, 2);
            Assert.NotNull(ledger.Settle(reservation, Cost(actual)));
            lock (settledLock)
            {
                settledTotal += actual;
            }
        });
        done.Cancel();
        await observer;

        Assert.Equal(0, violations);
        Assert.Empty(ledger.OpenReservations);
        var agent = ledger.Usage(Agent);
        Assert.Equal(BudgetAmounts.Zero.Cost, agent.Reserved.Cost);
        Assert.Equal(settledTotal, agent.Spent.Cost);
        Assert.True(agent.Spent.Cost <= agentLimit);
        Assert.Equal(agent.Spent.Cost, principals.Sum(p => ledger.Usage(BudgetScope.Session(p.SessionId)).Spent.Cost));
    }
}
