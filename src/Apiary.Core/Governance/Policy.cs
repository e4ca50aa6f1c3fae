namespace Apiary.Governance;

/// <summary>
/// A compiled, ordered set of policy rules, ready for <see cref="PolicyEngine"/>. Rules are tried by priority, highest
/// first; rules of equal priority keep the order of their files (ordinal by file name) and then their order within
/// the file. Load one with <see cref="PolicyLoader"/>.
/// </summary>
public sealed class Policy
{
    /// <summary>The name of the built-in rule that denies a proposal no rule matches.</summary>
    public const string DefaultDenyRule = "default-deny";

    /// <summary>
    /// The name of the built-in rule that allows a control-plane proposal (a model call; starting, stopping,
    /// restarting or updating an agent) no rule names: those are governed (kill switch, evaluators, budget) and
    /// recorded like every proposal, and a rule naming their kind decides them instead.
    /// </summary>
    public const string ControlPlaneRule = "control-plane";

    private Policy(PolicyRule[] rules, string? version)
    {
        Rules = rules;
        Version = version;
    }

    /// <summary>A policy with no rules: everything is denied by <see cref="DefaultDenyRule"/>.</summary>
    public static Policy Empty { get; } = new([], null);

    /// <summary>
    /// The version of the files it was loaded from (<see cref="PolicyLoader.VersionOf"/>: the SHA-256 over their names and
    /// contents), which every decision it makes records; null for <see cref="Empty"/>.
    /// </summary>
    public string? Version { get; }

    /// <summary>How many rules the policy has, not counting <see cref="DefaultDenyRule"/>.</summary>
    public int Count => Rules.Length;

    /// <summary>The rule names in the order they are tried.</summary>
    public IReadOnlyList<string> RuleNames => Array.ConvertAll(Rules, r => r.Name);

    internal PolicyRule[] Rules { get; }

    internal static Policy Create(IEnumerable<PolicyRule> rules, string? version)
    {
        var ordered = rules.ToArray();

        // A stable sort on (priority descending, file, position): ties never depend on how the files were listed.
        Array.Sort(ordered, static (a, b) =>
            a.Priority != b.Priority ? b.Priority.CompareTo(a.Priority)
            : string.CompareOrdinal(a.File, b.File) is var byFile and not 0 ? byFile
            : a.Index.CompareTo(b.Index));
        return new Policy(ordered, version);
    }
}
