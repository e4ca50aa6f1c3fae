using System.Globalization;

namespace Apiary.Governance;

/// <summary>
/// A compiled condition tree: <c>all</c>, <c>any</c>, <c>not</c> and leaf predicates over the proposal and its
/// <see cref="PolicyContext"/>. Built once when policies load; evaluating one allocates nothing.
/// </summary>
internal abstract class Condition(string text)
{
    /// <summary>The deepest a condition tree may nest; deeper trees are a load error.</summary>
    public const int MaxDepth = 8;

    /// <summary>The condition as text, for explanations.</summary>
    public string Text { get; } = text;

    public abstract bool Holds(Proposal proposal, PolicyContext context);

    /// <summary>
    /// Whether the condition holds for <paramref name="proposal"/> in every context (true), in none (false), or
    /// depending on the time or the session (null). For the lint, which asks what a rule does with a proposal.
    /// </summary>
    public virtual bool? HoldsForProposal(Proposal proposal) => Holds(proposal, AnyContext);

    public override string ToString() => Text;

    // The leaves that read the context override HoldsForProposal, so this context is never what decides.
    private static readonly PolicyContext AnyContext = new(DateTimeOffset.UnixEpoch, 0);
}

internal sealed class AllCondition(Condition[] children)
    : Condition("all(" + string.Join(", ", children.Select(c => c.Text)) + ")")
{
    public override bool Holds(Proposal proposal, PolicyContext context)
    {
        foreach (var child in children)
        {
            if (!child.Holds(proposal, context))
            {
                return false;
            }
        }

        return true;
    }

    public override bool? HoldsForProposal(Proposal proposal)
    {
        bool? result = true;
        foreach (var child in children)
        {
            switch (child.HoldsForProposal(proposal))
            {
                case false:
                    return false;
                case null:
                    result = null;
                    break;
            }
        }

        return result;
    }
}

internal sealed class AnyCondition(Condition[] children)
    : Condition("any(" + string.Join(", ", children.Select(c => c.Text)) + ")")
{
    public override bool Holds(Proposal proposal, PolicyContext context)
    {
        foreach (var child in children)
        {
            if (child.Holds(proposal, context))
            {
                return true;
            }
        }

        return false;
    }

    public override bool? HoldsForProposal(Proposal proposal)
    {
        bool? result = false;
        foreach (var child in children)
        {
            switch (child.HoldsForProposal(proposal))
            {
                case true:
                    return true;
                case null:
                    result = null;
                    break;
            }
        }

        return result;
    }
}

internal sealed class NotCondition(Condition child) : Condition("not(" + child.Text + ")")
{
    public override bool Holds(Proposal proposal, PolicyContext context) => !child.Holds(proposal, context);

    public override bool? HoldsForProposal(Proposal proposal) => !child.HoldsForProposal(proposal);
}

/// <summary><c>hours: "09:00-18:00"</c>: from inclusive, to exclusive; a range past midnight (<c>22:00-06:00</c>) wraps.</summary>
internal sealed class HoursCondition(int fromMinute, int toMinute)
    : Condition(string.Create(CultureInfo.InvariantCulture, $"hours {fromMinute / 60:00}:{fromMinute % 60:00}-{toMinute / 60:00}:{toMinute % 60:00}"))
{
    public override bool Holds(Proposal proposal, PolicyContext context)
    {
        var minute = (context.Now.Hour * 60) + context.Now.Minute;
        return fromMinute <= toMinute
            ? minute >= fromMinute && minute < toMinute
            : minute >= fromMinute || minute < toMinute;
    }

    public override bool? HoldsForProposal(Proposal proposal) => null;
}

/// <summary><c>weekdays: [mon, tue]</c>.</summary>
internal sealed class WeekdaysCondition(int mask, string text) : Condition("weekdays " + text)
{
    public override bool Holds(Proposal proposal, PolicyContext context) => (mask & (1 << (int)context.Now.DayOfWeek)) != 0;

    public override bool? HoldsForProposal(Proposal proposal) => null;
}

/// <summary>A whole-number range, both ends inclusive and optional.</summary>
internal abstract class RangeCondition(string name, long? min, long? max)
    : Condition(string.Create(CultureInfo.InvariantCulture, $"{name} in [{min?.ToString(CultureInfo.InvariantCulture) ?? ""}..{max?.ToString(CultureInfo.InvariantCulture) ?? ""}]"))
{
    protected bool InRange(long value) => (min is null || value >= min) && (max is null || value <= max);
}

/// <summary><c>session_count: { min: 0, max: 50 }</c>: proposals the session made before this one.</summary>
internal sealed class SessionCountCondition(long? min, long? max) : RangeCondition("session_count", min, max)
{
    public override bool Holds(Proposal proposal, PolicyContext context) => InRange(context.SessionProposalCount);

    public override bool? HoldsForProposal(Proposal proposal) => null;
}

/// <summary><c>arg_count: { max: 3 }</c>: how many arguments an <c>exec</c> has.</summary>
internal sealed class ArgCountCondition(long? min, long? max) : RangeCondition("arg_count", min, max)
{
    public override bool Holds(Proposal proposal, PolicyContext context) => InRange(proposal.Arguments.Args.Count);
}

/// <summary><c>arg: [--dry-run, -n]</c>: some single argument matches some pattern.</summary>
internal sealed class ArgCondition(PatternSet patterns) : Condition("arg " + patterns)
{
    public override bool Holds(Proposal proposal, PolicyContext context)
    {
        var args = proposal.Arguments.Args;
        for (var i = 0; i < args.Count; i++)
        {
            if (patterns.MatchesAny(args[i]))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary><c>args: "status*"</c>: the argument line matches some pattern, as in a rule's <c>match.args</c>.</summary>
internal sealed class ArgLineCondition(PatternSet patterns) : Condition("args " + patterns)
{
    public override bool Holds(Proposal proposal, PolicyContext context) => patterns.MatchesAny(proposal.ArgumentLine);
}

/// <summary><c>path: ["src/**"]</c>: the proposal's path matches, as in a rule's <c>match.path</c>.</summary>
internal sealed class PathCondition(PathPatterns patterns) : Condition("path " + patterns)
{
    public override bool Holds(Proposal proposal, PolicyContext context) => patterns.Matches(proposal);
}

/// <summary>
/// Path patterns split by how they resolve: relative ones against the workspace (a path outside it never matches
/// them), absolute ones against the normalized absolute path.
/// </summary>
internal sealed class PathPatterns(PatternSet? relative, PatternSet? absolute)
{
    public bool Matches(Proposal proposal) =>
        proposal.FullPath is { } full
        && ((relative is not null && proposal.WorkspacePath is { } inside && relative.MatchesAny(inside))
            || (absolute is not null && absolute.MatchesAny(full)));

    /// <summary>Whether an <c>exec</c>'s working folder matches: <c>""</c> is the workspace itself.</summary>
    public bool MatchesWorkdir(Proposal proposal) =>
        proposal.WorkdirPath is { } inside
        && ((relative is not null && relative.MatchesAny(inside))
            || (absolute is not null && absolute.MatchesAny(inside.Length == 0 ? proposal.Workspace : proposal.Workspace + "/" + inside)));

    /// <summary>True when every path <paramref name="other"/> matches, these match too (false when unsure).</summary>
    public bool Covers(PathPatterns other) =>
        (other.Relative is null || (relative is not null && relative.Covers(other.Relative)))
        && (other.Absolute is null || (absolute is not null && absolute.Covers(other.Absolute)));

    private PatternSet? Relative => relative;

    private PatternSet? Absolute => absolute;

    public override string ToString() => string.Join(", ", new[] { relative?.ToString(), absolute?.ToString() }.Where(s => s is not null));
}
