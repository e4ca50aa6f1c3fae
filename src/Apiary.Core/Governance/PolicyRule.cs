namespace Apiary.Governance;

/// <summary>
/// One compiled policy rule. Every match field that is set must hold (fields are AND-ed); within a field, one of
/// its patterns must match (patterns are OR-ed). A rule with no match fields matches every proposal.
/// </summary>
internal sealed record PolicyRule
{
    /// <summary>
    /// Bit <c>1 &lt;&lt; (int)kind</c> for each kind the rule matches; when not set, every kind an agent's tools
    /// propose (not the control-plane kinds, which a rule matches only by naming them).
    /// </summary>
    public const int AllKinds = (1 << ((int)ProposalKind.McpTool + 1)) - 1;

    public required string Name { get; init; }

    public int Priority { get; init; }

    /// <summary>The file the rule came from, for ordering ties and messages.</summary>
    public string File { get; init; } = "";

    /// <summary>The rule's position in its file.</summary>
    public int Index { get; init; }

    /// <summary>The 1-based line of the rule in <see cref="File"/>, for messages; 0 when not known.</summary>
    public int Line { get; init; }

    /// <summary>The 1-based column of the rule in <see cref="File"/>, for messages; 0 when not known.</summary>
    public int Column { get; init; }

    /// <summary>Where the rule is, as a compiler names it: <c>policies/default.yaml:12:5</c>.</summary>
    public string Location => Line > 0 ? $"{File}:{Line}:{Column}" : File;

    public RiskLevel Risk { get; init; }

    public PolicyTier Tier { get; init; }

    public string? Message { get; init; }

    public int KindMask { get; init; } = AllKinds;

    /// <summary>Bit 0 worker, bit 1 manager; both when not set.</summary>
    public int RoleMask { get; init; } = 3;

    public PatternSet? Agents { get; init; }

    public PatternSet? Commands { get; init; }

    public PatternSet? Args { get; init; }

    public PathPatterns? Paths { get; init; }

    public PatternSet? Recipients { get; init; }

    /// <summary>Environment variables: a pattern with <c>=</c> matches <c>NAME=VALUE</c>, one without matches the name.</summary>
    public PatternSet? Env { get; init; }

    /// <summary>The names of the secrets an <c>exec</c> is given.</summary>
    public PatternSet? Secrets { get; init; }

    /// <summary>An <c>exec</c>'s working folder, like <see cref="Paths"/>.</summary>
    public PathPatterns? Workdir { get; init; }

    /// <summary>The longest time limit this rule lets an <c>exec</c> ask for beyond its template's; null lets none.</summary>
    public TimeSpan? MaxTimeout { get; init; }

    public Condition? When { get; init; }

    public Condition? AutoApprove { get; init; }

    public Condition? Escalate { get; init; }

    public bool Matches(Proposal proposal, PolicyContext context) =>
        (KindMask & (1 << (int)proposal.Kind)) != 0 && MatchesPrincipal(proposal) && MatchesFields(proposal) && (When is null || When.Holds(proposal, context));

    /// <summary>The <c>role</c> and <c>agent</c> match fields.</summary>
    public bool MatchesPrincipal(Proposal proposal) =>
        (RoleMask & (1 << (int)proposal.Principal.Role)) != 0
        && (Agents is null || Agents.MatchesAny(proposal.Principal.Agent.Value));

    /// <summary>Every match field but <c>role</c> and <c>agent</c>; not <c>when</c>.</summary>
    public bool MatchesFields(Proposal proposal)
    {
        if ((KindMask & (1 << (int)proposal.Kind)) == 0)
        {
            return false;
        }

        // A resolved program is matched by its name and its absolute path, never by the command as given (which a
        // search path could have turned into another program); an unresolved one also by the command as given.
        var given = proposal.Arguments.Program ?? proposal.Arguments.Command;
        if (Commands is not null
            && (proposal.ProgramName is not { } program
                || !(Commands.MatchesAny(program) || (!ReferenceEquals(program, given) && Commands.MatchesAny(given!)))))
        {
            return false;
        }

        if (Args is not null && (proposal.Kind != ProposalKind.Exec || !Args.MatchesAny(proposal.ArgumentLine)))
        {
            return false;
        }

        if (Paths is not null && !Paths.Matches(proposal))
        {
            return false;
        }

        if (Recipients is not null && !EveryOrAny(Recipients, proposal.Arguments.Recipients, emptyMatches: false))
        {
            return false;
        }

        if (Env is not null && !EveryOrAny(Env, [.. proposal.Arguments.Env.Select(e => e.Key + "=" + e.Value)], emptyMatches: true, EnvPattern))
        {
            return false;
        }

        if (Secrets is not null && !EveryOrAny(Secrets, proposal.Arguments.Secrets, emptyMatches: true))
        {
            return false;
        }

        return Workdir is null || (proposal.Kind == ProposalKind.Exec && Workdir.MatchesWorkdir(proposal));
    }

    /// <summary>True when this rule names <paramref name="name"/> in its <see cref="Env"/> field: it allows setting it.</summary>
    public bool NamesEnv(string name, string value) => Env is not null && (Env.MatchesAny(name) || Env.MatchesAny(name + "=" + value));

    // An allow rule grants only when every item (recipient, variable, secret) is one it names; any other tier restricts,
    // so one is enough. A list that is empty matches only where nothing listed is also nothing to restrict (env, secrets).
    private bool EveryOrAny(PatternSet patterns, IReadOnlyList<string> items, bool emptyMatches, Func<PatternSet, string, bool>? match = null)
    {
        if (items.Count == 0)
        {
            return emptyMatches && Tier == PolicyTier.Allow;
        }

        match ??= static (set, item) => set.MatchesAny(item);
        var every = Tier == PolicyTier.Allow;
        for (var i = 0; i < items.Count; i++)
        {
            var matched = match(patterns, items[i]);
            if (matched != every)
            {
                return matched;
            }
        }

        return every;
    }

    // "NAME=VALUE" against a pattern set: a pattern naming just the variable matches it whatever its value.
    private static bool EnvPattern(PatternSet patterns, string entry) =>
        patterns.MatchesAny(entry) || patterns.MatchesAny(entry[..entry.IndexOf('=', StringComparison.Ordinal)]);
}
