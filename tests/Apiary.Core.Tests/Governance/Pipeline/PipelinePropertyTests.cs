using System.Collections.Concurrent;
using System.Text;
using Apiary.Agents;
using Apiary.Events;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;
using Apiary.Governance.Pipeline;
using Apiary.Storage.Sqlite;
using Apiary.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace Apiary.Tests.Governance.Pipeline;

/// <summary>
/// Random rule sets, evaluators, approvals, store outages and concurrent callers sent through the whole
/// <see cref="GovernancePipeline"/> over a real SQLite store, checked against a small model written independently of
/// the engine: rules here only match on kind and on the program name (literal or glob), so the first match can be
/// worked out by hand.
/// </summary>
public sealed class PipelinePropertyTests : IAsyncLifetime
{
    private const string AnchorRule = "anchor";

    private static readonly DateTimeOffset Start = new(2025, 1, 15, 10, 30, 0, TimeSpan.Zero);

    private static readonly string[] TierNames = ["allow", "approve", "deny", "steer"];

    private static readonly GovernancePipelineOptions Options = new() { LockWait = TimeSpan.Zero };

    private static readonly BudgetEstimate OneCommand = new(1, TimeSpan.FromSeconds(1), 0, 0m);

    // A top-priority approve rule for a command no generated proposal uses: its session approval is the standing
    // approval "for another rule" that must not let a denied proposal through.
    private static readonly string AnchorYaml = GovernanceTestData.Rules(
        GovernanceTestData.Rule(AnchorRule, 100, "{ kind: exec, command: deploy }", tier: "approve"));

    private static readonly Gen<RuleSpec> Rule =
        from kinds in Gen.Elements<string?>(null, null, "exec", "read_file", "write_file", "exec, write_file")
        from command in Gen.Elements<string?>(null, null, "ls", "rm", "git", "l*", "*s", "r?", "*")
        from tier in Gen.Choose(0, 3)
        from priority in Gen.Choose(0, 4)
        from file in Gen.Elements("a.yaml", "b.yaml")
        select new RuleSpec(kinds, command, (PolicyTier)tier, priority, file);

    private static readonly Gen<ProposalSpec> Proposals = Gen.OneOf(
        from command in Gen.Elements("ls", "rm", "git", "lsof", "rmdir", "/usr/bin/rm", "/bin/ls", "/opt/x/rm")
        from args in Gen.Elements("", "-la", "-rf x", "push origin")
        select new ProposalSpec("exec", command, args),
        Gen.Elements(new ProposalSpec("read_file", null, "src/a.txt"), new ProposalSpec("write_file", null, "src/a.txt")));

    // Half the cases get a deny rule planted that matches the proposal, at a random priority, file and position, so
    // that a deny matching first is common and often sits among other rules that match it too.
    private static readonly Gen<DecideCase> DecideCases =
        from count in Gen.Choose(0, 10)
        from generated in Gen.ArrayOf(Rule, count)
        from proposal in Proposals
        from plant in Gen.Elements(false, true)
        from plantAt in Gen.Choose(0, count)
        from plantPriority in Gen.Choose(0, 4)
        from plantFile in Gen.Elements("a.yaml", "b.yaml")
        let planted = new RuleSpec(proposal.Kind, proposal.Command, PolicyTier.Deny, plantPriority, plantFile)
        let rules = plant ? [.. generated[..plantAt], planted, .. generated[plantAt..]] : generated
        from verdicts in Gen.Choose(0, 3).SelectMany(n => Gen.ArrayOf(
            Gen.Frequency((6, Gen.Constant(EvaluatorVerdictKind.Pass)), (1, Gen.Constant(EvaluatorVerdictKind.Escalate)), (1, Gen.Constant(EvaluatorVerdictKind.Deny))), n))
        from standing in Gen.Elements(false, true)
        from kill in Gen.Elements(KillCase.None, KillCase.None, KillCase.OtherSession, KillCase.ThisSession)
        select new DecideCase(rules, proposal, verdicts, standing, kill);

    private static readonly Gen<RecordCase> RecordCases =
        from count in Gen.Choose(1, 8)
        from rules in Gen.ArrayOf(
            Rule.SelectMany(r => Gen.Frequency((3, Gen.Constant(PolicyTier.Allow)), (3, Gen.Constant(PolicyTier.Approve)), (1, Gen.Constant(PolicyTier.Deny)))
                .Select(t => r with { Tier = t })),
            count)
        from steps in Gen.Choose(1, 12).SelectMany(n => Gen.ArrayOf(
            from proposal in Proposals
            from storeDown in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
            from answer in Gen.Elements(Answer.None, Answer.Once, Answer.Session)
            from resumeStoreDown in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
            from complete in Gen.Elements(false, true)
            select new Step(proposal, storeDown, answer, resumeStoreDown, complete),
            n))
        select new RecordCase(rules, steps);

    private static readonly Gen<BudgetLimits> Limits =
        from commands in Maybe(Gen.Choose(0, 4))
        from wall in Maybe(Gen.Choose(0, 12))
        from tokens in Maybe(Gen.Choose(0, 400))
        from cost in Maybe(Gen.Choose(0, 8))
        select new BudgetLimits(commands, Seconds(wall), tokens, cost * 0.25m);

    private static readonly Gen<BudgetCase> BudgetCases =
        from agentCommands in Gen.Choose(0, 6)
        from agentOther in Limits
        from sessions in Gen.Choose(1, 3)
        from sessionLimits in Gen.ArrayOf(Limits, sessions)
        from workers in Gen.Choose(4, 40).SelectMany(n => Gen.ArrayOf(
            from session in Gen.Choose(0, sessions - 1)
            from proposal in Gen.Elements(
                new ProposalSpec("exec", "ls", ""),
                new ProposalSpec("exec", "git", "push"),
                new ProposalSpec("exec", "rm", "-rf x"),
                new ProposalSpec("write_file", null, "src/0.txt"),
                new ProposalSpec("write_file", null, "src/1.txt"))
            from wall in Gen.Choose(0, 3)
            from tokens in Gen.Choose(0, 4)
            from cost in Gen.Choose(0, 2)
            from answer in Gen.Elements(Answer.None, Answer.Once, Answer.Session)
            from complete in Gen.Elements(false, true, true)
            from halfUsed in Gen.Elements(false, true)
            select new Worker(session, proposal, new BudgetAmounts(1, TimeSpan.FromSeconds(wall), tokens * 50, cost * 0.25m), answer, complete, halfUsed),
            n))
        select new BudgetCase(
            new BudgetLimits(agentCommands, agentOther.WallTime, agentOther.Tokens, agentOther.Cost),
            sessionLimits,
            workers);

    private readonly TempDirectory _dir = new("apiary-pipeline-props");
    private readonly CancellationToken _ct = TestContext.Current.CancellationToken;
    private SqliteEventStore _store = null!;

    private enum KillCase
    {
        None,
        OtherSession,
        ThisSession,
    }

    private enum Answer
    {
        None,
        Once,
        Session,
    }

    public async ValueTask InitializeAsync() =>
        _store = await SqliteEventStore.OpenAsync(_dir["events.db"], cancellationToken: _ct);

    public async ValueTask DisposeAsync()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task SubmitAsync_DenyRuleIsFirstToMatch_NeverAllows()
    {
        var premiseHeld = 0;
        await CheckAsync(150, DecideCases, async c =>
        {
            var run = await DecideAsync(c);
            if (FirstMatch(c.Rules, c.Proposal) is not { } first || c.Rules[first].Tier != PolicyTier.Deny)
            {
                return;
            }

            Interlocked.Increment(ref premiseHeld);
            Assert.False(run.Result.IsAllowed, $"allowed although deny rule r{first} matches first: {run.Result.Decision}");
            Assert.Null(run.Result.Allowed);
            Assert.Equal(DecisionKind.Deny, run.Result.Decision.Kind);
            Assert.Equal(c.Kill == KillCase.ThisSession ? GovernancePipeline.KillSwitchRule : $"r{first}", run.Result.Decision.Rule);
            Assert.Equal(0, run.HeldAfter);
        });

        // The premise must not be rare, or the property proves little.
        Assert.True(premiseHeld >= 30, $"only {premiseHeld} cases had a deny rule matching first");
    }

    [Fact]
    public async Task SubmitAsync_RandomRulesEvaluatorsAndSwitches_DecidesAsModelled()
    {
        await CheckAsync(150, DecideCases, async c =>
        {
            var run = await DecideAsync(c);
            var (kind, stage, rule) = Expected(c);

            Assert.Equal((kind, stage, rule), (run.Result.Decision.Kind, run.Result.Stage, run.Result.Decision.Rule));
            Assert.Equal(kind == DecisionKind.Allow, run.Result.IsAllowed);
            Assert.Equal(kind == DecisionKind.Pending, run.Result.Ticket is not null);
            Assert.Equal(kind == DecisionKind.Allow ? 1 : 0, run.HeldAfter);
        });
    }

    [Fact]
    public async Task SubmitAsync_EveryAllow_IsCommittedAsDecidedAllowBeforeItReturns()
    {
        var allowedSeen = 0;
        await CheckAsync(150, RecordCases, async c =>
        {
            var clock = new ManualClock(Start);
            var store = new FailingStore(_store);
            var budgets = new BudgetLedger(clock);
            var pipeline = new GovernancePipeline(store, new PolicyEngine(Compile(c.Rules), time: clock), budgets, new LockTable(clock), new KillSwitch(clock), Options, clock);
            var session = NewSession();
            var allowed = new List<string>();
            var open = 0;
            foreach (var step in c.Steps)
            {
                var proposal = step.Proposal.For(session);
                store.FailAppends = step.StoreDown;
                var result = await pipeline.SubmitAsync(proposal, OneCommand, _ct);
                store.FailAppends = false;
                Assert.False(step.StoreDown && result.IsAllowed, "allowed while the store could not record");
                if (result.Ticket is { } ticket && step.Answer != Answer.None)
                {
                    await pipeline.ApproveAsync(ticket.Id, step.Answer == Answer.Session ? ApprovalScope.Session : ApprovalScope.Once, "operator", _ct);
                    store.FailAppends = step.ResumeStoreDown;
                    result = await pipeline.ResumeAsync(ticket.Id, _ct);
                    store.FailAppends = false;
                    Assert.False(step.ResumeStoreDown && result.IsAllowed, "resumed while the store could not record");
                }

                if (result.IsAllowed)
                {
                    // Read before anything else happens: the allow must already be in the store.
                    await AssertAllowCommittedAsync(session, proposal, result);
                    allowed.Add(proposal.Id.ToString());
                    Interlocked.Increment(ref allowedSeen);
                    if (step.Complete)
                    {
                        await pipeline.CompleteAsync(result.Allowed!, new ProposalOutcome(0, "exited", TimeSpan.FromSeconds(1)), new BudgetAmounts(1, TimeSpan.FromSeconds(1), 0, 0m), cancellationToken: _ct);
                    }
                    else
                    {
                        open++;
                    }
                }
            }

            // And the converse: nothing is recorded as allowed that the caller was not handed, and nothing refused holds budget.
            var recorded = (await DecisionsAsync(session)).Where(r => r.Decision == "allow").Select(r => r.ProposalId);
            Assert.Equal(allowed.Order(StringComparer.Ordinal), recorded.Order(StringComparer.Ordinal));
            Assert.Equal(open, budgets.OpenReservations.Count);
        });

        Assert.True(allowedSeen >= 50, $"only {allowedSeen} proposals were allowed in all cases");
    }

    [Fact]
    public async Task SubmitAndCompleteAsync_ConcurrentCallers_NeverOverspendSmallBudgets()
    {
        var budgetDenials = 0;
        await CheckAsync(100, BudgetCases, async c =>
        {
            var clock = new ManualClock(Start);

            // The ledger hands every change to its recorder under its lock, so this list is every state it went through, in order.
            var facts = new List<BudgetFact>();
            var budgets = new BudgetLedger(clock, facts.Add);
            var pipeline = new GovernancePipeline(
                _store, new PolicyEngine(GovernanceTestData.Load(PipelineFixture.Policy), time: clock), budgets, new LockTable(clock), new KillSwitch(clock), Options, clock);
            var sessions = c.SessionLimits.Select(_ => NewSession()).ToArray();
            var agentScope = BudgetScope.Agent(AgentName.Parse("coder"));
            var limits = new Dictionary<BudgetScope, BudgetLimits> { [agentScope] = c.AgentLimits };
            for (var i = 0; i < sessions.Length; i++)
            {
                limits[BudgetScope.Session(sessions[i])] = c.SessionLimits[i];
            }

            foreach (var (scope, limit) in limits)
            {
                budgets.SetLimits(scope, limit);
            }

            var outcomes = new ConcurrentBag<(Worker Worker, BudgetAmounts Held, bool Completed)>();
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var workers = c.Workers.Select(w => Task.Run(async () =>
            {
                await go.Task;
                var session = sessions[w.Session];
                var proposal = w.Proposal.For(session);
                var result = await pipeline.SubmitAsync(proposal, BudgetEstimate.Of(w.Estimate), _ct);
                if (result.Ticket is { } ticket && w.Answer != Answer.None)
                {
                    await pipeline.ApproveAsync(ticket.Id, w.Answer == Answer.Session ? ApprovalScope.Session : ApprovalScope.Once, "operator", _ct);
                    result = await pipeline.ResumeAsync(ticket.Id, _ct);
                }

                // Looks at the ledger in the middle of the race too, not only once it is over.
                AssertWithinLimits(budgets, limits);
                if (result.Stage == PipelineStage.Budget)
                {
                    Interlocked.Increment(ref budgetDenials);
                }

                if (!result.IsAllowed)
                {
                    return;
                }

                await AssertAllowCommittedAsync(session, proposal, result);
                if (w.Complete)
                {
                    var used = w.HalfUsed
                        ? new BudgetAmounts(1, w.Estimate.WallTime / 2, w.Estimate.Tokens / 2, w.Estimate.Cost / 2)
                        : w.Estimate;
                    await pipeline.CompleteAsync(result.Allowed!, new ProposalOutcome(0, "exited", used.WallTime), used, cancellationToken: _ct);
                    AssertWithinLimits(budgets, limits);
                    outcomes.Add((w, used, true));
                }
                else
                {
                    outcomes.Add((w, w.Estimate, false));
                }
            }, _ct)).ToArray();

            go.SetResult();
            await Task.WhenAll(workers);

            AssertWithinLimits(budgets, limits);
            AssertEveryStateWithinLimits(facts, budgets, limits);
            Assert.True(outcomes.Count <= c.AgentLimits.Commands, $"{outcomes.Count} allowed with a limit of {c.AgentLimits.Commands} commands");
            for (var i = 0; i < sessions.Length; i++)
            {
                var inSession = outcomes.Count(o => o.Worker.Session == i);
                Assert.True(c.SessionLimits[i].Commands is not { } l || inSession <= l, $"session {i}: {inSession} allowed with a limit of {c.SessionLimits[i].Commands} commands");
                AssertAccounted(budgets.Usage(BudgetScope.Session(sessions[i])), outcomes.Where(o => o.Worker.Session == i));
            }

            AssertAccounted(budgets.Usage(agentScope), outcomes);
            Assert.Equal(outcomes.Count(o => !o.Completed), budgets.OpenReservations.Count);
        });

        Assert.True(budgetDenials >= 20, $"only {budgetDenials} proposals were refused by a budget in all cases");
    }

    private static async Task CheckAsync<T>(int cases, Gen<T> gen, Func<T, Task> property) =>
        // Off the test's synchronization context, so that blocking on each case cannot deadlock.
        await Task.Run(() => Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(cases),
            Prop.ForAll(gen.ToArbitrary(), (T c) =>
            {
                property(c).GetAwaiter().GetResult();
                return true;
            })));

    private async Task<DecideRun> DecideAsync(DecideCase c)
    {
        var clock = new ManualClock(Start);
        var evaluators = c.Verdicts.Select((v, i) => new FixedEvaluator($"e{i}", v));
        var budgets = new BudgetLedger(clock);
        var killSwitch = new KillSwitch(clock);
        var pipeline = new GovernancePipeline(_store, new PolicyEngine(Compile(c.Rules), evaluators, time: clock), budgets, new LockTable(clock), killSwitch, Options, clock);
        var session = NewSession();
        if (c.Standing)
        {
            var ticket = (await pipeline.SubmitAsync(Exec(session, "deploy"), OneCommand, _ct)).Ticket;
            Assert.NotNull(ticket);
            Assert.Equal(ApprovalState.Granted, (await pipeline.ApproveAsync(ticket.Id, ApprovalScope.Session, "operator", _ct)).State);
        }

        if (c.Kill != KillCase.None)
        {
            killSwitch.Engage(KillSwitchScope.Session(c.Kill == KillCase.ThisSession ? session : NewSession()), "runaway loop", "operator");
        }

        var result = await pipeline.SubmitAsync(c.Proposal.For(session), OneCommand, _ct);
        var held = budgets.OpenReservations.Count;
        if (c.Standing && c.Kill != KillCase.ThisSession)
        {
            // The standing approval was there, and usable, all along.
            Assert.True((await pipeline.SubmitAsync(Exec(session, "deploy"), OneCommand, _ct)).IsAllowed, "the session approval did not stand");
        }

        return new DecideRun(result, held);
    }

    // The model: kill switch, then the first matching rule's tier, then the evaluators (any deny denies, any
    // escalation turns an allow into a ticket), then an unlimited budget.
    private static (DecisionKind Kind, PipelineStage Stage, string Rule) Expected(DecideCase c)
    {
        if (c.Kill == KillCase.ThisSession)
        {
            return (DecisionKind.Deny, PipelineStage.KillSwitch, GovernancePipeline.KillSwitchRule);
        }

        if (FirstMatch(c.Rules, c.Proposal) is not { } first)
        {
            return (DecisionKind.Deny, PipelineStage.Policy, Policy.DefaultDenyRule);
        }

        var name = $"r{first}";
        return c.Rules[first].Tier switch
        {
            PolicyTier.Deny => (DecisionKind.Deny, PipelineStage.Policy, name),
            PolicyTier.Steer => (DecisionKind.Steer, PipelineStage.Policy, name),
            _ when c.Verdicts.Contains(EvaluatorVerdictKind.Deny) => (DecisionKind.Deny, PipelineStage.Policy, name),
            PolicyTier.Approve => (DecisionKind.Pending, PipelineStage.Approval, name),
            _ when c.Verdicts.Contains(EvaluatorVerdictKind.Escalate) => (DecisionKind.Pending, PipelineStage.Approval, name),
            _ => (DecisionKind.Allow, PipelineStage.Policy, name),
        };
    }

    // The documented order, worked out here: priority (highest first), then file name (ordinal), then position.
    private static int? FirstMatch(RuleSpec[] rules, ProposalSpec proposal) =>
        rules
            .Select((r, i) => (Rule: r, Index: i))
            .Where(x => x.Rule.Matches(proposal))
            .OrderByDescending(x => x.Rule.Priority)
            .ThenBy(x => x.Rule.File, StringComparer.Ordinal)
            .ThenBy(x => x.Index)
            .Select(x => (int?)x.Index)
            .FirstOrDefault();

    private async Task AssertAllowCommittedAsync(string session, Proposal proposal, GovernanceResult result)
    {
        var decisions = await DecisionsAsync(session);
        var allow = Assert.Single(decisions, r => r.ProposalId == proposal.Id.ToString() && r.Decision == "allow");
        Assert.Equal(proposal.Hash, allow.Hash);
        Assert.Equal(result.Decision.Rule, allow.Rule);
        Assert.Equal(result.Allowed!.Reservation.Id.ToString(), allow.ReservationId);
        Assert.Equal(result.Allowed.Lease?.Id.ToString(), allow.LeaseId);
    }

    private async Task<List<DecisionRecord>> DecisionsAsync(string session)
    {
        var decisions = new List<DecisionRecord>();
        await foreach (var e in _store.ReadStreamAsync("session-" + session, 1, _ct))
        {
            if (e.Type == PipelineEventTypes.ProposalDecided)
            {
                decisions.Add(PipelineRecords.ReadDecision(e));
            }
        }

        return decisions;
    }

    private static void AssertWithinLimits(BudgetLedger budgets, Dictionary<BudgetScope, BudgetLimits> limits)
    {
        foreach (var (scope, limit) in limits)
        {
            var usage = budgets.Usage(scope);
            foreach (var dimension in Enum.GetValues<BudgetDimension>())
            {
                var spent = usage.Spent.Get(dimension);
                var reserved = usage.Reserved.Get(dimension);
                Assert.True(spent >= 0 && reserved >= 0, $"{scope} {dimension}: spent {spent}, reserved {reserved}");
                Assert.True(limit.Get(dimension) is not { } max || spent + reserved <= max, $"{scope} {dimension}: spent {spent} + reserved {reserved} > limit {limit.Get(dimension)}");
            }
        }
    }

    // Folds the ledger's facts in the order it made them: no state in between may pass a limit or go negative (the
    // amounts cannot hold a negative value, so a subtraction below zero throws), and the last must be the ledger's.
    private static void AssertEveryStateWithinLimits(List<BudgetFact> facts, BudgetLedger budgets, Dictionary<BudgetScope, BudgetLimits> limits)
    {
        var open = new Dictionary<BudgetReservationId, IReadOnlyList<BudgetScope>>();
        var used = limits.Keys.ToDictionary(s => s, _ => BudgetAmounts.Zero);
        for (var i = 0; i < facts.Count; i++)
        {
            IReadOnlyList<BudgetScope> scopes;
            switch (facts[i])
            {
                case BudgetReserved reserved:
                    open.Add(reserved.Reservation, scopes = reserved.Scopes);
                    Change(scopes, u => u.Add(reserved.Amounts));
                    break;
                case BudgetSettled settled:
                    Assert.True(open.Remove(settled.Reservation, out scopes!), $"fact {i} settles a reservation that is not open");
                    Change(scopes, u => u.Subtract(settled.Reserved).Add(settled.Actual));
                    break;
                case BudgetReleased released:
                    Assert.True(open.Remove(released.Reservation, out scopes!), $"fact {i} releases a reservation that is not open");
                    Change(scopes, u => u.Subtract(released.Reserved));
                    break;
                default:
                    scopes = [];
                    break;
            }

            foreach (var scope in scopes)
            {
                foreach (var dimension in Enum.GetValues<BudgetDimension>())
                {
                    Assert.True(
                        limits[scope].Get(dimension) is not { } max || used[scope].Get(dimension) <= max,
                        $"after fact {i} ({facts[i].GetType().Name}), {scope} {dimension}: {used[scope].Get(dimension)} used > limit {limits[scope].Get(dimension)}");
                }
            }
        }

        foreach (var (scope, amounts) in used)
        {
            Assert.Equal(budgets.Usage(scope).Used, amounts);
        }

        void Change(IReadOnlyList<BudgetScope> scopes, Func<BudgetAmounts, BudgetAmounts> change)
        {
            foreach (var scope in scopes)
            {
                used[scope] = change(used[scope]);
            }
        }
    }

    // Every allowed proposal holds its estimate until completed, then what it used; nothing else is held or spent.
    private static void AssertAccounted(BudgetUsage usage, IEnumerable<(Worker Worker, BudgetAmounts Held, bool Completed)> outcomes)
    {
        var list = outcomes.ToList();
        Assert.Equal(Sum(list.Where(o => o.Completed).Select(o => o.Held)), usage.Spent);
        Assert.Equal(Sum(list.Where(o => !o.Completed).Select(o => o.Held)), usage.Reserved);
    }

    private static BudgetAmounts Sum(IEnumerable<BudgetAmounts> amounts) => amounts.Aggregate(BudgetAmounts.Zero, (a, b) => a.Add(b));

    private static Policy Compile(RuleSpec[] rules)
    {
        var files = new SortedDictionary<string, StringBuilder>(StringComparer.Ordinal);
        for (var i = 0; i < rules.Length; i++)
        {
            var rule = rules[i];
            var text = files.TryGetValue(rule.File, out var existing) ? existing : files[rule.File] = new StringBuilder("rules:\n");
            text.Append(GovernanceTestData.Rule($"r{i}", rule.Priority, rule.MatchYaml, TierNames[(int)rule.Tier])).Append('\n');
        }

        var sources = files.Select(f => new PolicySource(f.Key, f.Value.ToString())).Append(new PolicySource("anchor.yaml", AnchorYaml));
        var result = PolicyLoader.Parse(sources);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        return result.Policy!;
    }

    private static string NewSession() => "s-" + Guid.NewGuid().ToString("N");

    private static Proposal Exec(string session, string command, params string[] args) =>
        Proposal.Exec(new Principal(AgentName.Parse("coder"), AgentRole.Worker, session), GovernanceTestData.Workspace, command, args);

    private static Gen<int?> Maybe(Gen<int> gen) => Gen.OneOf(Gen.Constant<int?>(null), gen.Select(v => (int?)v));

    private static TimeSpan? Seconds(int? seconds) => seconds is { } s ? TimeSpan.FromSeconds(s) : null;

    /// <summary>The result of the case's proposal, and how many reservations were open right after it.</summary>
    private sealed record DecideRun(GovernanceResult Result, int HeldAfter);

    private sealed record DecideCase(RuleSpec[] Rules, ProposalSpec Proposal, EvaluatorVerdictKind[] Verdicts, bool Standing, KillCase Kill)
    {
        public override string ToString() =>
            $"rules [{string.Join("; ", Rules.Select((r, i) => $"r{i} {r}"))}], proposal {Proposal}, evaluators [{string.Join(", ", Verdicts)}], standing {Standing}, kill {Kill}";
    }

    private sealed record Step(ProposalSpec Proposal, bool StoreDown, Answer Answer, bool ResumeStoreDown, bool Complete);

    private sealed record RecordCase(RuleSpec[] Rules, Step[] Steps)
    {
        public override string ToString() =>
            $"rules [{string.Join("; ", Rules.Select((r, i) => $"r{i} {r}"))}], steps [{string.Join("; ", Steps.Select(s => s.ToString()))}]";
    }

    private sealed record Worker(int Session, ProposalSpec Proposal, BudgetAmounts Estimate, Answer Answer, bool Complete, bool HalfUsed);

    private sealed record BudgetCase(BudgetLimits AgentLimits, BudgetLimits[] SessionLimits, Worker[] Workers)
    {
        public override string ToString() =>
            $"agent {AgentLimits}, sessions [{string.Join("; ", SessionLimits.Select(l => l.ToString()))}], workers [{string.Join("; ", Workers.Select(w => w.ToString()))}]";
    }

    /// <summary>A generated rule: an optional kind list and an optional program pattern.</summary>
    private sealed record RuleSpec(string? Kinds, string? Command, PolicyTier Tier, int Priority, string File)
    {
        public string MatchYaml =>
            "{ " + string.Join(", ", new[] { Kinds is null ? null : $"kind: [{Kinds}]", Command is null ? null : $"command: '{Command}'" }.OfType<string>()) + " }";

        // The documented semantics, written independently of the engine: a command pattern matches the program name
        // (the command less a system bin folder) or the command as given.
        public bool Matches(ProposalSpec proposal) =>
            (Kinds is null || Kinds.Split(", ").Contains(proposal.Kind))
            && (Command is null || (proposal.Command is { } command && (Glob(Command, ProgramOf(command)) || Glob(Command, command))));

        public override string ToString() => $"{Tier} p{Priority} {File} {MatchYaml}";

        private static string ProgramOf(string command) =>
            command.StartsWith("/usr/bin/", StringComparison.Ordinal) ? command["/usr/bin/".Length..]
            : command.StartsWith("/bin/", StringComparison.Ordinal) ? command["/bin/".Length..]
            : command;

        private static bool Glob(ReadOnlySpan<char> pattern, ReadOnlySpan<char> value) =>
            pattern.IsEmpty ? value.IsEmpty
            : pattern[0] == '*' ? Glob(pattern[1..], value) || (!value.IsEmpty && Glob(pattern, value[1..]))
            : !value.IsEmpty && (pattern[0] == '?' || pattern[0] == value[0]) && Glob(pattern[1..], value[1..]);
    }

    /// <summary>A generated proposal: an <c>exec</c> of a command with an argument line, or a file read or write.</summary>
    private sealed record ProposalSpec(string Kind, string? Command, string ArgsOrPath)
    {
        public Proposal For(string session)
        {
            var principal = new Principal(AgentName.Parse("coder"), AgentRole.Worker, session);
            return Kind switch
            {
                "exec" => Proposal.Exec(principal, GovernanceTestData.Workspace, Command!, ArgsOrPath.Split(' ', StringSplitOptions.RemoveEmptyEntries)),
                "read_file" => Proposal.ReadFile(principal, GovernanceTestData.Workspace, ArgsOrPath),
                _ => Proposal.WriteFile(principal, GovernanceTestData.Workspace, ArgsOrPath),
            };
        }

        public override string ToString() => Command is null ? $"{Kind} {ArgsOrPath}" : $"{Kind} {Command} {ArgsOrPath}".TrimEnd();
    }

    /// <summary>An evaluator with a fixed verdict; it passes the anchor's <c>deploy</c>, so the standing approval can be set up.</summary>
    private sealed class FixedEvaluator(string name, EvaluatorVerdictKind verdict) : IProposalEvaluator
    {
        public string Name => name;

        public ValueTask<EvaluatorVerdict> EvaluateAsync(Proposal proposal, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(proposal.Arguments.Command == "deploy" ? EvaluatorVerdict.Pass : verdict switch
            {
                EvaluatorVerdictKind.Deny => EvaluatorVerdict.Deny("fixed deny"),
                EvaluatorVerdictKind.Escalate => EvaluatorVerdict.Escalate("fixed escalate"),
                _ => EvaluatorVerdict.Pass,
            });
    }
}
