namespace Apiary.Governance;

/// <summary>
/// One compiled policy rule. Every match field that is set must hold (fields are AND-ed); within a field, one of
/// its patterns must match (patterns are OR-ed). A rule with no match fields matches every proposal.
/// </summary>
internal sealed class PolicyRule
{
    /// <summary>Bit <c>1 &lt;&lt; (int)kind</c> for each kind the rule matches; every kind when not set.</summary>
    public const int AllKinds = (1 << 8) - 1;

    public required string Name { get; init; }

    public int Priority { get; init; }

    /// <summary>The file the rule came from, for ordering ties and messages.</summary>
    public string File { get; init; } = "";

    /// <summary>The rule's position in its file.</summary>
    public int Index { get; init; }

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

    public Condition? When { get; init; }

    public Condition? AutoApprove { get; init; }

    public Condition? Escalate { get; init; }

    public bool Matches(Proposal proposal, PolicyContext context)
    {
        if ((KindMask & (1 << (int)proposal.Kind)) == 0 || (RoleMask & (1 << (int)proposal.Principal.Role)) == 0)
        {
            return false;
        }

        if (Agents is not null && !Agents.MatchesAny(proposal.Principal.Agent.Value))
        {
            return false;
        }

        if (Commands is not null
            && (proposal.ProgramName is not { } program
                || !(Commands.MatchesAny(program) || (!ReferenceEquals(program, proposal.Arguments.Command) && Commands.MatchesAny(proposal.Arguments.Command!)))))
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

        if (Recipients is not null && !RecipientsMatch(proposal.Arguments.Recipients))
        {
            return false;
        }

        return When is null || When.Holds(proposal, context);
    }

    // An allow rule grants only when every recipient is one it names; any other tier restricts, so one is enough.
    private bool RecipientsMatch(IReadOnlyList<string> recipients)
    {
        if (recipients.Count == 0)
        {
            return false;
        }

        var every = Tier == PolicyTier.Allow;
        for (var i = 0; i < recipients.Count; i++)
        {
            var match = Recipients!.MatchesAny(recipients[i]);
            if (match != every)
            {
                return match;
            }
        }

        return every;
    }
}
