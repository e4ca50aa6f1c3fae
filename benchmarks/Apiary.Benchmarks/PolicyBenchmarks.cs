using System.Globalization;
using System.Text;
using Apiary.Agents;
using Apiary.Governance;
using BenchmarkDotNet.Attributes;

namespace Apiary.Benchmarks;

/// <summary>
/// One synchronous policy decision against 100 rules, where only the 99th rule (by priority) matches: every earlier
/// rule is tried and rejected, with a mix of literal, glob and regex command patterns, argument patterns and path globs.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class PolicyBenchmarks
{
    private PolicyEngine _engine = null!;
    private Proposal _proposal = null!;
    private PolicyContext _context = null!;

    [GlobalSetup]
    public void Setup()
    {
        var yaml = new StringBuilder("rules:\n");
        for (var i = 0; i < 100; i++)
        {
            // Rules 0-97 are near misses of the proposal; 98 matches it; 99 is a catch-all below it.
            var match = (i % 5) switch
            {
                _ when i == 98 => "{ kind: exec, command: git, args: 're:(^| )push( |$)' }",
                _ when i == 99 => "{}",
                0 => $"{{ kind: exec, command: tool{i} }}",
                1 => $"{{ kind: exec, command: 'gi?{i}*' }}",
                2 => $"{{ kind: exec, command: 're:^git{i}$' }}",
                3 => $"{{ kind: exec, command: git, args: 'status{i}*' }}",
                _ => $"{{ kind: [exec, read_file], path: 'src{i}/**' }}",
            };
            yaml.Append(CultureInfo.InvariantCulture, $"  - name: rule-{i}\n    priority: {1000 - i}\n    match: {match}\n    risk: low\n    tier: {(i == 98 ? "approve" : "deny")}\n    message: rule {i}\n");
        }

        var result = PolicyLoader.Parse("bench.yaml", yaml.ToString());
        if (!result.Succeeded)
        {
            throw new InvalidOperationException(string.Join("\n", result.Diagnostics));
        }

        _engine = new PolicyEngine(result.Policy!);
        var principal = new Principal(AgentName.Parse("coder"), AgentRole.Worker, "s-1");
        _proposal = Proposal.Exec(principal, "/home/op/agents/coder/workspace", "git", "push", "origin", "main");
        _context = new PolicyContext(DateTimeOffset.UnixEpoch, 0);
        var check = _engine.Decide(_proposal, _context);
        if (check.Rule != "rule-98")
        {
            throw new InvalidOperationException($"the benchmark proposal should match rule-98, not {check.Rule}");
        }
    }

    [Benchmark]
    public Decision Decide100RulesMatchNearEnd() => _engine.Decide(_proposal, _context);
}
