using Apiary.Agents;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;
using Apiary.Governance.Pipeline;
using Apiary.Storage.Sqlite;
using BenchmarkDotNet.Attributes;

namespace Apiary.Benchmarks;

/// <summary>
/// A full governed no-op proposal: every stage (kill switch, policy with the sample home's rules, evaluators, budget
/// reservation), its decision durably recorded in a real SQLite store before Allow, then completion settled and
/// recorded. No sandbox runs.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class GovernedProposalBenchmarks
{
    private string _folder = null!;
    private SqliteEventStore _store = null!;
    private GovernancePipeline _pipeline = null!;
    private Principal _principal = null!;
    private readonly BudgetEstimate _estimate = new(1, TimeSpan.FromSeconds(1), 0, 0m);
    private readonly ProposalOutcome _outcome = new(0, "exited", TimeSpan.FromMilliseconds(1));

    [GlobalSetup]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("apiary-bench-gov-").FullName;
        _store = SqliteEventStore.OpenAsync(Path.Combine(_folder, "events.db")).GetAwaiter().GetResult();
        var policies = Path.Combine(_folder, "policies");
        Directory.CreateDirectory(policies);
        File.WriteAllText(Path.Combine(policies, "default.yaml"), SamplePolicy);
        var loaded = PolicyLoader.LoadDirectory(policies);
        if (!loaded.Succeeded)
        {
            throw new InvalidOperationException(string.Join("\n", loaded.Diagnostics));
        }

        _pipeline = new GovernancePipeline(_store, new PolicyEngine(loaded.Policy!), new BudgetLedger(), new LockTable(), new KillSwitch());
        _principal = new Principal(AgentName.Parse("coder"), AgentRole.Worker, "bench-session");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_folder, recursive: true);
    }

    [Benchmark(Description = "governed no-op proposal: submit + complete, recorded")]
    public async Task<bool> SubmitAndComplete()
    {
        var result = await _pipeline.SubmitAsync(Proposal.Exec(_principal, _folder, "echo", "hi"), _estimate);
        if (result.Allowed is not { } allowed)
        {
            throw new InvalidOperationException($"expected an allow, got {result.Decision.Kind}: {result.Decision.Reason}");
        }

        await _pipeline.CompleteAsync(allowed, _outcome, BudgetAmounts.Zero);
        return true;
    }

    private const string SamplePolicy = """
        rules:
          - name: allow-inspection
            priority: 100
            match: { kind: exec, command: [ls, cat, echo, head, tail] }
            risk: low
            tier: allow
        """;
}
