using Apiary.Agents;
using Apiary.Configuration;

namespace Apiary.Governance;

/// <summary>What a <see cref="PolicyLintFinding"/> is about.</summary>
public enum PolicyLintKind
{
    /// <summary>A rule tried earlier, with no <c>when</c>, matches everything this rule matches: this one never decides.</summary>
    Shadowed,

    /// <summary>No proposal can reach the rule: a catch-all comes first, or its fields cannot hold for the kinds it names.</summary>
    Unreachable,

    /// <summary>An <c>allow</c> rule lets through a program that runs code chosen by its arguments, input or files.</summary>
    ArbitraryCode,
}

/// <summary>One lint finding about a loaded policy: a warning at the rule's file, line and column.</summary>
/// <param name="Kind">What it is about.</param>
/// <param name="Rule">The rule it is about.</param>
/// <param name="Diagnostic">The warning, naming the file, line and column of the rule.</param>
public sealed record PolicyLintFinding(PolicyLintKind Kind, string Rule, Diagnostic Diagnostic)
{
    /// <summary>The kind as <c>apiary policy check --json</c> names it: <c>shadowed</c>, <c>unreachable</c>, <c>arbitrary-code</c>.</summary>
    public string Code => Kind switch
    {
        PolicyLintKind.Shadowed => "shadowed",
        PolicyLintKind.Unreachable => "unreachable",
        _ => "arbitrary-code",
    };

    /// <inheritdoc/>
    public override string ToString() => Diagnostic.ToString();
}

/// <summary>
/// Warnings about a policy that loads but does not do what it seems to: rules that never decide (shadowed by an earlier
/// rule, or unreachable) and <c>allow</c> rules that let through programs able to run arbitrary code
/// (<see cref="ArbitraryCodePrograms"/>). Pure; the CLI's <c>apiary policy check</c> and <c>apiary up</c> use it, and a
/// server can too. A finding is a warning, never an error: the policy still governs as written.
/// </summary>
public static class PolicyLint
{
    /// <summary>
    /// Programs that run code chosen by their arguments, their standard input or files (shells, interpreters,
    /// launchers that run another program, and tools with a way to run commands), with the arguments the lint tries on
    /// each (when none are listed, the common ones: none, <c>id</c>, <c>-c id</c>, <c>-e id</c>, <c>script</c>, <c>10 id</c>). An <c>allow</c>
    /// rule that allows one of them with any of these arguments (its <c>escalate</c> not catching them) is a finding.
    /// </summary>
    public static IReadOnlyDictionary<string, string[][]> ArbitraryCodePrograms { get; } = BuildPrograms();

    // Tried on a program of the list that names no arguments of its own: what shells, interpreters and launchers take to run code.
    private static readonly string[][] CommonProbes = [[], ["id"], ["-c", "id"], ["-e", "id"], ["script"], ["10", "id"]];

    private const string ProbeWorkspace = "/lint/workspace";

    /// <summary>The findings about <paramref name="policy"/>, in the order its rules are tried.</summary>
    public static IReadOnlyList<PolicyLintFinding> Check(Policy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var rules = policy.Rules;
        var findings = new List<PolicyLintFinding>();
        for (var j = 0; j < rules.Length; j++)
        {
            var rule = rules[j];
            if (Unreachable(rule) is { } why)
            {
                findings.Add(Finding(PolicyLintKind.Unreachable, rule, $"rule '{rule.Name}' can never match: {why}"));
            }
            else if (Array.Find(rules[..j], earlier => earlier.When is null && Covers(earlier, rule)) is { } shadow)
            {
                findings.Add(IsCatchAll(shadow)
                    ? Finding(PolicyLintKind.Unreachable, rule,
                        $"rule '{rule.Name}' is never reached: the catch-all rule '{shadow.Name}' ({shadow.Location}), tried before it, decides every proposal it could match; give it a higher priority or remove it")
                    : Finding(PolicyLintKind.Shadowed, rule,
                        $"rule '{rule.Name}' never decides: rule '{shadow.Name}' ({shadow.Location}) is tried before it (priority {shadow.Priority}, then file and order) and matches everything it matches; give it a higher priority, narrow '{shadow.Name}', or remove it"));
            }

            if (rule.Tier == PolicyTier.Allow && ArbitraryCode(rule) is { } programs)
            {
                findings.Add(Finding(PolicyLintKind.ArbitraryCode, rule, programs));
            }
        }

        return findings;
    }

    private static PolicyLintFinding Finding(PolicyLintKind kind, PolicyRule rule, string message) =>
        new(kind, rule.Name, Diagnostic.Warn(message, rule.File, rule.Line > 0 ? rule.Line : null, rule.Column > 0 ? rule.Column : null));

    private const int ManagerOnlyKinds =
        (1 << (int)ProposalKind.SpawnAgent) | (1 << (int)ProposalKind.StartAgent) | (1 << (int)ProposalKind.StopAgent)
        | (1 << (int)ProposalKind.RestartAgent) | (1 << (int)ProposalKind.UpdateAgent);

    private static string? Unreachable(PolicyRule rule)
    {
        var exec = 1 << (int)ProposalKind.Exec;
        var kinds = $"its kinds ({KindNames(rule.KindMask)})";
        if ((rule.KindMask & exec) == 0)
        {
            var execOnly = new[] { ("command", rule.Commands is not null), ("args", rule.Args is not null), ("workdir", rule.Workdir is not null) }
                .Where(f => f.Item2).Select(f => f.Item1).ToList();
            if (execOnly.Count > 0)
            {
                return $"match.{execOnly[0]} holds only for an exec, and {kinds} do not include exec";
            }
        }

        if (rule.Recipients is not null && (rule.KindMask & (1 << (int)ProposalKind.SendMessage)) == 0)
        {
            return $"match.recipients holds only for a send_message, and {kinds} do not include send_message";
        }

        if (rule.RoleMask == 1 << (int)AgentRole.Worker && (rule.KindMask & ~ManagerOnlyKinds) == 0)
        {
            return $"{kinds} are a manager's actions, and the built-in rule '{PolicyEngine.ManagerRoleRule}' denies them to a worker before any rule is tried";
        }

        return null;
    }

    private static bool IsCatchAll(PolicyRule rule) =>
        rule.When is null && rule.KindMask == PolicyRule.AllKinds && rule.RoleMask == 3 && rule.Agents is null && rule.Commands is null
        && rule.Args is null && rule.Paths is null && rule.Recipients is null && rule.Env is null && rule.Secrets is null && rule.Workdir is null;

    /// <summary>
    /// True when <paramref name="earlier"/> matches every proposal <paramref name="later"/> matches (false when unsure).
    /// The caller checks that <paramref name="earlier"/> has no <c>when</c>, so it decides every proposal it matches.
    /// </summary>
    private static bool Covers(PolicyRule earlier, PolicyRule later)
    {
        var a = earlier;
        var b = later;
        if ((b.KindMask & ~a.KindMask) != 0 || (b.RoleMask & ~a.RoleMask) != 0)
        {
            return false;
        }

        // recipients, env and secrets: an allow rule needs every item to match (and env and secrets match when there
        // are none), any other tier one; an allow rule covers another allow rule, a restricting one covers either
        // for recipients (every recipient matching means one does), and only its own kind for env and secrets.
        var aAllows = a.Tier == PolicyTier.Allow;
        var bAllows = b.Tier == PolicyTier.Allow;
        return Covers(a.Agents, b.Agents)
            && Covers(a.Commands, b.Commands)
            && Covers(a.Args, b.Args)
            && Covers(a.Paths, b.Paths)
            && Covers(a.Workdir, b.Workdir)
            && (a.Recipients is null || (Covers(a.Recipients, b.Recipients) && !(aAllows && !bAllows)))
            && (a.Env is null || (Covers(a.Env, b.Env) && aAllows == bAllows))
            && (a.Secrets is null || (Covers(a.Secrets, b.Secrets) && aAllows == bAllows));
    }

    private static bool Covers(PatternSet? a, PatternSet? b) => a is null || (b is not null && a.Covers(b));

    private static bool Covers(PathPatterns? a, PathPatterns? b) => a is null || (b is not null && a.Covers(b));

    /// <summary>What an allow rule lets through that runs arbitrary code, as a message; null when nothing.</summary>
    private static string? ArbitraryCode(PolicyRule rule)
    {
        if ((rule.KindMask & (1 << (int)ProposalKind.Exec)) == 0)
        {
            return null;
        }

        // A program of the agent's own, in its workspace: only a rule with no command, or one such as '*', allows it.
        if (Allows(rule, Probe(ProbeWorkspace + "/any-program", [])))
        {
            return $"rule '{rule.Name}' allows any program ({(rule.Commands is null ? "it has no match.command" : $"match.command {rule.Commands}")}), shells, interpreters and the agent's own scripts among them; name the programs it allows";
        }

        var allowed = new List<string>();
        foreach (var (program, probes) in ArbitraryCodePrograms)
        {
            foreach (var args in probes.Length > 0 ? probes : CommonProbes)
            {
                if (Allows(rule, Probe("/usr/bin/" + program, args)))
                {
                    allowed.Add(args.Length == 0 ? program : $"{program} {string.Join(' ', args)}");
                    break;
                }
            }
        }

        return allowed.Count == 0 ? null
            : $"allow rule '{rule.Name}' allows {(allowed.Count == 1 ? "a program" : "programs")} that can run arbitrary code: {string.Join(", ", allowed)}; " +
              "require approval (tier: approve), escalate those arguments, or remove the program (see docs/governance.md, 'apiary policy check')";
    }

    // Whether the rule, for some agent and role it names, allows the probe: its fields match, its 'when' can hold and
    // its 'escalate' need not.
    private static bool Allows(PolicyRule rule, Proposal probe)
    {
        try
        {
            return rule.MatchesFields(probe)
                && rule.When?.HoldsForProposal(probe) != false
                && rule.Escalate?.HoldsForProposal(probe) != true;
        }
        catch (System.Text.RegularExpressions.RegexMatchTimeoutException)
        {
            return false;
        }
    }

    private static Proposal Probe(string program, string[] args) =>
        Proposal.Create(
            new Principal(AgentName.Parse("lint"), AgentRole.Worker, "lint"),
            ProposalKind.Exec,
            ProbeWorkspace,
            new ProposalArguments { Command = program, Program = program, Args = args });

    private static string KindNames(int mask) =>
        string.Join(", ", Enum.GetValues<ProposalKind>().Where(k => (mask & (1 << (int)k)) != 0).Select(k => k.Name()));

    private static Dictionary<string, string[][]> BuildPrograms()
    {
        string[][] none = [];
        var programs = new Dictionary<string, string[][]>(StringComparer.Ordinal);
        void Add(string[][] probes, params string[] names)
        {
            foreach (var name in names)
            {
                programs[name] = probes;
            }
        }

        // Shells: -c runs its argument, a file argument is a script, no argument reads commands from standard input.
        Add(none, "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "busybox", "pwsh");

        // Interpreters: -c or -e runs code, a file is a script, standard input is a program.
        Add(none, "python", "python2", "python3", "pypy", "pypy3", "perl", "ruby", "irb", "node", "nodejs", "deno", "bun",
            "php", "lua", "luajit", "tclsh", "wish", "Rscript", "R", "java", "jshell", "groovy", "scala", "dotnet", "expect", "gdb");

        // Launchers: their arguments are another program and its arguments.
        Add(none, "env", "xargs", "nice", "ionice", "timeout", "nohup", "stdbuf", "setsid", "chroot", "unshare", "nsenter",
            "taskset", "chrt", "flock", "time", "watch", "strace", "ltrace", "parallel", "script", "runuser", "sudo", "su", "doas", "ssh");

        // Tools with a way to run commands.
        Add([[".", "-exec", "id", ";"], [".", "-execdir", "id", ";"], [".", "-ok", "id", ";"], [".", "-okdir", "id", ";"]], "find");
        Add([["BEGIN { system(\"id\") }"]], "awk", "gawk", "mawk", "nawk");
        Add([["1e id", "file"], ["-n", "1e id", "file"]], "sed");
        Add([["status"], ["-c", "core.pager=id", "log"], ["commit", "-m", "x"]], "git");
        Add([[], ["all"]], "make", "gmake");
        Add([["-P", "script.cmake"]], "cmake");
        Add([["-xf", "a.tar", "--to-command=id"], ["-cf", "a.tar", "--checkpoint=1", "--checkpoint-action=exec=id", "."]], "tar");
        Add([["-e", "id", "a", "b"]], "rsync");
        Add([["-c", "!id"], ["file"]], "vi", "vim", "nvim", "ex", "ed", "emacs");
        Add([["file"]], "less", "more", "man");
        return programs;
    }
}
